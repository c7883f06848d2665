"""FHIR Bulk Data: a ``$export`` directory of NDJSON files, grouped by patient in bounded memory.

A Bulk Data export writes one or more NDJSON files per resource type (``Patient.ndjson``,
``Observation.ndjson``, ``Observation.2.ndjson``...), each line a resource, the patients' data
spread over all of them. :class:`BulkExport` reads the files the FHIR mapping uses (the
resource type is read from each file's lines, not guessed from its name; other types, such as
Encounter or Claim, are never read), and spills each resource to a temporary SQLite database
keyed by patient. Reading the patients back in patient-id order then gives one Bundle per
patient, built as JSON text without parsing the resources again; memory holds one patient at a
time, however large the export.

What is kept: every Patient, Condition, MedicationRequest, MedicationStatement and
QuestionnaireResponse, the Observations with a LOINC code the mapping reads (the vital signs
and the hundreds of other results of a real record cannot change a draft, and skipping them
is most of the speed), and the Medications (not patient-scoped: a patient's bundle gets the
ones its medication records reference). A line that is not JSON, not a resource, or belongs to
no patient is a :class:`BulkProblem` (file and line), reported, never dropped silently.

The spill database is SQLite's private temporary database: its file is unlinked by SQLite
itself, so nothing is left behind, even after SIGKILL.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gbrules.io.fhir import codes as C

#: Resource types the mapping reads, patient by patient.
PATIENT_TYPES = frozenset(
    {
        "Patient",
        "Observation",
        "Condition",
        "MedicationRequest",
        "MedicationStatement",
        "QuestionnaireResponse",
    }
)
#: The LOINC codes whose Observations are kept (every code the mapping reads).
MAPPED_LOINC = frozenset(
    {
        C.PHQ9_PANEL,
        C.PHQ9_TOTAL,
        *C.PHQ9_ITEMS,
        C.GAD7_PANEL,
        C.GAD7_TOTAL,
        *C.GAD7_ITEMS,
        C.CRP,
        C.HS_CRP,
        C.FECAL_CALPROTECTIN,
        C.TTG_IGA,
        C.BODY_WEIGHT,
    }
)
_BATCH = 2000  # rows per executemany while spilling
# Cheap tests on a line's bytes before parsing it: every resource type it names, and whether it
# holds a LOINC code the mapping reads. A line that fails them cannot be used and is not parsed
# (most of an export: vital signs, encounters, claims); one that passes is parsed and checked.
_TYPE = re.compile(rb'"resourceType"\s*:\s*"([A-Za-z]+)"')
_WANTED = frozenset(t.encode() for t in (*PATIENT_TYPES, "Medication"))
_LOINC_LIKE = re.compile(rb'"(\d{1,6}-\d)"')
_MAPPED = frozenset(c.encode() for c in MAPPED_LOINC)


@dataclass(frozen=True)
class BulkProblem:
    """A line of the export that no patient's bundle can hold, and why."""

    file: str
    line: int
    message: str


@dataclass(frozen=True)
class PatientBundle:
    """One patient's resources as a FHIR ``collection`` Bundle in JSON text (UTF-8)."""

    number: int  # 1-based, in patient-id order
    patient_id: str
    bundle: bytes


def _patient_of(resource: dict[str, Any]) -> str | None:
    """The id of the patient a resource belongs to: Patient.id, else the ``subject`` or
    ``patient`` reference (``Patient/x``, an absolute URL ending so, or ``urn:uuid:x``)."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) and rid else None
    for element in ("subject", "patient"):
        ref = resource.get(element)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            text: str = ref["reference"].split("?", 1)[0]
            if text.startswith("urn:uuid:"):
                return text[len("urn:uuid:") :] or None
            parts = text.split("/")
            if len(parts) >= 4 and parts[-2] == "_history":
                parts = parts[:-2]
            if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
                return parts[-1]
    return None


def _mapped_observation(resource: dict[str, Any]) -> bool:
    code = resource.get("code")
    codings = code.get("coding") if isinstance(code, dict) else None
    if not isinstance(codings, list):
        return False
    return any(
        isinstance(c, dict) and c.get("system") == C.LOINC and c.get("code") in MAPPED_LOINC
        for c in codings
    )


def _medication_refs(resource: dict[str, Any]) -> list[str]:
    ref = resource.get("medicationReference")
    if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
        parts = ref["reference"].split("/")
        if len(parts) >= 2 and parts[-2] == "Medication":
            return [parts[-1]]
    return []


class BulkExport:
    """A Bulk Data export directory, indexed by patient (call :meth:`index` once).

    ``files`` are the NDJSON files in the directory, sorted by name; ``problems`` the lines no
    bundle can hold; ``kept`` and ``skipped`` count the resources spilled and passed over.
    """

    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise ValueError(f"{directory} is not a directory")
        self.directory = directory
        self.files = sorted(p for p in directory.glob("*.ndjson") if p.is_file())
        self.problems: list[BulkProblem] = []
        self.kept = 0
        self.skipped = 0
        self._db = sqlite3.connect("")  # private, temporary, removed by SQLite itself
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE r (patient TEXT NOT NULL, seq INTEGER, json BLOB, meds TEXT)"
        )
        self._db.execute("CREATE TABLE m (id TEXT PRIMARY KEY, json BLOB)")
        self._db.execute("CREATE TABLE p (n INTEGER PRIMARY KEY, patient TEXT UNIQUE)")
        self._patients = 0
        self._indexed = False

    def index(self) -> None:
        """Read the files once and spill the resources the mapping uses, keyed by patient."""
        if self._indexed:
            return
        seq = 0
        rows: list[tuple[str, int, bytes, str | None]] = []
        meds: list[tuple[str, bytes]] = []
        for path in self.files:
            name = path.name
            with path.open("rb") as f:
                for number, raw in enumerate(f, 1):
                    line = raw.strip()
                    if not line:
                        continue
                    seq += 1
                    kept = self._take(name, number, line, seq, rows, meds)
                    if kept:
                        self.kept += 1
                    if len(rows) >= _BATCH:
                        self._db.executemany("INSERT INTO r VALUES (?, ?, ?, ?)", rows)
                        rows.clear()
        self._db.executemany("INSERT INTO r VALUES (?, ?, ?, ?)", rows)
        self._db.executemany("INSERT OR IGNORE INTO m VALUES (?, ?)", meds)
        self._db.execute("CREATE INDEX r_patient ON r (patient, seq)")
        self._db.execute("INSERT INTO p (patient) SELECT DISTINCT patient FROM r ORDER BY patient")
        self._db.commit()
        self._patients = int(self._db.execute("SELECT count(*) FROM p").fetchone()[0])
        self._indexed = True

    def _take(
        self,
        name: str,
        number: int,
        line: bytes,
        seq: int,
        rows: list[tuple[str, int, bytes, str | None]],
        meds: list[tuple[str, bytes]],
    ) -> bool:
        types = set(_TYPE.findall(line))
        if types and not types & _WANTED:
            self.skipped += 1
            return False
        if types == {b"Observation"} and _MAPPED.isdisjoint(_LOINC_LIKE.findall(line)):
            self.skipped += 1
            return False
        try:
            resource = json.loads(line)
        except (ValueError, RecursionError):
            self.problems.append(BulkProblem(name, number, "not a JSON line"))
            return False
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(rtype, str):
            self.problems.append(BulkProblem(name, number, "not a FHIR resource (no resourceType)"))
            return False
        if rtype == "Medication":
            rid = resource.get("id")
            if isinstance(rid, str) and rid:
                meds.append((rid, line))
                return True
            self.problems.append(BulkProblem(name, number, "Medication without an id"))
            return False
        if rtype not in PATIENT_TYPES or (
            rtype == "Observation" and not _mapped_observation(resource)
        ):
            self.skipped += 1
            return False
        patient = _patient_of(resource)
        if patient is None:
            self.problems.append(
                BulkProblem(name, number, f"{rtype} without a patient (subject or patient)")
            )
            return False
        # A medication record keeps the ids of the Medications it references beside it, so the
        # bundle can add them without parsing the record again.
        refs = _medication_refs(resource)
        rows.append((patient, seq, line, ",".join(refs) if refs else None))
        return True

    @property
    def patients(self) -> int:
        """How many patients the export holds (after :meth:`index`)."""
        return self._patients

    def bundles(self, after: int = 0) -> Iterator[PatientBundle]:
        """Each patient's bundle in patient-id order, from patient number ``after + 1``."""
        self.index()
        cursor = self._db.execute(
            "SELECT p.n, p.patient, r.json, r.meds FROM p JOIN r ON r.patient = p.patient "
            "WHERE p.n > ? ORDER BY p.n, r.seq",
            (after,),
        )
        current: tuple[int, str] | None = None
        entries: list[bytes] = []
        refs: list[str] = []
        for n, patient, blob, med_ids in cursor:
            if current is not None and current[0] != n:
                yield self._bundle(current, entries, refs)
                entries, refs = [], []
            current = (n, patient)
            entries.append(bytes(blob))
            if med_ids:
                refs += med_ids.split(",")
        if current is not None:
            yield self._bundle(current, entries, refs)

    def _bundle(
        self, current: tuple[int, str], entries: list[bytes], refs: list[str]
    ) -> PatientBundle:
        n, patient = current
        for mid in dict.fromkeys(refs):
            row = self._db.execute("SELECT json FROM m WHERE id = ?", (mid,)).fetchone()
            if row is not None:
                entries.append(bytes(row[0]))
        head = json.dumps({"resourceType": "Bundle", "type": "collection", "id": patient})
        body = b",".join(b'{"resource":' + e + b"}" for e in entries)
        return PatientBundle(n, patient, head[:-1].encode() + b',"entry":[' + body + b"]}")

    def close(self) -> None:
        self._db.close()
