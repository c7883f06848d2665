"""The batch run: settle the options, then evaluate, write and commit until the input is done.

A run moves through consistent points. After each chunk, OUT and the rejects file together
hold exactly one outcome for each input line so far; that point is *committed* (both files
fsynced, Parquet rows written as a part file, then the manifest atomically rewritten) at most
every ``checkpoint_seconds``, whenever ``row_group_size`` Parquet rows are waiting, at the end,
and on Ctrl-C. Whatever kills the process, the manifest names a committed point that is on
disk, and ``--resume`` continues from exactly there (see ``manifest.py``). The order of the
steps is the guarantee:

1. settle the options against the manifest (``--resume``) and refuse what cannot continue,
   before any file is touched: a changed input, a differing option, another rulebook;
2. a completed run stops here, untouched (``--resume`` after the end is a no-op);
3. write the manifest of the (new or continued) run *before* truncating or creating outputs,
   so a kill at any moment leaves a manifest that describes what is on disk;
4. evaluate and write chunk by chunk, committing as above;
5. at the end, commit, finish OUT (Parquet: assemble the parts), record ``complete``.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gbrules.io import files
from gbrules.io.batch import formats, manifest
from gbrules.io.batch.executors import executor_for
from gbrules.io.batch.manifest import Execution, Manifest, Progress, RunSettings
from gbrules.io.batch.ndjson import LineWriter
from gbrules.io.batch.options import DEFAULT_ROW_GROUP, BatchOptions, Settler, format_of
from gbrules.io.batch.records import BatchUsageError, ChunkDone, Format, Rejected, Shape
from gbrules.io.batch.work import engine_for, read_pack


@dataclass
class BatchStats:
    """What a batch run did: lines read this run, evaluations and rejects written, timing."""

    skipped: int = 0  # lines already done in an earlier run (--resume)
    evaluated: int = 0
    rejected: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    already_complete: bool = False  # --resume on a completed run: nothing was done
    workers: int = 1

    @property
    def lines(self) -> int:
        return self.evaluated + self.rejected

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


class _Progress:
    """A rich progress bar with rate and ETA on a terminal; silent otherwise."""

    def __init__(self, enabled: bool, total: int | None, done: int) -> None:
        self._bar: Any = None
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("[bold]gbrules batch"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} lines/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._task = self._bar.add_task("batch", total=total, completed=done, rate="-")
        self._start = time.monotonic()
        self._base = done
        self._bar.start()

    def advance(self, n: int, done: int) -> None:
        if self._bar is not None:
            elapsed = time.monotonic() - self._start
            rate = f"{(done - self._base) / elapsed:,.0f}" if elapsed > 0 else "-"
            self._bar.update(self._task, advance=n, rate=rate)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _refuse(what: str) -> BatchUsageError:
    return BatchUsageError(f"cannot resume: {what}; start again without --resume")


def _check_paths(source: Path, out: Path, rejects: Path, manifest_file: Path) -> None:
    """Refuse a run whose files overlap: it would overwrite its own input or output."""
    named = {"the input": source, "OUT": out, "the rejects file": rejects}
    seen: dict[Path, str] = {manifest_file.resolve(): "the manifest"}
    for label, path in named.items():
        key = path.resolve()
        if key in seen:
            raise BatchUsageError(f"{label} and {seen[key]} are the same file ({path})")
        seen[key] = label


def _check_same_run(earlier: Manifest, now: Manifest, source: Path) -> None:
    """Refuse a resume whose input, gbrules or rulebook differ from the run being resumed."""
    if (earlier.input.size, earlier.input.sha256) != (now.input.size, now.input.sha256):
        raise _refuse(
            f"{source} is not the input the run read ({earlier.input.path}: "
            f"{earlier.input.size} bytes, sha256 {earlier.input.sha256[:16]}...; now "
            f"{now.input.size} bytes, sha256 {now.input.sha256[:16]}...)"
        )
    if earlier.gbrules_version != now.gbrules_version:
        raise _refuse(
            f"gbrules is version {now.gbrules_version}, the run was made by "
            f"{earlier.gbrules_version} (records of two versions must not be mixed)"
        )
    if earlier.rulebook_version != now.rulebook_version:
        raise _refuse(
            f"the rulebook is {now.rulebook_version}, the run used {earlier.rulebook_version} "
            "(the site pack given with --rules changed, or the bundled rules did)"
        )


def run_batch(options: BatchOptions) -> BatchStats:
    """Evaluate every intake of ``options.source`` into ``options.out`` and the rejects file.

    Raises BatchUsageError, before any file is written or changed, for an unknown format,
    Parquet without pyarrow, an unreadable Parquet input, overlapping files, or a ``resume``
    that cannot continue (no manifest, a changed input, an option that differs from the
    manifest's, another gbrules or rulebook, outputs changed outside gbrules).
    KeyboardInterrupt while evaluating is caught: what was produced is committed and
    ``stats.interrupted`` is set.
    """
    lock = options.out.with_name(f".{options.out.name}.lock")
    try:
        with files.exclusive(lock):
            return _run(options)
    except files.Busy:
        raise BatchUsageError(
            f"another gbrules batch is writing {options.out} right now (it holds {lock}); "
            "wait for it to end, or stop it and use --resume"
        ) from None


@dataclass(frozen=True)
class _Plan:
    """The options settled (against the manifest on resume): what this run will do."""

    earlier: Manifest | None  # the run being resumed
    out: Path
    manifest_file: Path
    in_format: Format
    out_format: Format
    summary: bool
    row_group_size: int
    rejects_name: str  # as the manifest records it (relative to its directory)
    rules: str | None
    site: str | None
    as_of: str | None
    column: str | None  # as asked or recorded; the Parquet reader resolves the default
    execution: Execution

    @property
    def rejects(self) -> Path:
        return self.manifest_file.parent / self.rejects_name


def _settle(options: BatchOptions) -> _Plan:
    """Step 1: every option settled and checked; raises BatchUsageError, writes nothing."""
    manifest_file = manifest.manifest_path(options.out)
    earlier = manifest.load(manifest_file) if options.resume else None
    if options.resume and earlier is None:
        # Without a manifest neither the options nor what of OUT is complete can be known.
        raise _refuse(
            f"there is no manifest {manifest_file} (the run never started, or was made by an "
            "older gbrules), so neither its options nor how much of it is done can be known"
        )
    settle = Settler(earlier, manifest_file.parent)
    in_format = settle.pick("in_format", options.in_format, format_of(options.source))
    # FHIR input needs a day to map at (ages from birth dates, "recent" medicines): today,
    # recorded, unless given; other input is evaluated as of no particular day unless given.
    today = datetime.now(UTC).date().isoformat() if in_format is Format.fhir_ndjson else None
    plan = _Plan(
        earlier=earlier,
        out=options.out,
        manifest_file=manifest_file,
        in_format=in_format,
        out_format=settle.pick("out_format", options.out_format, format_of(options.out)),
        summary=settle.pick("summary", options.summary, False),
        row_group_size=settle.pick("row_group_size", options.row_group_size, DEFAULT_ROW_GROUP),
        rejects_name=settle.rejects(options.rejects, options.out),
        rules=settle.rules(options.rules),
        site=settle.site(options.site),
        as_of=settle.pick("as_of", options.as_of, today),
        column=settle.pick("column", options.column, None),
        execution=settle.execution(options),
    )
    if Format.parquet in (plan.in_format, plan.out_format):
        formats.parquet()  # pyarrow present, or a usage error before anything is written
    _check_paths(options.source, options.out, plan.rejects, manifest_file)
    return plan


def _site_json(path: str | None) -> str | None:
    """The site file validated and serialised for the workers (a usage error if invalid)."""
    if path is None:
        return None
    from gbrules.clinical.site import SiteError, load_site

    try:
        return load_site(path).model_dump_json()
    except SiteError as exc:
        raise BatchUsageError(f"invalid site configuration {exc}") from None


def _run(options: BatchOptions) -> BatchStats:
    plan = _settle(options)
    out = options.out
    for target in (plan.manifest_file, out):
        files.remove_temps(target)  # left by a killed run (no other run holds the lock)
    with contextlib.ExitStack() as stack:
        fingerprint = manifest.fingerprint(options.source)
        source = formats.open_input(plan.in_format, options.source, plan.column, fingerprint.size)
        stack.callback(source.close)
        pack = read_pack(None if plan.rules is None else Path(plan.rules))
        run = Manifest(
            gbrules_version=manifest.gbrules_version(),
            rulebook_version=engine_for(pack).version,
            input=fingerprint,
            settings=RunSettings(
                summary=plan.summary,
                in_format=plan.in_format,
                out_format=plan.out_format,
                rejects=plan.rejects_name,
                column=source.column,
                row_group_size=plan.row_group_size,
                rules=plan.rules,
                site=plan.site,
                as_of=plan.as_of,
            ),
            execution=plan.execution,
            progress=Progress() if plan.earlier is None else plan.earlier.progress,
        )
        earlier = plan.earlier
        if earlier is not None:
            _check_same_run(earlier, run, options.source)
            if earlier.complete:  # step 2
                if not out.is_file() or out.stat().st_size != earlier.output_size:
                    raise _refuse(f"{out} was changed or removed after the run completed")
                formats.forget_output(plan.out_format, out)  # parts a kill left behind
                return BatchStats(
                    skipped=earlier.progress.lines_done,
                    already_complete=True,
                    workers=plan.execution.workers,
                )
        # Step 3. A resume first cuts OUT and the rejects file back to the committed point
        # (refusing outputs changed outside gbrules); a fresh run first records itself.
        start = run.progress if earlier is not None else None
        if start is None:
            manifest.save(plan.manifest_file, run)
        writer = formats.open_output(
            plan.out_format,
            out,
            plan.summary,
            plan.row_group_size,
            None if start is None else start.output,
        )
        stack.callback(writer.close)
        rejects = LineWriter(plan.rejects, None if start is None else start.rejects)
        stack.callback(rejects.close)
        if start is not None:
            manifest.save(plan.manifest_file, run)  # this run's execution settings
        # The pool forks before pyarrow starts reading or writing (no threads to inherit).
        shape = Shape(
            summary=plan.summary,
            rows=plan.out_format is Format.parquet,
            site=_site_json(plan.site),
            as_of=plan.as_of,
            fhir=plan.in_format is Format.fhir_ndjson,
        )
        executor = executor_for(pack, shape, plan.execution.workers, plan.execution.dask)
        stack.callback(executor.close)
        show = sys.stderr.isatty() if options.progress is None else options.progress
        bar = _Progress(show, source.total() if show else None, run.progress.lines_done)
        stack.callback(bar.stop)
        loop = _Loop(run, plan, writer, rejects, options.checkpoint_seconds)
        return loop.drive(executor.map(source.chunks(run.progress, plan.execution.chunk_size)), bar)


class _Loop:
    """Steps 4 and 5: write chunks in order, commit consistent points, complete the run."""

    def __init__(
        self,
        run: Manifest,
        plan: _Plan,
        writer: formats.OutputWriter,
        rejects: LineWriter,
        checkpoint_seconds: float,
    ) -> None:
        self.state, self.plan = run, plan
        self.writer, self.rejects = writer, rejects
        self.every = checkpoint_seconds

    def commit(self, point: Progress) -> None:
        """Make ``point`` durable in OUT and the rejects file, then record it (atomically)."""
        durable = point.model_copy(
            update={
                "output": self.writer.commit(point.output),
                "rejects": self.rejects.commit(point.rejects),
            }
        )
        self.state = self.state.model_copy(update={"progress": durable})
        manifest.save(self.plan.manifest_file, self.state)

    def drive(self, done_chunks: Iterator[ChunkDone], bar: _Progress) -> BatchStats:
        stats = BatchStats(
            skipped=self.state.progress.lines_done, workers=self.plan.execution.workers
        )
        point = self.state.progress
        started = time.perf_counter()
        due = time.monotonic() + self.every
        try:
            for done in done_chunks:
                outputs = [o for o in done.outcomes if not isinstance(o, Rejected)]
                rejected = [o.text for o in done.outcomes if isinstance(o, Rejected)]
                self.writer.write(outputs)
                self.rejects.write(rejected)
                # One assignment: a Ctrl-C anywhere above leaves the previous whole chunk.
                point = Progress(
                    lines_done=done.chunk.last_line,
                    input_offset=done.chunk.end_offset,
                    output=self.writer.progress(),
                    rejects=self.rejects.progress(),
                )
                stats.evaluated += len(outputs)
                stats.rejected += len(rejected)
                bar.advance(len(done.outcomes), point.lines_done)
                if self.writer.pending >= self.plan.row_group_size or time.monotonic() >= due:
                    self.commit(point)
                    due = time.monotonic() + self.every
        except KeyboardInterrupt:
            stats.interrupted = True
        self.commit(point)
        size = self.writer.finish()  # on Ctrl-C too: a Parquet OUT then holds the rows done
        if not stats.interrupted:
            self.state = self.state.model_copy(update={"complete": True, "output_size": size})
            manifest.save(self.plan.manifest_file, self.state)
            formats.forget_output(self.plan.out_format, self.plan.out)
        stats.seconds = time.perf_counter() - started
        return stats
