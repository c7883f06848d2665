"""Parquet input and output for ``gbrules batch`` (the optional ``parquet`` extra: pyarrow).

Input: one row per intake, read in record batches (``ParquetFile.iter_batches``), so memory
stays flat however large the file. Two layouts:

(a) a string column ``intake`` (or ``--column NAME``) holding Intake JSON v1 text; other
    columns are ignored. Each cell goes through exactly the path an NDJSON line takes.
(b) otherwise, the columns themselves mirror Intake JSON v1: ``age``, ``sex``, struct columns
    ``gi``, ``mood`` (with struct ``phq9``...), ``labs``... Each row becomes a dict; keys whose
    value is null are dropped at every level, so a field absent in a row stays "not recorded"
    exactly as an absent key in NDJSON (a null struct field is not an explicit value).

Output: ``ParquetWriter`` row groups of at most ``row_group_size`` rows, written as results
arrive (in input order); columns ``line``, ``patient_id``, ``codes``,
``requires_immediate_action``, ``rulebook_version`` and ``evaluation`` (the Evaluation JSON,
left out with ``--summary``). Closing the writer (also on Ctrl-C) writes the footer, so the
file is always a readable prefix of the run, and ``--resume`` can continue it.

This module imports pyarrow at import time: import it only after ``require()`` succeeded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gbrules.io.batch.run import BatchUsageError, Chunk, OutRow, Raw

DEFAULT_COLUMN = "intake"
DEFAULT_ROW_GROUP = 10_000

_TEXT_TYPES = (pa.string(), pa.large_string(), pa.binary(), pa.large_binary())


def open_input(path: Path) -> Any:
    """The Parquet file at ``path`` (footer read and checked), or BatchUsageError."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, ValueError) as exc:
        raise BatchUsageError(f"cannot read {path} as Parquet: {exc}") from None


def text_column(pf: Any, column: str | None) -> str | None:
    """The layout-(a) column name, or None for layout (b) (nested columns)."""
    schema = pf.schema_arrow
    name = column or DEFAULT_COLUMN
    if name not in schema.names:
        if column is not None:
            raise BatchUsageError(
                f"--column {column}: no such column (columns: {', '.join(schema.names)})"
            )
        return None
    kind = schema.field(name).type
    if not any(kind.equals(t) for t in _TEXT_TYPES):
        raise BatchUsageError(
            f"column {name!r} is {kind}, not a string column of Intake JSON text"
            + ("" if column else "; for nested columns, do not name a column 'intake'")
        )
    return name


def row_count(pf: Any) -> int:
    return int(pf.metadata.num_rows)


def present(value: Any) -> Any:
    """``value`` with every null-valued dict key removed, at any depth (nulls in lists stay)."""
    if isinstance(value, dict):
        return {k: present(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [present(v) for v in value]
    return value


def read_chunks(pf: Any, column: str | None, skip: int, size: int) -> Iterator[Chunk]:
    """Chunks of (1-based row number, intake) after the first ``skip`` rows.

    Layout (a) gives the cell's UTF-8 bytes (None for a null cell), layout (b) a dict.
    """
    number = 0
    chunk: Chunk = []
    columns = [column] if column is not None else None
    for batch in pf.iter_batches(batch_size=max(size, 1024), columns=columns):
        n = batch.num_rows
        if number + n <= skip:
            number += n
            continue
        if number < skip:
            batch = batch.slice(skip - number)
            number = skip
        items: list[Raw]
        if column is not None:
            items = [
                v.encode("utf-8") if isinstance(v, str) else v for v in batch.column(0).to_pylist()
            ]
        else:
            items = [present(row) for row in batch.to_pylist()]
        for item in items:
            number += 1
            chunk.append((number, item))
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def schema(summary: bool) -> Any:
    fields = [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("patient_id", pa.string(), nullable=True),
        pa.field("codes", pa.list_(pa.string()), nullable=False),
        pa.field("requires_immediate_action", pa.bool_(), nullable=False),
        pa.field("rulebook_version", pa.string(), nullable=False),
    ]
    if not summary:
        fields.append(pa.field("evaluation", pa.string(), nullable=False))
    return pa.schema(fields)


def completed_rows(path: Path, summary: bool) -> int:
    """Rows an earlier run left in ``path`` (0 when there is no file), for ``--resume``.

    Refuses (BatchUsageError) a file that is not readable Parquet (a run killed before it
    closed the file leaves no footer, so its rows cannot be read) or that has other columns
    (an earlier run with or without ``--summary``).
    """
    if not path.exists():
        return 0
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise BatchUsageError(
            f"cannot resume: {path} is not a readable Parquet file ({exc}); a run that was "
            "killed before closing it leaves no footer: rerun without --resume"
        ) from None
    if not pf.schema_arrow.equals(schema(summary)):
        raise BatchUsageError(
            f"cannot resume: {path} has other columns than this run would write "
            "(was the earlier run made with a different --summary?)"
        )
    return int(pf.metadata.num_rows)


class ParquetSink:
    """Evaluation rows into a Parquet file, one row group per ``row_group_size`` rows.

    With ``resume``, a Parquet file cannot be appended to, so the sink writes a new file next
    to it: first the earlier run's row groups (copied one at a time, so memory stays flat),
    then the new rows; closing it replaces the old file in one step (``os.replace``). An
    interruption before that leaves the earlier file as it was.
    """

    def __init__(
        self,
        path: Path,
        summary: bool,
        row_group_size: int = DEFAULT_ROW_GROUP,
        resume: bool = False,
    ):
        self._schema = schema(summary)
        self._summary = summary
        self._size = max(1, row_group_size)
        self._rows: list[OutRow] = []
        self._final: Path | None = None
        target = path
        if resume and path.exists():
            self._final = path
            target = path.with_name(f".{path.name}.resume-{os.getpid()}")
        self._target = target
        self._writer = pq.ParquetWriter(target, self._schema)
        if self._final is not None:
            earlier = pq.ParquetFile(self._final)
            for i in range(earlier.num_row_groups):
                group = earlier.read_row_group(i)
                self._writer.write_table(group, row_group_size=max(1, group.num_rows))

    def add(self, item: str | OutRow) -> None:
        if isinstance(item, str):
            raise TypeError("Parquet output expects evaluation rows, not JSON text")
        self._rows.append(item)
        if len(self._rows) >= self._size:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        columns = list(zip(*self._rows, strict=True))
        if self._summary:
            columns = columns[:5]
        table = pa.Table.from_arrays(
            [pa.array(list(c), type=f.type) for c, f in zip(columns, self._schema, strict=True)],
            schema=self._schema,
        )
        self._writer.write_table(table, row_group_size=len(self._rows))
        self._rows.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._writer.close()
            if self._final is not None:
                os.replace(self._target, self._final)
                self._final = None
