"""A generated FHIR Bulk Data export: realistic in size, exact in content, for tests and benchmarks.

``write_export(directory, n, seed, as_of)`` writes a ``$export``-style directory
(``Patient.ndjson``, ``Observation.ndjson``, ``Condition.ndjson``, ``MedicationRequest.ndjson``,
``QuestionnaireResponse.ndjson``, ``Encounter.ndjson``) for the synthetic population of
``gbrules.tools.synthetic``. Each patient's clinical content is its synthetic intake, written
as an EHR would hold it: PHQ-9, GAD-7 and CRP as LOINC Observations when the intake dates them,
diagnoses as ICD-10-CM Conditions, medicines as RxNorm or ATC coded MedicationRequests, and
whatever has no FHIR code (GI symptoms, lifestyle, recorded negatives) as gbrules' intake
questionnaire. Around it, like a Synthea record, hundreds of resources the mapping does not
use: vital signs, encounters, other diagnoses and medicines. The lines of each file are
shuffled, so a patient's resources are spread through the files as in a real export.

So the FHIR mapping of a patient's resources gives back exactly the intake it came from (the
same evaluation), which lets a test check a whole Bulk Data screen against the intakes, and
the benchmark measure a realistic mapping load. Its codes are the mapping's own
(``gbrules.io.fhir.codes``), so the two cannot drift apart.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from gbrules.io.fhir.codes import (
    ATC,
    CRP,
    GAD7_ITEMS,
    GAD7_TOTAL,
    ICD10CM,
    LOINC,
    PHQ9_ITEMS,
    PHQ9_TOTAL,
    RXNORM,
    UCUM,
)
from gbrules.io.fhir.codes import INTAKE_QUESTIONNAIRE as INTAKE_FORM
from gbrules.tools.synthetic import synthetic_intakes

#: Condition field -> an ICD-10-CM code of its value set (gbrules/io/fhir/data/conditions.json).
CONDITION_CODES = {
    "ibs": "K58.9",
    "recurrent_depression": "F33.1",
    "anxiety_disorder": "F41.1",
    "inflammatory_bowel_disease": "K50.90",
    "celiac_disease": "K90.0",
    "immunocompromised": "D84.9",
    "bipolar_disorder": "F31.9",
    "eating_disorder": "F50.9",
    "prosthetic_heart_valve": "Z95.2",
    "short_bowel_syndrome": "K90.82",
    "acute_pancreatitis": "K85.90",
}
#: Medication field -> (system, code) of a product or class that feeds it, and only it.
MEDICATION_CODES = {
    "ssri": (ATC, "N06AB06"),  # sertraline
    "recent_antibiotics": (ATC, "J01CA04"),  # amoxicillin
    "probiotic": (ATC, "A07FC01"),
    "maoi": (ATC, "N06AF03"),  # phenelzine
    "st_johns_wort": (ATC, "N06AX25"),
    "other_serotonergic": (ATC, "N02AX02"),  # tramadol
    "nsaid": (ATC, "M01AE01"),  # ibuprofen
    "anticoagulant": (ATC, "B01AA03"),  # warfarin
}
#: Results the mapping does not use: (LOINC, unit, low, high), as in a Synthea record.
VITALS = (
    ("8867-4", "/min", 50, 110),  # heart rate
    ("9279-1", "/min", 10, 24),  # respiratory rate
    ("8310-5", "Cel", 36, 38),  # body temperature
    ("8302-2", "cm", 140, 200),  # body height
    ("39156-5", "kg/m2", 17, 40),  # BMI
    ("8480-6", "mm[Hg]", 95, 170),  # systolic blood pressure
    ("2339-0", "mg/dL", 70, 180),  # glucose
    ("2093-3", "mg/dL", 140, 280),  # cholesterol
    ("718-7", "g/dL", 10, 17),  # haemoglobin
)
FILES = (
    "Patient",
    "Observation",
    "Condition",
    "MedicationRequest",
    "QuestionnaireResponse",
    "Encounter",
)


@dataclass(frozen=True)
class ExportStats:
    """What was written: patients, resources (all, and those the mapping can use), bytes."""

    patients: int
    resources: int
    bytes: int


def patient_resources(
    intake: dict[str, Any], pid: str, as_of: date, rng: random.Random, noise: int
) -> Iterator[dict[str, Any]]:
    """The FHIR resources of one patient: its intake's content, then ``noise`` unused ones."""
    subject = {"reference": f"Patient/{pid}"}
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "birthDate": f"{as_of.year - intake['age']:04d}-01-01",
    }
    if "sex" in intake:
        patient["gender"] = intake["sex"]
    yield patient
    form: list[dict[str, Any]] = []  # the intake questionnaire's items
    n = 0

    def rid(kind: str) -> str:
        nonlocal n
        n += 1
        return f"{pid}-{kind}-{n}"

    def answer(path: str, value: Any) -> None:
        values = value if isinstance(value, list) else [value]
        answers: list[dict[str, Any]] = []
        for v in values:
            if isinstance(v, bool):
                answers.append({"valueBoolean": v})
            elif isinstance(v, int):
                answers.append({"valueInteger": v})
            elif isinstance(v, float):
                answers.append({"valueDecimal": v})
            elif path.endswith(".date"):
                answers.append({"valueDate": v})
            else:
                answers.append({"valueString": str(v)})
        form.append({"linkId": path, "answer": answers})

    def observation(code: str, when: str, **value: Any) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": rid("obs"),
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": subject,
            "effectiveDateTime": when,
            **value,
        }

    def walk(prefix: str, data: dict[str, Any]) -> None:
        for key, value in data.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(f"{path}.", value)
            else:
                answer(path, value)

    for key, value in intake.items():
        if key in ("patient_id", "age", "sex"):
            continue
        if key == "pregnant" and value is True:
            yield _condition(rid("cond"), subject, "Z33.1")
        elif key == "mood" and isinstance(value, dict):
            for instrument, scores in value.items():
                if instrument in ("phq9", "gad7") and "date" in scores:
                    yield from _instrument(instrument, scores, observation)
                elif isinstance(scores, dict):
                    walk(f"mood.{instrument}.", scores)
                else:
                    answer(f"mood.{instrument}", scores)
        elif key == "labs" and isinstance(value, dict):
            for lab, result in value.items():
                if lab == "crp" and "date" in result:
                    yield observation(
                        CRP,
                        result["date"],
                        valueQuantity={
                            "value": result["value"],
                            "unit": result["unit"],
                            "system": UCUM,
                            "code": result["unit"],
                        },
                    )
                elif isinstance(result, dict):
                    walk(f"labs.{lab}.", result)
                else:
                    answer(f"labs.{lab}", result)
        elif key == "conditions" and isinstance(value, dict):
            for name, present in value.items():
                if present is True and name in CONDITION_CODES:
                    yield _condition(rid("cond"), subject, CONDITION_CODES[name])
                else:
                    answer(f"conditions.{name}", present)
        elif key == "medications" and isinstance(value, dict):
            for name, taking in value.items():
                if taking is True and name in MEDICATION_CODES:
                    system, code = MEDICATION_CODES[name]
                    yield _medication(rid("med"), subject, system, code, "active", as_of)
                else:
                    answer(f"medications.{name}", taking)
        elif isinstance(value, dict):
            walk(f"{key}.", value)
        else:
            answer(key, value)
    if form:
        yield {
            "resourceType": "QuestionnaireResponse",
            "id": rid("qr"),
            "questionnaire": INTAKE_FORM,
            "status": "completed",
            "subject": subject,
            "authored": (as_of - timedelta(days=3)).isoformat(),
            "item": form,
        }
    yield from _noise(pid, subject, as_of, rng, noise, rid)


def _instrument(instrument: str, scores: dict[str, Any], observation: Any) -> Iterator[Any]:
    when = scores["date"]
    total_code, items_codes = (
        (PHQ9_TOTAL, PHQ9_ITEMS) if instrument == "phq9" else (GAD7_TOTAL, GAD7_ITEMS)
    )
    if "items" in scores:
        for code, score in zip(items_codes, scores["items"], strict=True):
            yield observation(code, when, valueInteger=score)
    if "total" in scores:
        yield observation(total_code, when, valueInteger=scores["total"])
    if "item9" in scores and "items" not in scores:
        yield observation("44260-8", when, valueInteger=scores["item9"])


def _condition(rid: str, subject: dict[str, str], code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid,
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "verificationStatus": {"coding": [{"code": "confirmed"}]},
        "code": {"coding": [{"system": ICD10CM, "code": code}]},
        "subject": subject,
    }


def _medication(
    rid: str, subject: dict[str, str], system: str, code: str, status: str, as_of: date
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": system, "code": code}]},
        "subject": subject,
        "authoredOn": (as_of - timedelta(days=20)).isoformat(),
    }


def _noise(
    pid: str, subject: dict[str, str], as_of: date, rng: random.Random, count: int, rid: Any
) -> Iterator[dict[str, Any]]:
    """Resources a real record holds that the mapping does not use."""
    for i in range(count):
        kind = rng.random()
        when = (as_of - timedelta(days=rng.randrange(1, 3650))).isoformat()
        if kind < 0.75:
            code, unit, lo, hi = VITALS[i % len(VITALS)]
            yield {
                "resourceType": "Observation",
                "id": rid("vital"),
                "status": "final",
                "category": [{"coding": [{"code": "vital-signs"}]}],
                "code": {"coding": [{"system": LOINC, "code": code}]},
                "subject": subject,
                "effectiveDateTime": when,
                "valueQuantity": {
                    "value": round(rng.uniform(lo, hi), 1),
                    "unit": unit,
                    "system": UCUM,
                    "code": unit,
                },
            }
        elif kind < 0.95:
            yield {
                "resourceType": "Encounter",
                "id": rid("enc"),
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": subject,
                "period": {"start": when, "end": when},
            }
        elif kind < 0.98:
            cond = _condition(rid("cond"), subject, "I10")  # essential hypertension
            cond["clinicalStatus"] = {"coding": [{"code": rng.choice(["active", "resolved"])}]}
            yield cond
        else:  # amlodipine 5 MG Oral Tablet: a medicine of no class gbrules reads
            yield _medication(rid("med"), subject, RXNORM, "197361", "active", as_of)


def export_intakes(n: int, seed: int) -> list[dict[str, Any]]:
    """The intakes the export holds, each with its patient id (``gen-SEED-I`` if it had none)."""
    out = []
    for i, intake in enumerate(synthetic_intakes(n, seed)):
        pid = intake.get("patient_id") or f"gen-{seed}-{i}"
        out.append({**intake, "patient_id": pid})
    return out


def write_export(directory: Path, n: int, seed: int, as_of: date, noise: int = 300) -> ExportStats:
    """Write the export of ``n`` synthetic patients (seeded) into ``directory``."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    lines: dict[str, list[str]] = {name: [] for name in FILES}
    for intake in export_intakes(n, seed):
        for r in patient_resources(intake, intake["patient_id"], as_of, rng, noise):
            lines[r["resourceType"]].append(json.dumps(r, separators=(",", ":")))
    directory.mkdir(parents=True, exist_ok=True)
    written = 0
    total = 0
    for name, rows in lines.items():
        rng.shuffle(rows)
        data = "\n".join(rows) + "\n"
        (directory / f"{name}.ndjson").write_text(data, encoding="utf-8")
        written += len(data.encode("utf-8"))
        total += len(rows)
    return ExportStats(n, total, written)
