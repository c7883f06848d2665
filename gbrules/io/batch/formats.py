"""Readers and writers behind one small interface, chosen by format (like httpx transports).

The run loop in ``run.py`` only sees an ``InputSource`` (chunks of numbered records from a
given point) and an ``OutputWriter`` (append outcomes, report progress, commit a consistent
point durably, finish). NDJSON lives in ``ndjson.py``; Parquet in ``parquet.py``, imported
here only when a Parquet file is asked for, so NDJSON never needs pyarrow.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from gbrules.io.batch import ndjson
from gbrules.io.batch.manifest import FileProgress, Progress
from gbrules.io.batch.records import (
    PROBLEM_KEY,
    BatchUsageError,
    Chunk,
    Format,
    InputRecord,
    OutRow,
)

INSTALL_PARQUET = "Parquet needs pyarrow: install gbrules[parquet] (pip install 'gbrules[parquet]')"


def parquet() -> ModuleType:
    """``gbrules.io.batch.parquet``, or BatchUsageError when pyarrow is not installed."""
    try:
        return importlib.import_module("gbrules.io.batch.parquet")
    except ImportError:
        raise BatchUsageError(INSTALL_PARQUET) from None


class InputSource(Protocol):
    """Numbered input records in chunks, from a point of a run."""

    column: str | None  # Parquet input: the JSON text column (None: nested columns, or NDJSON)

    def chunks(self, start: Progress, chunk_size: int) -> Iterator[Chunk]: ...

    def total(self) -> int: ...

    def close(self) -> None: ...


class OutputWriter(Protocol):
    """Where evaluations go. ``commit`` makes a point durable; ``finish`` completes OUT."""

    @property
    def pending(self) -> int: ...

    def write(self, records: Sequence[str | OutRow]) -> None: ...

    def progress(self) -> FileProgress: ...

    def commit(self, point: FileProgress) -> FileProgress: ...

    def finish(self) -> int: ...

    def close(self) -> None: ...


class NdjsonInput:
    """NDJSON lines, read no further than the fingerprinted ``size``."""

    column: str | None = None

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self._size = size
        self._f = path.open("rb")

    def chunks(self, start: Progress, chunk_size: int) -> Iterator[Chunk]:
        offset = start.input_offset or 0
        return ndjson.read_chunks(self._f, start.lines_done, offset, self._size, chunk_size)

    def total(self) -> int:
        return ndjson.count_lines(self.path)

    def close(self) -> None:
        self._f.close()


class ParquetInput:
    """Parquet rows: a column of JSON text, or nested columns (see ``parquet.py``)."""

    def __init__(self, path: Path, column: str | None) -> None:
        self._pq = parquet()
        self._file: Any = self._pq.open_input(path)
        self.column: str | None = self._pq.text_column(self._file, column)

    def chunks(self, start: Progress, chunk_size: int) -> Iterator[Chunk]:
        chunks: Iterator[Chunk] = self._pq.read_chunks(
            self._file, self.column, start.lines_done, chunk_size
        )
        return chunks

    def total(self) -> int:
        return int(self._pq.row_count(self._file))

    def close(self) -> None:
        self._file.close()


class FhirBulkInput:
    """A FHIR Bulk Data export directory: one record per patient, in patient-id order (the
    record's number is the patient's), then one per line no patient can hold (a reject).

    Each record is the patient's Bundle as JSON text; the worker maps it to an intake
    (``work.evaluate_lines``), so the mapping runs in the workers, not here. The export is
    read and spilled once per run (``gbrules.io.fhir.bulk``); a resumed run indexes it again
    (the same bytes give the same order) and skips the patients done.
    """

    column: str | None = None

    def __init__(self, path: Path) -> None:
        from gbrules.io.fhir.bulk import BulkExport

        if not path.is_dir():
            raise BatchUsageError(f"FHIR Bulk Data input must be a directory: {path}")
        self._export = BulkExport(path)
        self._export.index()

    def chunks(self, start: Progress, chunk_size: int) -> Iterator[Chunk]:
        records: list[InputRecord] = []
        for p in self._export.bundles(after=start.lines_done):
            records.append(InputRecord(p.number, p.bundle))
            if len(records) >= chunk_size:
                yield Chunk(records, None)
                records = []
        first = self._export.patients
        for i, problem in enumerate(self._export.problems, first + 1):
            if i <= start.lines_done:
                continue
            body = {PROBLEM_KEY: {"file": problem.file, "line": problem.line,
                                  "message": problem.message}}  # fmt: skip
            records.append(InputRecord(i, body))
            if len(records) >= chunk_size:
                yield Chunk(records, None)
                records = []
        if records:
            yield Chunk(records, None)

    def total(self) -> int:
        return self._export.patients + len(self._export.problems)

    def close(self) -> None:
        self._export.close()


def open_input(fmt: Format, path: Path, column: str | None, size: int) -> InputSource:
    """The input reader; ``column`` only for Parquet input (else BatchUsageError)."""
    if fmt is Format.parquet:
        return ParquetInput(path, column)
    if column is not None:
        raise BatchUsageError("--column applies to Parquet input only")
    if fmt is Format.fhir_ndjson:
        return FhirBulkInput(path)
    if path.is_dir():
        raise BatchUsageError(
            f"{path} is a directory: a FHIR Bulk Data export needs --fhir-ndjson "
            "(--in-format fhir-ndjson)"
        )
    return NdjsonInput(path, size)


def open_output(
    fmt: Format, out: Path, summary: bool, row_group_size: int, resume_from: FileProgress | None
) -> OutputWriter:
    """The output writer, afresh (``resume_from=None``) or continuing a committed point."""
    if fmt is Format.fhir_ndjson:
        raise BatchUsageError("fhir-ndjson is an input format: write NDJSON or Parquet")
    if fmt is Format.parquet:
        writer: OutputWriter = parquet().PartsWriter(out, summary, row_group_size, resume_from)
        return writer
    return ndjson.LineWriter(out, resume_from)


def forget_output(fmt: Format, out: Path) -> None:
    """Remove what a completed run no longer needs beside OUT (Parquet part files)."""
    if fmt is Format.parquet:
        parquet().remove_parts(out)
