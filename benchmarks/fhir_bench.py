"""FHIR rows of the benchmark: a typical patient-view prefetch, and a Bulk Data screen.

    .venv/bin/python benchmarks/fhir_bench.py                 # 1,000 patients, ~300 resources each
    .venv/bin/python benchmarks/fhir_bench.py --patients 2000 --json

* ``US_CORE_PREFETCH`` is what a US Core EHR sends for the patient-view prefetch of one
  patient with a PHQ-9 done item by item and scored: the Patient, the nine PHQ-9 item
  Observations with LOINC answers and the total as text, a GAD-7 total, three CRP results, six
  Conditions (ICD-10-CM and SNOMED CT, some the mapping does not use), six MedicationRequests
  (RxNorm products, one unlisted) and the PHQ-9 QuestionnaireResponse: 28 resources. The
  service's path on it (``read_prefetch`` then ``intake_from_resources``) is measured as a
  multiple of one ``Engine.evaluate`` (bench.py's surfaces rows; goal <= 10).
* ``measure_bulk`` writes a generated Bulk Data export (``gbrules.io.fhir.synthetic_export``: every
  patient's intake as FHIR among hundreds of resources the mapping does not use), screens it
  with ``gbrules batch --fhir-ndjson`` on 1 and 2 workers (patients/s, wall clock, outputs
  compared), and splits one process's time into its parts: indexing the export (read, parse,
  spill to SQLite), reading each patient's bundle back, decoding it, mapping it
  (``intake_from_fhir``) and evaluating it. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from gbrules.io.batch import BatchOptions, run_batch

AS_OF = date(2026, 11, 30)
LOINC = "http://loinc.org"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
PHQ9_ITEMS = ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
              "44253-3", "44260-8")  # fmt: skip
ANSWERS = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")


def _searchset(*resources: dict[str, Any]) -> dict[str, Any] | None:
    if not resources:
        return None
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def us_core_prefetch() -> dict[str, Any]:
    """A typical US Core patient-view prefetch (see the module docstring)."""
    subject = {"reference": "Patient/bench"}
    survey = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                           "code": "survey"}]}]  # fmt: skip

    def obs(oid: str, code: str, when: str, **value: Any) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": oid, "status": "final", "category": survey,
                "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": subject,
                "effectiveDateTime": when, **value}  # fmt: skip

    scores = (2, 2, 1, 2, 1, 1, 2, 1, 0)
    mood = [
        obs(f"i{n}", code, "2026-11-20T10:00:00Z",
            valueCodeableConcept={"coding": [{"system": LOINC, "code": ANSWERS[s]}]})
        for n, (code, s) in enumerate(zip(PHQ9_ITEMS, scores, strict=True))
    ]  # fmt: skip
    mood.append(obs("t", "44261-6", "2026-11-20T10:00:00Z", valueString=str(sum(scores))))
    mood.append(obs("g", "70274-6", "2026-11-20T10:00:00Z", valueInteger=9))
    labs = [
        obs(f"crp{n}", "1988-5", f"2026-{m:02d}-05T08:00:00Z",
            valueQuantity={"value": v, "unit": "mg/L", "system": "http://unitsofmeasure.org",
                           "code": "mg/L"})
        for n, (m, v) in enumerate(((3, 2.1), (7, 4.8), (11, 3.2)))
    ]  # fmt: skip
    conditions = [
        {"resourceType": "Condition", "id": f"c{n}", "subject": subject,
         "clinicalStatus": {"coding": [{"code": "active"}]},
         "verificationStatus": {"coding": [{"code": "confirmed"}]},
         "code": {"coding": [{"system": system, "code": code}]}}
        for n, (system, code) in enumerate(((ICD, "K58.0"), (ICD, "I10"), (SCT, "370143000"),
                                            (ICD, "E11.9"), (SCT, "72892002"), (ICD, "F41.1")))
    ]  # fmt: skip
    meds = [
        {"resourceType": "MedicationRequest", "id": f"m{n}", "status": status, "intent": "order",
         "subject": subject, "authoredOn": "2026-10-01",
         "medicationCodeableConcept": {"coding": [{"system": RX, "code": code}]}}
        for n, (code, status) in enumerate((("312938", "active"), ("308191", "completed"),
                                            ("197361", "active"), ("855332", "active"),
                                            ("243670", "active"), ("99999901", "active")))
    ]  # fmt: skip
    qr = {
        "resourceType": "QuestionnaireResponse", "id": "qr", "status": "completed",
        "questionnaire": "http://hl7.org/fhir/us/core/Questionnaire/phq-9-example",
        "subject": subject, "authored": "2026-11-20T10:00:00Z",
        "item": [{"linkId": f"/{code}",
                  "answer": [{"valueCoding": {"system": LOINC, "code": ANSWERS[s]}}]}
                 for code, s in zip(PHQ9_ITEMS, scores, strict=True)],
    }  # fmt: skip
    return {
        "patient": {
            "resourceType": "Patient",
            "id": "bench",
            "birthDate": "1988-04-02",
            "gender": "female",
        },
        "moodObservations": _searchset(*mood),
        "labObservations": _searchset(*labs),
        "bodyWeight": None,
        "conditions": _searchset(*conditions),
        "medicationRequests": _searchset(*meds),
        "medicationStatements": None,
        "questionnaireResponses": _searchset(qr),
    }


def prefetch_to_intake(prefetch: dict[str, Any]) -> Any:
    """The service's path from a prefetch to an intake (read every key, then map)."""
    from gbrules.io.fhir.intake import intake_from_resources
    from gbrules.io.fhir.prefetch import read_prefetch

    states = read_prefetch(prefetch)
    resources = [r for st in states.values() for r in st.resources]
    return intake_from_resources(resources, as_of=AS_OF)[0]


def measure_bulk(patients: int, noise: int, workdir: Path) -> dict[str, Any]:
    """Screen a generated export of ``patients`` on 1 and 2 workers, and split the work."""
    from gbrules.clinical.engine import cached_engine
    from gbrules.io.fhir.bulk import BulkExport
    from gbrules.io.fhir.intake import intake_from_fhir
    from gbrules.io.fhir.synthetic_export import write_export

    export = workdir / "export"
    stats = write_export(export, patients, seed=21, as_of=AS_OF, noise=noise)
    out: dict[str, Any] = {
        "patients": patients,
        "resources": stats.resources,
        "resources_per_patient": round(stats.resources / patients),
        "export_mib": round(stats.bytes / 2**20, 1),
    }
    for workers in (1, 2):
        dst = workdir / f"bulk{workers}.ndjson"
        start = time.perf_counter()
        run = run_batch(
            BatchOptions(
                source=export, out=dst, workers=workers, as_of=AS_OF.isoformat(), progress=False
            )
        )
        wall = time.perf_counter() - start
        out[f"workers_{workers}_patients_per_s"] = round(run.lines / wall, 1)
    a, b = (workdir / "bulk1.ndjson").read_bytes(), (workdir / "bulk2.ndjson").read_bytes()
    out["identical_output"] = a == b
    # One process, part by part.
    engine = cached_engine()
    parts = dict.fromkeys(("index", "bundles", "decode", "mapping", "evaluation"), 0.0)
    t0 = time.perf_counter()
    bulk = BulkExport(export)
    bulk.index()
    parts["index"] = time.perf_counter() - t0
    t_read = time.perf_counter()
    for p in bulk.bundles():
        t1 = time.perf_counter()
        parts["bundles"] += t1 - t_read
        data = json.loads(p.bundle)
        t2 = time.perf_counter()
        intake, _ = intake_from_fhir(data, as_of=AS_OF)
        t3 = time.perf_counter()
        engine.evaluate(intake)
        t4 = time.perf_counter()
        parts["decode"] += t2 - t1
        parts["mapping"] += t3 - t2
        parts["evaluation"] += t4 - t3
        t_read = time.perf_counter()
    bulk.close()
    total = sum(parts.values())
    out["one_process_patients_per_s"] = round(patients / total, 1)
    out["shares"] = {k: round(v / total, 3) for k, v in parts.items()}
    out["mapping_vs_evaluation"] = round(parts["mapping"] / parts["evaluation"], 2)
    out["kept_per_patient"] = round(bulk.kept / patients)
    return out


def bulk_lines(b: dict[str, Any], cpus: int | None) -> list[str]:
    shares = ", ".join(f"{k} {v:.0%}" for k, v in b["shares"].items())
    return [
        f"FHIR Bulk Data screen: {b['patients']:,} generated patients, {b['resources']:,} "
        f"resources ({b['resources_per_patient']} per patient, {b['export_mib']} MiB), "
        f"{b['kept_per_patient']} per patient kept for the mapping",
        f"  gbrules batch --fhir-ndjson (wall clock, full Evaluation out): 1 worker "
        f"{b['workers_1_patients_per_s']:,} patients/s, 2 workers "
        f"{b['workers_2_patients_per_s']:,}/s on {cpus} CPU(s); outputs identical: "
        f"{b['identical_output']}",
        f"  one process, {b['one_process_patients_per_s']:,} patients/s: {shares}; "
        f"mapping = {b['mapping_vs_evaluation']:.2f}x the evaluation",
    ]


def main(argv: list[str] | None = None) -> int:
    import os

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--noise", type=int, default=300, help="unused resources per patient")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure_bulk(args.patients, args.noise, Path(tmp))
    print(
        json.dumps(result, indent=2) if args.json else "\n".join(bulk_lines(result, os.cpu_count()))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
