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

Parquet (the ``parquet`` extra, pyarrow): a ``.parquet`` IN or OUT, or ``--in-format`` /
``--out-format parquet``, reads or writes Parquet instead; see ``gbrules.io.batch.parquet`` for
the two input layouts and the output columns. The guarantees above hold with a row for a line
(rejects stay NDJSON, with the 1-based row number as ``line``); ``--resume`` continues a
Parquet output that an earlier run closed (Ctrl-C closes it). Without pyarrow, asking for
Parquet exits 2.
"""

from __future__ import annotations

import contextlib
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
from typing import IO, Any

from gbrules.core.errors import IntakeError

# One input record: a raw NDJSON line without its newline (or a Parquet cell's text), a dict
# (a Parquet row of nested columns, nulls already dropped) or None (a null Parquet cell).
Raw = bytes | dict[str, Any] | None
Chunk = list[tuple[int, Raw]]  # (1-based line or row number, record)
# An evaluation as a Parquet output row:
# (line, patient_id, sorted codes, requires_immediate_action, rulebook_version, JSON or None)
OutRow = tuple[int, str | None, list[str], bool, str, str | None]
# (True: an output record | False: a rejects line). NDJSON output: text without newline;
# Parquet output: an OutRow. Rejects are always NDJSON text.
Result = tuple[bool, str | OutRow]

FORMATS = ("ndjson", "parquet")
INSTALL_PARQUET = "Parquet needs pyarrow: install gbrules[parquet] (pip install 'gbrules[parquet]')"


class BatchUsageError(ValueError):
    """A batch that cannot start as asked (format, missing pyarrow, --resume): exit 2."""


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


def evaluate_lines(engine: Any, chunk: Chunk, summary: bool, rows: bool = False) -> list[Result]:
    """Evaluate records with ``engine``: one result per record, in order.

    ``rows`` gives each evaluation as an OutRow (Parquet output) instead of JSON text.
    """
    out: list[Result] = []
    for line, raw in chunk:
        data: Any
        if isinstance(raw, dict):
            data = raw
        elif raw is None:
            out.append((False, _reject(line, [("$", "no intake (null value)")])))
            continue
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                out.append((False, _reject(line, [("$", f"not UTF-8 text: {exc.reason}")])))
                continue
            if not text.strip():
                msg = "empty line (expected one JSON object)"
                out.append((False, _reject(line, [("$", msg)])))
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
        if rows:
            row: OutRow = (
                line,
                ev.patient_id,
                sorted(ev.codes),
                ev.requires_immediate_action,
                ev.rulebook_version,
                None if summary else ev.model_dump_json(),
            )
            out.append((True, row))
        elif summary:
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
    from gbrules.clinical.engine import Engine

    if not pack:
        return Engine.default()
    where = tempfile.mkdtemp(prefix="gbrules-pack-")
    for name, data in pack:
        Path(where, name).write_bytes(data)
    return Engine.default(where)


def run_chunk(pack: Pack, chunk: Chunk, summary: bool, rows: bool = False) -> list[Result]:
    """The unit of work shipped to a pool or Dask worker."""
    return evaluate_lines(engine_for(pack), chunk, summary, rows)


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


def _local(pack: Pack, summary: bool, rows: bool) -> Executor:
    def run(chunks: Iterator[Chunk]) -> Iterator[list[Result]]:
        engine = engine_for(pack)
        for chunk in chunks:
            yield evaluate_lines(engine, chunk, summary, rows)

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


def _pool(
    pack: Pack, summary: bool, rows: bool, workers: int
) -> tuple[Executor, Callable[[], None]]:
    import multiprocessing as mp

    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else methods[0])
    pool = ctx.Pool(workers, initializer=_pool_init, initargs=(pack,))

    def submit(chunk: Chunk) -> Any:
        return pool.apply_async(run_chunk, (pack, chunk, summary, rows))

    def stop() -> None:
        pool.terminate()
        pool.join()

    return _windowed(submit, lambda r: r.get(), workers * 3), stop


def _dask(
    pack: Pack, summary: bool, rows: bool, address: str
) -> tuple[Executor, Callable[[], None]]:
    from distributed import Client

    client: Any = Client(address, set_as_default=False)  # type: ignore[no-untyped-call]
    window = max(2, 3 * sum(client.nthreads().values()))

    def submit(chunk: Chunk) -> Any:
        return client.submit(run_chunk, pack, chunk, summary, rows, pure=False)

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


def format_of(path: Path, given: str | None) -> str:
    """``given``, else ``parquet`` for a ``.parquet`` file name, else ``ndjson``."""
    fmt = given or ("parquet" if path.suffix.lower() == ".parquet" else "ndjson")
    if fmt not in FORMATS:
        raise BatchUsageError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
    return fmt


def _parquet() -> Any:
    """The Parquet module, or BatchUsageError when pyarrow is not installed."""
    try:
        from gbrules.io.batch import parquet as batch_parquet
    except ImportError:
        raise BatchUsageError(INSTALL_PARQUET) from None
    return batch_parquet


class _NdjsonSink:
    def __init__(self, f: IO[str]) -> None:
        self._f = f

    def add(self, item: str | OutRow) -> None:
        if not isinstance(item, str):
            raise TypeError("NDJSON output expects JSON text")
        self._f.write(item + "\n")

    def close(self) -> None:
        self._f.flush()


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
    in_format: str | None = None,
    out_format: str | None = None,
    column: str | None = None,
    row_group_size: int | None = None,
) -> BatchStats:
    """Evaluate every intake of ``source`` into ``out`` and the rejects file.

    Formats (``ndjson`` or ``parquet``) come from ``in_format``/``out_format``, else from the
    file names (``.parquet``). ``column`` names the Parquet input's column of Intake JSON text
    (layout (a); default ``intake`` when present, else nested columns, layout (b)).
    Raises BatchUsageError, before any file is written, for an unknown format, Parquet
    without pyarrow, an unreadable Parquet input, or ``resume`` on a Parquet output that
    cannot be read (a killed run leaves no footer) or has other columns.

    ``progress=None`` shows a bar only when stderr is a terminal. KeyboardInterrupt is caught:
    what was produced is written and flushed and ``stats.interrupted`` is set.
    """
    src, dst = Path(source), Path(out)
    rej = Path(rejects) if rejects is not None else dst.with_name(dst.name + ".rejects")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    fin_fmt, fout_fmt = format_of(src, in_format), format_of(dst, out_format)
    if column is not None and fin_fmt != "parquet":
        raise BatchUsageError("--column applies to Parquet input only")
    pqmod = _parquet() if "parquet" in (fin_fmt, fout_fmt) else None
    rows = fout_fmt == "parquet"
    pf = pqmod.open_input(src) if pqmod is not None and fin_fmt == "parquet" else None
    text_column = pqmod.text_column(pf, column) if pqmod is not None and pf is not None else None
    pack = read_pack(rules)
    skip = 0
    if resume:
        done = pqmod.completed_rows(dst, summary) if pqmod is not None and rows else None
        skip = (complete_lines(dst) if done is None else done) + complete_lines(rej)
    mode = "a" if resume else "w"
    stats = BatchStats(skipped=skip, workers=workers)
    show = sys.stderr.isatty() if progress is None else progress
    total: int | None = None
    if show:
        total = pqmod.row_count(pf) if pqmod is not None and pf is not None else count_lines(src)

    with contextlib.ExitStack() as stack:
        # Workers first: the pool forks before pyarrow starts reading or writing.
        if dask is not None:
            execute, stop = _dask(pack, summary, rows, dask)
        elif workers > 1:
            execute, stop = _pool(pack, summary, rows, workers)
        else:
            execute, stop = _local(pack, summary, rows), lambda: None
        stack.callback(stop)
        if pf is not None and pqmod is not None:
            chunks = pqmod.read_chunks(pf, text_column, skip, chunk_size)
        else:
            fin = stack.enter_context(src.open("rb"))
            chunks = read_chunks(fin, skip, chunk_size)
        frej = stack.enter_context(rej.open(mode, encoding="utf-8", newline="\n"))
        sink: Any
        if pqmod is not None and rows:
            group = row_group_size or pqmod.DEFAULT_ROW_GROUP
            sink = pqmod.ParquetSink(dst, summary, group, resume=resume)
        else:
            sink = _NdjsonSink(stack.enter_context(dst.open(mode, encoding="utf-8", newline="\n")))
        stack.callback(sink.close)  # also on Ctrl-C: flush the last rows (Parquet: the footer)

        bar = _Progress(show, total, skip)
        stack.callback(bar.stop)
        started = time.perf_counter()
        try:
            for results in execute(chunks):
                _write(results, sink, frej, stats)
                bar.advance(len(results), skip + stats.lines)
        except KeyboardInterrupt:
            stats.interrupted = True
        frej.flush()
    stats.seconds = time.perf_counter() - started
    return stats


def _write(results: Iterable[Result], sink: Any, frej: IO[str], stats: BatchStats) -> None:
    # Record by record in input order, each to its file: the two files always form a prefix.
    for ok, item in results:
        if ok:
            sink.add(item)
            stats.evaluated += 1
        else:
            frej.write(f"{item}\n")
            stats.rejected += 1
