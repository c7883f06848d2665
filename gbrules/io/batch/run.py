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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gbrules.io.batch import files, formats, manifest
from gbrules.io.batch.executors import executor_for
from gbrules.io.batch.manifest import Manifest, Progress, RunSettings
from gbrules.io.batch.ndjson import LineWriter
from gbrules.io.batch.options import DEFAULT_ROW_GROUP, BatchOptions, Settler, format_of
from gbrules.io.batch.records import BatchUsageError, Format, Rejected, Shape
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


def _run(options: BatchOptions) -> BatchStats:
    src, out = options.source, options.out
    manifest_file = manifest.manifest_path(out)
    earlier = manifest.load(manifest_file) if options.resume else None
    if options.resume and earlier is None:
        # Without a manifest neither the options nor what of OUT is complete can be known.
        raise _refuse(
            f"there is no manifest {manifest_file} (the run never started, or was made by an "
            "older gbrules), so neither its options nor how much of it is done can be known"
        )
    settle = Settler(earlier, manifest_file.parent)
    in_format = settle.pick("in_format", options.in_format, format_of(src))
    out_format = settle.pick("out_format", options.out_format, format_of(out))
    if Format.parquet in (in_format, out_format):
        formats.parquet()  # pyarrow present, or a usage error before anything is written
    summary = settle.pick("summary", options.summary, False)
    row_group_size = settle.pick("row_group_size", options.row_group_size, DEFAULT_ROW_GROUP)
    rejects_name = settle.rejects(options.rejects, out)
    rejects = manifest_file.parent / rejects_name
    rules = settle.rules(options.rules)
    asked_column = settle.pick("column", options.column, None)
    _check_paths(src, out, rejects, manifest_file)
    execution = settle.execution(options)

    stats = BatchStats(workers=execution.workers)
    for target in (manifest_file, out):
        files.remove_temps(target)  # left by a killed run (no other run holds the lock)
    with contextlib.ExitStack() as stack:
        fingerprint = manifest.fingerprint(src)
        source = formats.open_input(in_format, src, asked_column, fingerprint.size)
        stack.callback(source.close)
        pack = read_pack(None if rules is None else Path(rules))
        run = Manifest(
            gbrules_version=manifest.gbrules_version(),
            rulebook_version=engine_for(pack).version,
            input=fingerprint,
            settings=RunSettings(
                summary=summary,
                in_format=in_format,
                out_format=out_format,
                rejects=rejects_name,
                column=source.column,
                row_group_size=row_group_size,
                rules=rules,
            ),
            execution=execution,
            progress=earlier.progress if earlier is not None else Progress(),
        )
        if earlier is not None:
            _check_same_run(earlier, run, src)
            if earlier.complete:
                if not out.is_file() or out.stat().st_size != earlier.output_size:
                    raise _refuse(f"{out} was changed or removed after the run completed")
                formats.forget_output(out_format, out)  # parts a kill left behind
                stats.skipped, stats.already_complete = earlier.progress.lines_done, True
                return stats
        start = run.progress
        resuming = earlier is not None
        if not resuming:
            manifest.save(manifest_file, run)  # before any output is created or emptied
        # A resume cuts OUT and the rejects file back to the committed point (and refuses
        # outputs changed outside gbrules) before it records anything.
        writer = formats.open_output(
            out_format, out, summary, row_group_size, start.output if resuming else None
        )
        stack.callback(writer.close)
        rejects_writer = LineWriter(rejects, start.rejects if resuming else None)
        stack.callback(rejects_writer.close)
        if resuming:
            manifest.save(manifest_file, run)  # this run's execution settings
        # The pool forks before pyarrow starts reading or writing (no threads to inherit).
        shape = Shape(summary=summary, rows=out_format is Format.parquet)
        executor = executor_for(pack, shape, execution.workers, execution.dask)
        stack.callback(executor.close)

        def commit(point: Progress) -> None:
            nonlocal run
            durable = point.model_copy(
                update={
                    "output": writer.commit(point.output),
                    "rejects": rejects_writer.commit(point.rejects),
                }
            )
            run = run.model_copy(update={"progress": durable})
            manifest.save(manifest_file, run)

        show = sys.stderr.isatty() if options.progress is None else options.progress
        bar = _Progress(show, source.total() if show else None, start.lines_done)
        stack.callback(bar.stop)
        stats.skipped = start.lines_done
        point = start
        started = time.perf_counter()
        due = time.monotonic() + options.checkpoint_seconds
        try:
            for done in executor.map(source.chunks(start, execution.chunk_size)):
                outputs = [o for o in done.outcomes if not isinstance(o, Rejected)]
                rejected = [o.text for o in done.outcomes if isinstance(o, Rejected)]
                writer.write(outputs)
                rejects_writer.write(rejected)
                # One assignment: a Ctrl-C anywhere above leaves the previous whole chunk.
                point = Progress(
                    lines_done=done.chunk.last_line,
                    input_offset=done.chunk.end_offset,
                    output=writer.progress(),
                    rejects=rejects_writer.progress(),
                )
                stats.evaluated += len(outputs)
                stats.rejected += len(rejected)
                bar.advance(len(done.outcomes), point.lines_done)
                if writer.pending >= row_group_size or time.monotonic() >= due:
                    commit(point)
                    due = time.monotonic() + options.checkpoint_seconds
        except KeyboardInterrupt:
            stats.interrupted = True
        commit(point)
        size = writer.finish()  # on Ctrl-C too: a Parquet OUT then holds the rows done
        if not stats.interrupted:
            run = run.model_copy(update={"complete": True, "output_size": size})
            manifest.save(manifest_file, run)
            formats.forget_output(out_format, out)
    stats.seconds = time.perf_counter() - started
    return stats
