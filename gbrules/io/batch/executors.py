"""Where chunks are evaluated: in this process, a local process pool, or a Dask cluster.

Every executor hands chunks back in input order, with at most a few chunks per worker in
flight, so memory stays flat and the writer sees one ordered stream whatever runs the work.
Workers only evaluate (``work.run_chunk``); all files are written by the parent, so a worker
that dies or is orphaned by a killed parent cannot corrupt an output.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol

from gbrules.io.batch import work
from gbrules.io.batch.records import Chunk, ChunkDone, Outcome, Shape
from gbrules.io.batch.work import Pack


class Executor(Protocol):
    def map(self, chunks: Iterator[Chunk]) -> Iterator[ChunkDone]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Evaluate in this process (one worker)."""

    def __init__(self, pack: Pack, shape: Shape) -> None:
        self._pack, self._shape = pack, shape

    def map(self, chunks: Iterator[Chunk]) -> Iterator[ChunkDone]:
        engine = work.engine_for(self._pack)
        for chunk in chunks:
            yield ChunkDone(chunk, work.evaluate_lines(engine, chunk.records, self._shape))

    def close(self) -> None:
        pass


class _InFlight(NamedTuple):
    chunk: Chunk
    handle: Any  # the pool's AsyncResult or Dask's Future for the chunk's outcomes


def _windowed(
    chunks: Iterator[Chunk],
    submit: Callable[[Chunk], Any],
    wait: Callable[[Any], list[Outcome]],
    window: int,
) -> Iterator[ChunkDone]:
    """Keep at most ``window`` chunks in flight and hand results back in submission order."""
    pending: deque[_InFlight] = deque()
    for chunk in chunks:
        pending.append(_InFlight(chunk, submit(chunk)))
        if len(pending) >= window:
            first = pending.popleft()
            yield ChunkDone(first.chunk, wait(first.handle))
    while pending:
        first = pending.popleft()
        yield ChunkDone(first.chunk, wait(first.handle))


def _pool_init(pack: Pack) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    work.engine_for(pack)  # compile once per worker process (a forked one inherits it)


class PoolExecutor:
    """A pool of ``workers`` processes (fork where available), one compiled engine each."""

    def __init__(self, pack: Pack, shape: Shape, workers: int) -> None:
        import multiprocessing as mp

        methods = mp.get_all_start_methods()
        ctx = mp.get_context("fork" if "fork" in methods else methods[0])
        self._pack, self._shape, self._window = pack, shape, workers * 3
        self._pool = ctx.Pool(workers, initializer=_pool_init, initargs=(pack,))

    def map(self, chunks: Iterator[Chunk]) -> Iterator[ChunkDone]:
        def submit(chunk: Chunk) -> Any:
            return self._pool.apply_async(work.run_chunk, (self._pack, chunk.records, self._shape))

        return _windowed(chunks, submit, lambda handle: handle.get(), self._window)

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


class DaskExecutor:
    """Chunks sent to a Dask distributed cluster; the site pack travels with each task."""

    def __init__(self, pack: Pack, shape: Shape, address: str) -> None:
        from distributed import Client

        client: Any = Client(address, set_as_default=False)  # type: ignore[no-untyped-call]
        self._client, self._pack, self._shape = client, pack, shape
        self._window = max(2, 3 * sum(client.nthreads().values()))

    def map(self, chunks: Iterator[Chunk]) -> Iterator[ChunkDone]:
        def submit(chunk: Chunk) -> Any:
            return self._client.submit(
                work.run_chunk, self._pack, chunk.records, self._shape, pure=False
            )

        return _windowed(chunks, submit, lambda future: future.result(), self._window)

    def close(self) -> None:
        self._client.close()


def executor_for(pack: Pack, shape: Shape, workers: int, dask: str | None) -> Executor:
    if dask is not None:
        return DaskExecutor(pack, shape, dask)
    if workers > 1:
        return PoolExecutor(pack, shape, workers)
    return LocalExecutor(pack, shape)
