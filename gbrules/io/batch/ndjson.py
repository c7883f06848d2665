"""NDJSON input and line output (OUT in NDJSON, and the rejects file in every run).

Input is read from where the run stands (a byte offset, so a resume seeks instead of
re-reading) up to the size the manifest fingerprinted, never past it: what is evaluated is
exactly what was hashed, even if the file grows meanwhile.

``LineWriter`` appends whole lines and keeps its own count of records and bytes; ``commit``
fsyncs the file and reports a given consistent point (the manifest records it). On resume the
file is cut back to the recorded size: lines written after the last commit, including a torn
last line, are dropped and written again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from gbrules.io.batch.manifest import FileProgress
from gbrules.io.batch.records import BatchUsageError, Chunk, InputRecord, OutRow
from gbrules.io.files import fsync_dir


def read_chunks(
    f: BinaryIO, lines_done: int, offset: int, size: int, chunk_size: int
) -> Iterator[Chunk]:
    """Chunks of numbered lines from byte ``offset`` (after ``lines_done`` lines) to ``size``.

    A last line without a newline counts; ``\\r\\n`` endings are accepted.
    """
    f.seek(offset)
    number, pos = lines_done, offset
    records: list[InputRecord] = []
    while pos < size:
        raw = f.readline(size - pos)
        if not raw:
            break  # the file shrank: the fingerprint check refuses that before a resume
        pos += len(raw)
        number += 1
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        records.append(InputRecord(number, raw))
        if len(records) >= chunk_size:
            yield Chunk(records, pos)
            records = []
    if records:
        yield Chunk(records, pos)


def count_lines(path: Path) -> int:
    """Input lines (a last line without a newline counts), for the progress bar."""
    n = 0
    last = b"\n"
    with path.open("rb") as f:
        while data := f.read(1 << 20):
            n += data.count(b"\n")
            last = data[-1:]
    return n + (last != b"\n")


class LineWriter:
    """Lines of text into a file, with the durable-commit protocol described above.

    ``resume_from=None`` starts the file afresh (truncated); otherwise the file is cut back to
    ``resume_from.bytes`` (BatchUsageError if it is shorter: it was changed outside gbrules).
    """

    def __init__(self, path: Path, resume_from: FileProgress | None) -> None:
        self.path = path
        self._records = 0
        self._bytes = 0
        self._named = False  # the file's directory entry is durable (fsynced once)
        if resume_from is None:
            self._f: BinaryIO = path.open("wb")
            return
        if resume_from.bytes == 0 and not path.exists():
            self._f = path.open("wb")
            return
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = -1
        if size < resume_from.bytes:
            state = "is missing" if size < 0 else f"has {size} bytes"
            raise BatchUsageError(
                f"cannot resume: {path} {state}, but the manifest records {resume_from.bytes} "
                "durable bytes: it was changed outside gbrules; start again without --resume"
            )
        self._f = path.open("r+b")
        self._f.truncate(resume_from.bytes)
        self._f.seek(resume_from.bytes)
        self._records, self._bytes = resume_from.records, resume_from.bytes
        self._named = True

    @property
    def pending(self) -> int:
        """Lines are written as they come: nothing waits in memory for a commit."""
        return 0

    def write(self, lines: Sequence[str | OutRow]) -> None:
        if not lines:
            return
        parts: list[str] = []
        for line in lines:
            if not isinstance(line, str):
                raise TypeError("NDJSON output expects JSON text, not Parquet rows")
            parts.append(line)
        parts.append("")
        data = "\n".join(parts).encode("utf-8")
        self._f.write(data)
        self._bytes += len(data)
        self._records += len(lines)

    def progress(self) -> FileProgress:
        """Everything written so far (not yet durable: see ``commit``)."""
        return FileProgress(records=self._records, bytes=self._bytes)

    def commit(self, point: FileProgress) -> FileProgress:
        """Make the file durable up to ``point`` (an earlier or the current ``progress()``)."""
        self._f.flush()
        os.fsync(self._f.fileno())
        if not self._named:
            fsync_dir(self.path.parent)
            self._named = True
        return point

    def finish(self) -> int:
        """The run is complete: the file's final size."""
        self._f.flush()
        return self._bytes

    def close(self) -> None:
        self._f.close()
