from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.careplan import CarePlan

import gbrules
from gbrules.io.fhir import careplan_from_evaluation, intake_from_fhir
from tests.conftest import AS_OF, load_bundle

STAMP = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", ["case1", "case2", "crisis"])
def test_careplan_validates_with_fhir_resources(name: str) -> None:
    intake, _ = intake_from_fhir(load_bundle(name), as_of=AS_OF)
    ev = gbrules.evaluate(intake)
    plan = careplan_from_evaluation(ev, f"Patient/example-{name}", authored=STAMP)
    model = CarePlan.model_validate(plan)
    assert model.status == "draft" and model.intent == "proposal"
    contained = {r["id"]: r for r in plan["contained"]}
    assert len(contained) == len(ev.suggestions) == len(plan["activity"])
    for act, s in zip(plan["activity"], ev.suggestions, strict=True):
        res = contained[act["reference"]["reference"].removeprefix("#")]
        get_fhir_model_class(res["resourceType"]).model_validate(res)
        notes = " ".join(n["text"] for n in res["note"])
        assert s.rule_id in notes and ev.rulebook_version in notes
        assert all(e in notes for e in s.evidence)
        assert res["status"] == "draft"
    kinds = {r["resourceType"] for r in contained.values()}
    assert kinds <= {"ServiceRequest", "NutritionOrder", "CommunicationRequest"}


def test_resource_kinds_and_crisis_resources() -> None:
    intake, _ = intake_from_fhir(load_bundle("crisis"), as_of=AS_OF)
    plan = careplan_from_evaluation(gbrules.evaluate(intake), "Patient/x", authored=STAMP)
    first = plan["contained"][0]
    assert first["resourceType"] == "CommunicationRequest" and first["priority"] == "stat"
    assert any("988" in p["contentString"] for p in first["payload"])
    assert any("Deferred" in n["text"] for n in plan["note"])

    intake, _ = intake_from_fhir(load_bundle("case2"), as_of=AS_OF)
    plan = careplan_from_evaluation(gbrules.evaluate(intake), "Patient/y", authored=STAMP)
    by_code = {r["id"]: r for r in plan["contained"]}
    assert by_code["referral.mental-health"]["resourceType"] == "ServiceRequest"
    assert by_code["referral.mental-health"]["intent"] == "proposal"
    assert by_code["lab.celiac-serology"]["resourceType"] == "ServiceRequest"
    diet = [r for r in plan["contained"] if r["resourceType"] == "NutritionOrder"]
    assert diet and all(r["intent"] == "proposal" for r in diet)
    probiotic = by_code.get("probiotic.trial")
    assert probiotic is None or probiotic["resourceType"] == "CommunicationRequest"


def test_v1_1_codes_become_valid_requests() -> None:
    ev = gbrules.evaluate(
        {
            "age": 44,
            "sex": "female",
            "gi": {"bloating": True, "diarrhea": True, "symptom_weeks": 10},
            "medications": {"ssri": True, "maoi": True},
        }
    )
    assert {"lab.fecal_calprotectin", "medication.interaction_check"} <= ev.codes
    plan = careplan_from_evaluation(ev, "Patient/z", authored=STAMP)
    by_code = {r["id"]: r for r in plan["contained"]}
    for res in by_code.values():
        get_fhir_model_class(res["resourceType"]).model_validate(res)
    calpro = by_code["lab.fecal-calprotectin"]
    assert calpro["resourceType"] == "ServiceRequest"
    assert any(c["code"] == "38445-3" for c in calpro["code"]["coding"])
    check = by_code["medication.interaction-check"]
    assert check["resourceType"] == "CommunicationRequest" and check["priority"] == "stat"
