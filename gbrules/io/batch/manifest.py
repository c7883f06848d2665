"""The batch manifest: what a run read, how it writes, and how far it durably got.

A run keeps ``OUT.manifest.json`` beside its output. It is the single source of truth for
``--resume``: the input's size and SHA-256 (so a changed input is refused), the settings that
shape the output (summary or full, formats, rejects path, Parquet column and row-group size,
site pack), the rulebook and gbrules versions, and the progress that is durable: lines done,
where the input stands, and how many records and bytes of OUT and of the rejects file (or which
Parquet part files) belong to those lines. Anything in OUT or the rejects file past the recorded
point was written after the last commit and is cut off on resume, so the two files always hold
exactly one outcome for each of the first ``lines_done`` input lines.

The manifest is rewritten with ``files.atomic_write`` after OUT, the rejects file and any part
file have been fsynced, so after a crash it never claims more than is on disk. It is JSON
(pydantic models), meant to be readable by people too.
"""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from gbrules.io.batch.records import BatchUsageError, Format
from gbrules.io.files import atomic_write

MANIFEST_SUFFIX = ".manifest.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputFingerprint(_Frozen):
    """The input as the run read it: a resumed run must read the very same bytes."""

    path: str  # absolute, for people; identity is size and hash (a moved input may resume)
    size: int
    sha256: str


class RunSettings(_Frozen):
    """Every setting that changes a byte of the output (or where it goes).

    A resumed run takes these from the manifest; an option given again must match.
    """

    summary: bool
    in_format: Format
    out_format: Format
    rejects: str  # relative to the manifest's directory, so the pair can be moved together
    column: str | None  # Parquet input: the JSON text column; None for nested columns
    row_group_size: int  # Parquet output: rows per row group
    rules: str | None  # the site pack directory (absolute), or None
    site: str | None = None  # the site configuration file (absolute), or None
    as_of: str | None = None  # the evaluation day for data freshness (ISO), or None


class Execution(_Frozen):
    """How the run was executed: never changes the output; reused on resume unless given."""

    workers: int
    chunk_size: int
    dask: str | None


class Part(_Frozen):
    """A committed part file of a Parquet OUT (``OUT.parts/NAME``) and the rows it holds."""

    name: str
    rows: int
    bytes: int


class FileProgress(_Frozen):
    """How much of one output file is durable and belongs to the lines done.

    NDJSON (OUT or the rejects file): ``records`` lines in the first ``bytes`` bytes. Parquet
    OUT: ``records`` rows in ``parts``, in order (``bytes`` is their total size).
    """

    records: int = 0
    bytes: int = 0
    parts: tuple[Part, ...] = ()


class Progress(_Frozen):
    """A consistent point of the run: the first ``lines_done`` lines, all of them written."""

    lines_done: int = 0
    input_offset: int | None = 0  # NDJSON input: the byte offset after those lines
    output: FileProgress = FileProgress()
    rejects: FileProgress = FileProgress()


class Manifest(_Frozen):
    manifest_version: Literal[1] = 1
    gbrules_version: str
    rulebook_version: str
    input: InputFingerprint
    settings: RunSettings
    execution: Execution
    progress: Progress
    complete: bool = False
    output_size: int | None = None  # OUT's size in bytes once complete

    def rejects_path(self, manifest_path: Path) -> Path:
        return manifest_path.parent / self.settings.rejects


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name + MANIFEST_SUFFIX)


def gbrules_version() -> str:
    """The installed gbrules version (its code shapes every record, so a resume checks it)."""
    try:
        return metadata.version("gbrules")
    except metadata.PackageNotFoundError:
        return "unknown"


def fingerprint(path: Path) -> InputFingerprint:
    """Size and SHA-256 of ``path`` (read once, at disk speed; a small cost next to evaluating).

    A directory (a FHIR Bulk Data export) is fingerprinted as its ``*.ndjson`` files: the total
    size, and the SHA-256 of each file's name, size and SHA-256 in name order, so a file added,
    removed, renamed or changed is a different input."""
    if path.is_dir():
        outer = hashlib.sha256()
        size = 0
        for member in sorted(p for p in path.glob("*.ndjson") if p.is_file()):
            inner = fingerprint(member)
            outer.update(f"{member.name}\0{inner.size}\0{inner.sha256}\n".encode())
            size += inner.size
        return InputFingerprint(path=os.path.abspath(path), size=size, sha256=outer.hexdigest())
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        size = f.tell()
    return InputFingerprint(path=os.path.abspath(path), size=size, sha256=digest)


def load(path: Path) -> Manifest | None:
    """The manifest at ``path``, None when there is none, BatchUsageError when unreadable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as exc:
        raise BatchUsageError(
            f"cannot resume: {path} is not a batch manifest this gbrules can read "
            f"({exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}); "
            "start again without --resume"
        ) from None


def save(path: Path, manifest: Manifest) -> None:
    """Write the manifest atomically and durably (the commit point of a run)."""
    text = manifest.model_dump_json(indent=1).encode("utf-8") + b"\n"
    atomic_write(path, lambda f: f.write(text))
