"""Parquet input and output for ``gbrules batch`` (the optional ``parquet`` extra: pyarrow).

Input: one row per intake, read in record batches (``ParquetFile.iter_batches``), so memory
stays flat however large the file; a resumed run skips whole row groups by their metadata.
Two layouts:

(a) a string column ``intake`` (or ``--column NAME``) holding Intake JSON v1 text; other
    columns are ignored. Each cell goes through exactly the path an NDJSON line takes.
(b) otherwise, the columns themselves mirror Intake JSON v1: ``age``, ``sex``, struct columns
    ``gi``, ``mood`` (with struct ``phq9``...), ``labs``... Each row becomes a dict; keys whose
    value is null are dropped at every level, so a field absent in a row stays "not recorded"
    exactly as an absent key in NDJSON (a null struct field is not an explicit value).

Output: columns ``line``, ``patient_id``, ``codes``, ``requires_immediate_action``,
``rulebook_version`` and ``evaluation`` (the Evaluation JSON, left out with ``--summary``).

Why part files: a Parquet file is only readable once its footer is written, and it cannot be
appended to or cut back. A run killed mid-file (SIGKILL, power loss) would leave nothing
readable, so the rows a commit makes durable go to their own small file in ``OUT.parts/``
(written to a temporary name, fsynced, renamed, directory fsynced) and the manifest lists the
committed parts. Parts are Arrow IPC files (zstd-compressed record batches): writing one costs
less than a Parquet file and reading it back almost nothing, so the output is encoded as
Parquet only once. When the input is done, the parts are assembled into OUT: streamed in order
into a temporary Parquet file in row groups of exactly ``row_group_size`` rows (whatever the
part sizes were, so an interrupted and resumed run gives the same bytes as an uninterrupted
one), fsynced and renamed over OUT; then the manifest says ``complete`` and the parts are
removed. A kill during assembly leaves OUT as it was and the parts in place, and the resume
assembles again. Memory stays bounded: a commit is forced whenever ``row_group_size`` rows are
waiting, and assembly holds at most one row group plus one part.

This module imports pyarrow at import time: ``formats.parquet()`` imports it and turns a
missing pyarrow into a clear usage error.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from gbrules.io.batch.manifest import FileProgress, Part
from gbrules.io.batch.records import BatchUsageError, Chunk, InputRecord, OutRow, Raw
from gbrules.io.extras import require
from gbrules.io.files import atomic_write, fsync_dir

require("parquet", "Parquet batch input and output (gbrules.io.batch.parquet)")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

DEFAULT_COLUMN = "intake"
PARTS_SUFFIX = ".parts"

_TEXT_TYPES = (pa.string(), pa.large_string(), pa.binary(), pa.large_binary())


# ------------------------------------------------------------------ input


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

    Layout (a) gives the cell's UTF-8 bytes (None for a null cell), layout (b) a dict. Row
    groups wholly before ``skip`` are not read at all.
    """
    meta = pf.metadata
    first, number = 0, 0
    while first < meta.num_row_groups and number + meta.row_group(first).num_rows <= skip:
        number += meta.row_group(first).num_rows
        first += 1
    records: list[InputRecord] = []
    columns = [column] if column is not None else None
    groups = list(range(first, meta.num_row_groups))
    batches = pf.iter_batches(batch_size=max(size, 1024), columns=columns, row_groups=groups)
    for batch in batches if groups else ():
        if number < skip:
            cut = min(skip - number, batch.num_rows)
            batch = batch.slice(cut)
            number += cut
        items: list[Raw]
        if column is not None:
            items = [
                v.encode("utf-8") if isinstance(v, str) else v for v in batch.column(0).to_pylist()
            ]
        else:
            items = [present(row) for row in batch.to_pylist()]
        for item in items:
            number += 1
            records.append(InputRecord(number, item))
            if len(records) >= size:
                yield Chunk(records, None)
                records = []
    if records:
        yield Chunk(records, None)


# ------------------------------------------------------------------ output


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


_PART_OPTIONS = pa.ipc.IpcWriteOptions(
    compression="zstd" if pa.Codec.is_available("zstd") else None
)


def _write_part(table: Any, f: BinaryIO) -> None:
    with pa.ipc.new_file(f, table.schema, options=_PART_OPTIONS) as writer:
        writer.write_table(table)


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + PARTS_SUFFIX)


@dataclass(frozen=True)
class _Buffer:
    """Rows not yet in a part: ``rows[0]`` is record number ``first`` (0-based) of OUT."""

    first: int
    rows: list[OutRow]


class PartsWriter:
    """Evaluation rows into committed part files, assembled into OUT when the run is done.

    ``resume_from=None`` starts afresh: an earlier OUT and its parts are removed (so no stale
    file passes for this run's output). Otherwise the committed parts are checked (present,
    with their recorded sizes) and anything else in the parts directory (a part written after
    the last commit, a temporary file) is removed.

    The committed state (``_done``) and the buffer are each replaced in one assignment, and
    rows are picked by record number, so a commit interrupted anywhere (Ctrl-C) and then
    repeated writes each row exactly once.
    """

    def __init__(
        self, out: Path, summary: bool, row_group_size: int, resume_from: FileProgress | None
    ) -> None:
        self.out = out
        self.dir = parts_dir(out)
        self._schema = schema(summary)
        self._summary = summary
        self.row_group_size = row_group_size
        if resume_from is None:
            out.unlink(missing_ok=True)
            shutil.rmtree(self.dir, ignore_errors=True)
            resume_from = FileProgress()
        else:
            for part in resume_from.parts:
                path = self.dir / part.name
                if not path.is_file() or path.stat().st_size != part.bytes:
                    raise BatchUsageError(
                        f"cannot resume: part file {path} is missing or changed (the manifest "
                        f"records {part.bytes} bytes); start again without --resume"
                    )
            keep = {p.name for p in resume_from.parts}
            if self.dir.is_dir():
                for stray in self.dir.iterdir():
                    if stray.name not in keep:
                        stray.unlink()
        self._done = resume_from
        self._buffer = _Buffer(resume_from.records, [])
        self.dir.mkdir(exist_ok=True)
        fsync_dir(self.dir.parent)

    def write(self, rows: Sequence[str | OutRow]) -> None:
        for row in rows:
            if isinstance(row, str):
                raise TypeError("Parquet output expects evaluation rows, not JSON text")
        self._buffer.rows.extend(rows)  # type: ignore[arg-type]  # checked just above

    @property
    def pending(self) -> int:
        """Rows waiting for the next commit (a commit is forced at ``row_group_size``)."""
        return self._buffer.first + len(self._buffer.rows) - self._done.records

    def progress(self) -> FileProgress:
        return self._done.model_copy(
            update={"records": self._buffer.first + len(self._buffer.rows)}
        )

    def commit(self, point: FileProgress) -> FileProgress:
        """Write the rows up to record ``point.records`` as a new part, durably."""
        done, buffer = self._done, self._buffer
        rows = buffer.rows[done.records - buffer.first : point.records - buffer.first]
        if rows:
            name = f"part-{len(done.parts) + 1:06d}.arrow"
            table = self._table(rows)
            size = atomic_write(self.dir / name, lambda f: _write_part(table, f))
            self._done = done = FileProgress(
                records=done.records + len(rows),
                bytes=done.bytes + size,
                parts=(*done.parts, Part(name=name, rows=len(rows), bytes=size)),
            )
        self._buffer = _Buffer(done.records, buffer.rows[done.records - buffer.first :])
        return done

    def _table(self, rows: list[OutRow]) -> Any:
        columns = list(zip(*rows, strict=True))
        if self._summary:
            columns = columns[:5]
        return pa.Table.from_arrays(
            [pa.array(list(c), type=f.type) for c, f in zip(columns, self._schema, strict=True)],
            schema=self._schema,
        )

    def finish(self) -> int:
        """Assemble the committed parts into OUT (atomically); return OUT's size."""
        return atomic_write(self.out, self._assemble)

    def _assemble(self, f: BinaryIO) -> None:
        size = self.row_group_size
        with pq.ParquetWriter(f, self._schema) as writer:
            held: list[Any] = []
            count = 0
            for part in self._done.parts:
                with pa.memory_map(str(self.dir / part.name)) as source:
                    table = pa.ipc.open_file(source).read_all()
                held.append(table)
                count += table.num_rows
                while count >= size:
                    both = pa.concat_tables(held)
                    # Contiguous arrays: the encoding must not depend on where parts ended.
                    writer.write_table(both.slice(0, size).combine_chunks(), row_group_size=size)
                    held, count = [both.slice(size)], count - size
            if count:
                rest = pa.concat_tables(held).combine_chunks()
                writer.write_table(rest, row_group_size=size)

    def close(self) -> None:
        """Drop the rows not committed (nothing else is open between commits)."""
        self._buffer = _Buffer(self._done.records, [])


def remove_parts(out: Path) -> None:
    """Remove the parts of a run whose completion is recorded (they are no longer needed)."""
    directory = parts_dir(out)
    if directory.exists():
        shutil.rmtree(directory, ignore_errors=True)
        fsync_dir(directory.parent)
