"""Population batches: NDJSON intakes in, one NDJSON line out per input line, in order.

``gbrules batch IN OUT`` streams in constant memory. Every input line gives exactly one line:
an Evaluation (or, with ``--summary``, ``{patient_id, line, codes, requires_immediate_action}``)
in OUT, or a reject in the rejects file (``--rejects FILE``, default ``OUT.rejects``) with the
1-based input line number and every field error. Nothing is lost, nothing duplicated, and the
order of the input is kept, whatever the number of workers:

* ``--workers N`` evaluates chunks in a pool of N processes (fork), one compiled engine per
  process; at most a few chunks per worker are in flight, so memory stays flat.
* ``--dask ADDRESS`` sends chunks to a Dask distributed cluster; each worker process compiles
  the rulebook once and keeps it. The site pack's files travel with the task, so workers need
  no shared file system. Output is byte-identical to a local run.

Results are written strictly in input order, each line whole, to OUT or to the rejects file.
On Ctrl-C the lines already produced are written and flushed, so OUT and the rejects file
together always hold a complete prefix of the input; ``--resume`` trims a torn last line (a hard
kill can leave one), counts the complete lines of both files and carries on after them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from gbrules.errors import IntakeError

Chunk = list[tuple[int, bytes]]  # (1-based line number, raw line without its newline)
Result = tuple[bool, str]  # (True: OUT line | False: rejects line), text without newline

DEFAULT_CHUNK = 500


@dataclass
class BatchStats:
    """What a batch run did: lines read this run, evaluations and rejects written, timing."""

    skipped: int = 0  # lines already done in an earlier run (--resume)
    evaluated: int = 0
    rejected: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    workers: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lines(self) -> int:
        return self.evaluated + self.rejected

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


# ------------------------------------------------------------------ per-line work (any process)


def _reject(line: int, errors: Sequence[tuple[str, str]], patient_id: object = None) -> str:
    body: dict[str, Any] = {"line": line}
    if isinstance(patient_id, str):
        body["patient_id"] = patient_id
    body["errors"] = [{"path": p, "message": m} for p, m in errors]
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def evaluate_lines(engine: Any, chunk: Chunk, summary: bool) -> list[Result]:
    """Evaluate raw NDJSON lines with ``engine``: one result per line, in order."""
    out: list[Result] = []
    for line, raw in chunk:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.append((False, _reject(line, [("$", f"not UTF-8 text: {exc.reason}")])))
            continue
        if not text.strip():
            out.append((False, _reject(line, [("$", "empty line (expected one JSON object)")])))
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"invalid JSON: {exc.msg} (column {exc.colno})"
            out.append((False, _reject(line, [("$", msg)])))
            continue
        except RecursionError:
            out.append((False, _reject(line, [("$", "invalid JSON: nested too deeply")])))
            continue
        try:
            ev = engine.evaluate(data)
        except IntakeError as exc:
            pid = data.get("patient_id") if isinstance(data, dict) else None
            out.append((False, _reject(line, [(e.path, e.message) for e in exc.errors], pid)))
            continue
        if summary:
            body = {
                "patient_id": ev.patient_id,
                "line": line,
                "codes": sorted(ev.codes),
                "requires_immediate_action": ev.requires_immediate_action,
            }
            out.append((True, json.dumps(body, ensure_ascii=False, separators=(",", ":"))))
        else:
            out.append((True, ev.model_dump_json()))
    return out


# A site pack travels as its files' bytes, so a worker anywhere can rebuild the same rulebook
# (same file names and bytes: same content hash, same rulebook_version, byte-identical output).
Pack = tuple[tuple[str, bytes], ...]

_ENGINES: dict[str, Any] = {}
_ENGINES_LOCK = threading.Lock()


def read_pack(directory: str | Path | None) -> Pack:
    if directory is None:
        return ()
    d = Path(directory)
    return tuple((p.name, p.read_bytes()) for p in sorted(d.glob("*.yaml")) if p.is_file())


def _pack_key(pack: Pack) -> str:
    h = hashlib.sha256()
    for name, data in pack:
        h.update(name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def engine_for(pack: Pack) -> Any:
    """This process's engine for the default rulebook plus ``pack``, compiled once and kept."""
    key = _pack_key(pack)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _build(pack)
        return engine


def _build(pack: Pack) -> Any:
    from gbrules.engine import Engine

    if not pack:
        return Engine.default()
    where = tempfile.mkdtemp(prefix="gbrules-pack-")
    for name, data in pack:
        Path(where, name).write_bytes(data)
    return Engine.default(where)


def run_chunk(pack: Pack, chunk: Chunk, summary: bool) -> list[Result]:
    """The unit of work shipped to a pool or Dask worker."""
    return evaluate_lines(engine_for(pack), chunk, summary)


# ------------------------------------------------------------------ files


def complete_lines(path: Path) -> int:
    """Trim a torn last line (no newline) off ``path`` and count its complete lines."""
    if not path.exists():
        return 0
    count = 0
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) != b"\n":
            # Find the last newline and cut after it.
            pos = size
            block = 1 << 16
            keep = 0
            while pos > 0:
                start = max(0, pos - block)
                f.seek(start)
                data = f.read(pos - start)
                i = data.rfind(b"\n")
                if i >= 0:
                    keep = start + i + 1
                    break
                pos = start
            f.truncate(keep)
        f.seek(0)
        while data := f.read(1 << 20):
            count += data.count(b"\n")
    return count


def count_lines(path: Path) -> int:
    """Input lines (a last line without a newline counts)."""
    n = 0
    last = b"\n"
    with path.open("rb") as f:
        while data := f.read(1 << 20):
            n += data.count(b"\n")
            last = data[-1:]
    return n + (last != b"\n")


def read_chunks(f: IO[bytes], skip: int, size: int) -> Iterator[Chunk]:
    """Chunks of (line number, line) from a binary file, after the first ``skip`` lines."""
    chunk: Chunk = []
    for number, raw in enumerate(f, start=1):
        if number <= skip:
            continue
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        chunk.append((number, raw))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ------------------------------------------------------------------ executors (order kept)

Executor = Callable[[Iterator[Chunk]], Iterator[list[Result]]]


def _local(pack: Pack, summary: bool) -> Executor:
    def run(chunks: Iterator[Chunk]) -> Iterator[list[Result]]:
        engine = engine_for(pack)
        for chunk in chunks:
            yield evaluate_lines(engine, chunk, summary)

    return run


def _windowed(
    submit: Callable[[Chunk], Any], wait: Callable[[Any], list[Result]], window: int
) -> Executor:
    """Keep at most ``window`` chunks in flight and hand results back in submission order."""

    def run(chunks: Iterator[Chunk]) -> Iterator[list[Result]]:
        pending: deque[Any] = deque()
        for chunk in chunks:
            pending.append(submit(chunk))
            if len(pending) >= window:
                yield wait(pending.popleft())
        while pending:
            yield wait(pending.popleft())

    return run


def _pool_init(pack: Pack) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    engine_for(pack)  # compile once per worker process, before the first chunk


def _pool(pack: Pack, summary: bool, workers: int) -> tuple[Executor, Callable[[], None]]:
    import multiprocessing as mp

    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else methods[0])
    pool = ctx.Pool(workers, initializer=_pool_init, initargs=(pack,))

    def submit(chunk: Chunk) -> Any:
        return pool.apply_async(run_chunk, (pack, chunk, summary))

    def stop() -> None:
        pool.terminate()
        pool.join()

    return _windowed(submit, lambda r: r.get(), workers * 3), stop


def _dask(pack: Pack, summary: bool, address: str) -> tuple[Executor, Callable[[], None]]:
    from distributed import Client

    client: Any = Client(address, set_as_default=False)  # type: ignore[no-untyped-call]
    window = max(2, 3 * sum(client.nthreads().values()))

    def submit(chunk: Chunk) -> Any:
        return client.submit(run_chunk, pack, chunk, summary, pure=False)

    def stop() -> None:
        client.close()

    return _windowed(submit, lambda fut: fut.result(), window), stop


# ------------------------------------------------------------------ the run


class _Progress:
    """A rich progress bar with rate and ETA on a terminal; silent otherwise."""

    def __init__(self, enabled: bool, total: int | None, done: int) -> None:
        self._bar: Any = None
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
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


def run_batch(
    source: str | Path,
    out: str | Path,
    *,
    rules: str | Path | None = None,
    rejects: str | Path | None = None,
    workers: int = 1,
    summary: bool = False,
    resume: bool = False,
    dask: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool | None = None,
) -> BatchStats:
    """Evaluate every line of ``source`` (NDJSON intakes) into ``out`` and the rejects file.

    ``progress=None`` shows a bar only when stderr is a terminal. KeyboardInterrupt is caught:
    what was produced is written and flushed and ``stats.interrupted`` is set.
    """
    src, dst = Path(source), Path(out)
    rej = Path(rejects) if rejects is not None else dst.with_name(dst.name + ".rejects")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    pack = read_pack(rules)
    skip = 0
    if resume:
        skip = complete_lines(dst) + complete_lines(rej)
    mode = "a" if resume else "w"
    stats = BatchStats(skipped=skip, workers=workers)
    show = sys.stderr.isatty() if progress is None else progress
    total = count_lines(src) if show else None

    if dask is not None:
        execute, stop = _dask(pack, summary, dask)
    elif workers > 1:
        execute, stop = _pool(pack, summary, workers)
    else:
        execute, stop = _local(pack, summary), lambda: None

    bar = _Progress(show, total, skip)
    started = time.perf_counter()
    with (
        src.open("rb") as fin,
        dst.open(mode, encoding="utf-8", newline="\n") as fout,
        rej.open(mode, encoding="utf-8", newline="\n") as frej,
    ):
        try:
            for results in execute(read_chunks(fin, skip, chunk_size)):
                _write(results, fout, frej, stats)
                bar.advance(len(results), skip + stats.lines)
        except KeyboardInterrupt:
            stats.interrupted = True
        finally:
            bar.stop()
            fout.flush()
            frej.flush()
            stop()
    stats.seconds = time.perf_counter() - started
    return stats


def _write(results: Iterable[Result], fout: IO[str], frej: IO[str], stats: BatchStats) -> None:
    # Line by line in input order, each to its file: the two files always form a prefix.
    for ok, text in results:
        if ok:
            fout.write(text + "\n")
            stats.evaluated += 1
        else:
            frej.write(text + "\n")
            stats.rejected += 1


# ------------------------------------------------------------------ command line


def batch_command(
    source: Annotated[Path, typer.Argument(help="Intakes, one JSON object per line (NDJSON).")],
    out: Annotated[Path, typer.Argument(help="Evaluations, one JSON object per line.")],
    rules: Annotated[
        Path | None, typer.Option("--rules", help="A site rule pack added to the default rulebook.")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Rejected lines with their errors [default: OUT.rejects]."),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    summary: Annotated[
        bool,
        typer.Option(
            "--summary", help="Write {patient_id, line, codes, requires_immediate_action} only."
        ),
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue after the last complete line of a run.")
    ] = False,
    dask: Annotated[
        str | None,
        typer.Option("--dask", metavar="SCHEDULER_ADDRESS", help="Run on a Dask cluster."),
    ] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1)] = DEFAULT_CHUNK,
) -> None:
    """Evaluate an NDJSON file of intakes: one output or reject line per input line, in order."""
    from gbrules.errors import RulebookError

    if not source.is_file():
        typer.echo(f"error: cannot read {source}", err=True)
        raise typer.Exit(2)
    try:
        stats = run_batch(
            source,
            out,
            rules=rules,
            rejects=rejects,
            workers=workers,
            summary=summary,
            resume=resume,
            dask=dask,
            chunk_size=chunk_size,
        )
    except RulebookError as exc:
        typer.echo("error: invalid rulebook:", err=True)
        for p in exc.problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    done = stats.skipped + stats.lines
    typer.echo(
        f"{stats.evaluated} evaluated, {stats.rejected} rejected in {stats.seconds:.1f} s "
        f"({stats.rate:,.0f} lines/s); {done} input lines done",
        err=True,
    )
    if stats.interrupted:
        typer.echo("interrupted: output is consistent; rerun with --resume to continue", err=True)
        raise typer.Exit(130)
