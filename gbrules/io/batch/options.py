"""What a caller asks of a batch (``BatchOptions``) and how it is settled against a manifest.

An option left as None was not given: a fresh run takes its default, a resumed run takes the
value the run being resumed recorded. An option given to a resumed run must equal the recorded
one when it shapes the output (``RunSettings``), else the resume is refused naming it; options
that only say how to run (workers, chunk size, Dask) may change freely.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from gbrules.io.batch.manifest import Execution, Manifest
from gbrules.io.batch.records import BatchUsageError, Format

DEFAULT_CHUNK = 500
DEFAULT_ROW_GROUP = 10_000
DEFAULT_CHECKPOINT = 1.0  # seconds between commits (and at the end, and on Ctrl-C)

# The command-line spelling of each RunSettings field, to name it in a refusal.
FLAGS = {
    "summary": "--summary/--full",
    "in_format": "--in-format",
    "out_format": "--out-format",
    "rejects": "--rejects",
    "column": "--column",
    "row_group_size": "--row-group-size",
    "rules": "--rules",
    "site": "--site",
    "as_of": "--as-of",
}

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class BatchOptions:
    """One batch run: ``source`` into ``out`` (plus the rejects file), as the CLI builds it.

    Formats (``ndjson``/``parquet``) default to the file names' (``.parquet``), ``rejects``
    to ``OUT.rejects``, ``column`` to ``intake`` when the Parquet input has it (else nested
    columns), ``summary`` to False (the full Evaluation). ``checkpoint_seconds`` is how often
    progress is committed (0: after every chunk); ``progress=None`` shows a bar only when
    stderr is a terminal.
    """

    source: Path
    out: Path
    # What the output is (recorded in the manifest):
    summary: bool | None = None
    rejects: Path | None = None
    in_format: Format | None = None
    out_format: Format | None = None
    column: str | None = None
    row_group_size: int | None = None
    rules: Path | None = None
    site: Path | None = None  # the site configuration (site.yaml)
    as_of: str | None = None  # ISO day: dated values older than their window are stale
    # How to run (never changes a byte of the output):
    workers: int | None = None
    chunk_size: int | None = None
    dask: str | None = None
    resume: bool = False
    checkpoint_seconds: float = DEFAULT_CHECKPOINT
    progress: bool | None = None

    def __post_init__(self) -> None:
        for name in ("workers", "chunk_size", "row_group_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.checkpoint_seconds < 0:
            raise ValueError("checkpoint_seconds must not be negative")


def format_of(path: Path) -> Format:
    """The format a path implies: a directory is a FHIR Bulk Data export (``fhir-ndjson``),
    ``*.parquet`` is ``parquet``, anything else ``ndjson``."""
    if path.is_dir():
        return Format.fhir_ndjson
    return Format.parquet if path.suffix.lower() == ".parquet" else Format.ndjson


def _show(name: str, value: object) -> str:
    if name == "summary":
        return "--summary" if value else "--full"
    if value is None:
        return f"no {FLAGS[name]}"
    return f"{FLAGS[name]} {value}"


def relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` (how the manifest records the rejects file)."""
    return os.path.relpath(path.resolve(), base.resolve())


class Settler:
    """Settles each option against the run being resumed (``earlier``), else its default."""

    def __init__(self, earlier: Manifest | None, manifest_dir: Path) -> None:
        self.earlier = earlier
        self.base = manifest_dir

    def pick(self, name: str, given: T | None, default: T, shown: object = None) -> T:
        """``given``, else ``default``, on a fresh run; the recorded value on resume.

        ``given`` is in the form the manifest records (``shown`` is how the user wrote it); a
        given value that differs from the recorded one refuses the resume, naming the option.
        """
        if self.earlier is None:
            return default if given is None else given
        recorded: T = getattr(self.earlier.settings, name)
        if given is not None and given != recorded:
            raise BatchUsageError(
                f"cannot resume: {_show(name, given if shown is None else shown)} differs from "
                f"the run being resumed, which used {_show(name, recorded)}; leave the option "
                "out to reuse the run's own, or start again without --resume"
            )
        return recorded

    def rejects(self, given: Path | None, out: Path) -> str:
        """The rejects file (relative to the manifest): by default ``OUT.rejects``."""
        default = relative(out.with_name(out.name + ".rejects"), self.base)
        mine = None if given is None else relative(given, self.base)
        return self.pick("rejects", mine, default, shown=given)

    def rules(self, given: Path | None) -> str | None:
        """The site pack directory, absolute (a resume may run from another directory)."""
        mine = None if given is None else str(given.resolve())
        return self.pick("rules", mine, None, shown=given)

    def site(self, given: Path | None) -> str | None:
        """The site file, absolute (as ``rules``)."""
        mine = None if given is None else str(given.resolve())
        return self.pick("site", mine, None, shown=given)

    def execution(self, options: BatchOptions) -> Execution:
        """Workers, chunk size and Dask address: as given, else as recorded, else defaults."""
        before = self.earlier.execution if self.earlier is not None else None
        if before is None:
            before = Execution(workers=1, chunk_size=DEFAULT_CHUNK, dask=None)
        # Naming workers or a cluster on resume answers where to run: no recorded cluster then.
        placed = options.workers is not None or options.dask is not None
        return Execution(
            workers=before.workers if options.workers is None else options.workers,
            chunk_size=before.chunk_size if options.chunk_size is None else options.chunk_size,
            dask=options.dask if placed else before.dask,
        )
