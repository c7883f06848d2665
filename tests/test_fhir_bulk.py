"""FHIR Bulk Data (issue 16): a ``$export`` directory screened like any batch, one record per
patient, grouped in bounded memory; checked against the intakes the export was generated from.
"""

from __future__ import annotations

import json
import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gbrules.io.batch import BatchOptions, run_batch
from gbrules.io.cli import app as cli
from gbrules.io.fhir.bulk import BulkExport
from gbrules.io.fhir.synthetic_export import export_intakes, write_export
from tests.conftest import interrupt_batch_at_chunk

AS_OF = date(2026, 11, 30)
DAY = AS_OF.isoformat()
runner = CliRunner()


def summaries(path: Path) -> dict[str, dict[str, Any]]:
    return {r["patient_id"]: r for r in map(json.loads, path.read_text().splitlines())}


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export")
    write_export(directory, 60, seed=11, as_of=AS_OF, noise=40)
    return directory


def test_each_patient_gets_one_bundle_of_its_own_resources(export: Path) -> None:
    bulk = BulkExport(export)
    bulk.index()
    bundles = list(bulk.bundles())
    ids = [b.patient_id for b in bundles]
    assert ids == sorted(ids) and len(ids) == 60 == bulk.patients
    assert [b.number for b in bundles] == list(range(1, 61))
    for b in bundles:
        bundle = json.loads(b.bundle)
        assert bundle["resourceType"] == "Bundle" and bundle["id"] == b.patient_id
        for entry in bundle["entry"]:
            r = entry["resource"]
            assert r["resourceType"] != "Encounter"  # a type the mapping never reads
            owner = r["id"] if r["resourceType"] == "Patient" else r["subject"]["reference"]
            assert owner.endswith(b.patient_id)
    assert bulk.skipped > 0 and bulk.problems == []
    assert [b.number for b in bulk.bundles(after=58)] == [59, 60]  # a resumed run starts there
    bulk.close()


def test_lines_no_patient_can_hold_are_reported_with_file_and_line(tmp_path: Path) -> None:
    write_export(tmp_path, 3, seed=2, as_of=AS_OF, noise=0)
    with (tmp_path / "Condition.ndjson").open("a") as f:
        f.write("{not json\n")
        f.write(json.dumps({"resourceType": "Condition", "id": "orphan"}) + "\n")
    out = tmp_path / "out.ndjson"
    stats = run_batch(BatchOptions(source=tmp_path, out=out, summary=True, as_of=DAY))
    assert (stats.evaluated, stats.rejected) == (3, 2)
    rejects = [
        json.loads(line)
        for line in out.with_name("out.ndjson.rejects").read_text().split("\n")
        if line
    ]
    lines = sorted(
        len((tmp_path / "Condition.ndjson").read_text().splitlines()) - i for i in (1, 0)
    )
    assert [r["errors"][0]["path"] for r in rejects] == [f"Condition.ndjson:{n}" for n in lines]
    assert "not a JSON line" in rejects[0]["errors"][0]["message"]
    assert "without a patient" in rejects[1]["errors"][0]["message"]


def test_referenced_medications_join_the_bundle(tmp_path: Path) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}
    request = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": "Medication/sert"},
        "subject": {"reference": "Patient/p1"},
    }
    medication = {
        "resourceType": "Medication",
        "id": "sert",
        "code": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "36437"}]
        },
    }
    (tmp_path / "Patient.ndjson").write_text(json.dumps(patient) + "\n")
    (tmp_path / "MedicationRequest.ndjson").write_text(json.dumps(request) + "\n")
    (tmp_path / "Medication.ndjson").write_text(json.dumps(medication) + "\n")
    out = tmp_path / "out.ndjson"
    run_batch(BatchOptions(source=tmp_path, out=out, as_of=DAY))
    ev = json.loads(out.read_text())
    assert ev["facts"]["on_ssri"] is True


def test_a_thousand_patients_screen_end_to_end_like_their_intakes(tmp_path: Path) -> None:
    """>= 1,000 generated patients with their unused records around them: the Bulk Data screen
    gives each patient exactly the draft its intake gives."""
    n = 1000
    directory = tmp_path / "export"
    write_export(directory, n, seed=4, as_of=AS_OF, noise=60)
    intakes = tmp_path / "intakes.ndjson"
    intakes.write_text("".join(json.dumps(i) + "\n" for i in export_intakes(n, seed=4)))
    fhir_out, intake_out = tmp_path / "fhir.ndjson", tmp_path / "intake.ndjson"
    result = runner.invoke(
        cli,
        ["batch", "--fhir-ndjson", str(directory), str(fhir_out), "--summary",
         "--as-of", AS_OF.isoformat(), "--workers", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1000 evaluated, 0 rejected" in result.output
    run_batch(BatchOptions(source=intakes, out=intake_out, summary=True, as_of=DAY))
    fhir, direct = summaries(fhir_out), summaries(intake_out)
    assert len(fhir) == n and set(fhir) == set(direct)
    for pid, row in fhir.items():
        assert row["codes"] == direct[pid]["codes"], pid
        assert row["requires_immediate_action"] == direct[pid]["requires_immediate_action"]


def test_an_interrupted_screen_resumes_to_the_same_output(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = tmp_path / "whole.ndjson"
    run_batch(BatchOptions(source=export, out=whole, as_of=DAY, chunk_size=7))
    real = interrupt_batch_at_chunk(monkeypatch, 3)
    cut = tmp_path / "cut.ndjson"
    stats = run_batch(BatchOptions(source=export, out=cut, as_of=DAY, chunk_size=7))
    assert stats.interrupted
    monkeypatch.setattr("gbrules.io.batch.work.evaluate_lines", real)
    stats = run_batch(BatchOptions(source=export, out=cut, resume=True))
    assert stats.skipped > 0 and not stats.interrupted
    assert cut.read_bytes() == whole.read_bytes()
    manifest = json.loads(cut.with_name("cut.ndjson.manifest.json").read_text())
    assert manifest["settings"]["as_of"] == AS_OF.isoformat()
    assert manifest["settings"]["in_format"] == "fhir-ndjson"


def test_a_changed_export_is_refused_on_resume(export: Path, tmp_path: Path) -> None:
    copy = tmp_path / "export"
    copy.mkdir()
    for f in export.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "out.ndjson"
    run_batch(BatchOptions(source=copy, out=out, as_of=DAY))
    (copy / "Extra.ndjson").write_text("{}\n")
    result = runner.invoke(cli, ["batch", str(copy), str(out), "--resume"])
    assert result.exit_code == 2 and "not the input the run read" in result.output


def test_grouping_holds_one_patient_at_a_time(tmp_path: Path) -> None:
    """The export is spilled to SQLite, not kept: Python's peak memory while indexing and
    reading every bundle stays a small fraction of the export's size."""
    stats = write_export(tmp_path, 300, seed=9, as_of=AS_OF, noise=200)
    tracemalloc.start()
    bulk = BulkExport(tmp_path)
    bulk.index()
    count = sum(1 for _ in bulk.bundles())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    bulk.close()
    assert count == 300
    assert peak < stats.bytes / 8, (peak, stats.bytes)
