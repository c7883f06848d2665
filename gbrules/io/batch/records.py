"""The values a batch moves around: input records, chunks, outcomes, and the usage error.

Everything here is plain data with no I/O, so every other batch module (and a Dask worker that
only evaluates) can import it without pulling in a reader, a writer or pyarrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple


class BatchUsageError(ValueError):
    """A batch that cannot start as asked (format, missing pyarrow, ``--resume``): exit 2.

    Raised before any file is written or changed, so a refused run leaves everything as it was.
    """


class Format(StrEnum):
    """A file format for batch input or output. ``fhir-ndjson`` is input only: a FHIR Bulk
    Data export directory, one record per patient (``gbrules.io.fhir.bulk``)."""

    ndjson = "ndjson"
    parquet = "parquet"
    fhir_ndjson = "fhir-ndjson"


#: The key of a FHIR Bulk Data input record that is a line no patient's bundle can hold
#: (``{PROBLEM_KEY: {"file", "line", "message"}}``): the worker turns it into a reject.
PROBLEM_KEY = "gbrules.bulk-problem"

# One input record's payload: a raw NDJSON line without its newline (or a Parquet cell's text),
# a dict (a Parquet row of nested columns, nulls already dropped) or None (a null Parquet cell).
Raw = bytes | dict[str, Any] | None


class InputRecord(NamedTuple):
    """One input line (or row) with its 1-based number, which every output and reject carries."""

    line: int
    raw: Raw


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive input records, the unit of work, and where the input stands after them.

    ``end_offset`` is the byte offset just after the chunk's last line for NDJSON input (so a
    resumed run can seek straight there) and None for Parquet input (rows are skipped by count).
    """

    records: list[InputRecord]
    end_offset: int | None

    @property
    def last_line(self) -> int:
        return self.records[-1].line


class OutRow(NamedTuple):
    """One evaluation as a Parquet output row (the columns of ``parquet.schema``)."""

    line: int
    patient_id: str | None
    codes: list[str]
    requires_immediate_action: bool
    rulebook_version: str
    evaluation: str | None  # the Evaluation JSON; None with --summary (no such column)


class Rejected(NamedTuple):
    """An input line that gave no evaluation: its rejects-file line (JSON, no newline)."""

    line: int
    text: str


# What one input record becomes: an NDJSON output line (JSON text, no newline), a Parquet
# output row, or a reject. Always exactly one per input record, in input order.
Outcome = str | OutRow | Rejected


@dataclass(frozen=True, slots=True)
class Shape:
    """What an evaluation is written as: the full Evaluation or the summary, as text or a row;
    and the site it is evaluated for (its configuration as JSON, shipped to every worker like
    the site pack) as of which day (ISO; older dated values are stale). ``fhir``: the input
    records are FHIR Bundles (Bulk Data), mapped to intakes as of that day."""

    summary: bool
    rows: bool  # True: OutRow (Parquet output); False: JSON text (NDJSON output)
    site: str | None = None
    as_of: str | None = None
    fhir: bool = False


@dataclass(frozen=True, slots=True)
class ChunkDone:
    """A chunk with its outcomes (one per record, same order), as an executor hands it back."""

    chunk: Chunk
    outcomes: list[Outcome]
