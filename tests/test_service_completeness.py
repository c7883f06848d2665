"""Completeness is always visible (issue 16, problem 1): a failed prefetch (an OperationOutcome
as the value or inside the Bundle), a paginated searchset, null or missing keys, or an input the
safety rules need that is not recorded, each give a "Draft incomplete" info card naming what is
missing and why, never a 200 with no cards; the mapping notes travel with every answer; the
CarePlan says so too. And the error bodies as OperationOutcomes behind a flag (problem 5)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import gbrules
from gbrules.clinical.completeness import KEY_INPUTS, missing_key_inputs
from gbrules.clinical.facts import VOCABULARY
from gbrules.io.fhir import careplan_from_evaluation
from gbrules.io.fhir.prefetch import PREFETCH_QUERIES
from gbrules.io.service import ServiceConfig, create_app
from tests.conftest import AS_OF
from tests.test_service import hook_request

INCOMPLETE = "Draft incomplete"
LOINC = "http://loinc.org"


def post(url: str, body: dict[str, Any], hook: str = "patient-view") -> httpx.Response:
    return httpx.post(f"{url}/cds-services/{hook}", json=body)


def incomplete_card(r: httpx.Response) -> dict[str, Any] | None:
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    return next((c for c in cards if c["summary"].startswith(INCOMPLETE)), None)


# --- the key inputs --------------------------------------------------------------------------


def test_key_inputs_name_facts_of_the_vocabulary() -> None:
    for ki in KEY_INPUTS:
        assert ki.facts and all(f in VOCABULARY for f in ki.facts), ki.name
        assert ki.decided_by is None or ki.decided_by in VOCABULARY
    supplied = {s for q in PREFETCH_QUERIES for s in q.supplies}
    assert {ki.name for ki in KEY_INPUTS} <= supplied  # each can be asked of the EHR


def test_an_alarm_feature_present_decides_the_group() -> None:
    ev = gbrules.evaluate({"age": 60, "gi": {"rectal_bleeding": True}})
    assert "alarm_features" not in {m.input.name for m in missing_key_inputs(ev)}
    ev = gbrules.evaluate({"age": 60, "gi": {"rectal_bleeding": False}})
    missing = {m.input.name: m for m in missing_key_inputs(ev)}
    assert "rectal_bleeding" not in missing["alarm_features"].facts


def test_phq9_without_item9_is_incomplete() -> None:
    ev = gbrules.evaluate({"age": 40, "mood": {"phq9": {"total": 12}}})
    (phq9,) = [m for m in missing_key_inputs(ev) if m.input.name == "phq9"]
    assert phq9.facts == ("phq9_item9",)


# --- the card ---------------------------------------------------------------------------------


def test_a_complete_draft_has_no_incomplete_card(live_url: str) -> None:
    assert incomplete_card(post(live_url, hook_request("case2"))) is None


def test_null_prefetch_keys_give_an_incomplete_card_not_silence(live_url: str) -> None:
    """The EHR has no observations, conditions or medicines (null): nothing looks wrong, and
    the draft must still say the PHQ-9, CRP, alarm features and cautions were not recorded."""
    req = hook_request("case1")
    for q in PREFETCH_QUERIES:
        if q.key != "patient":
            req["prefetch"][q.key] = None
    card = incomplete_card(post(live_url, req))
    assert card is not None and card["indicator"] == "info"
    for what in ("PHQ-9", "CRP", "alarm features", "probiotic cautions"):
        assert what in card["summary"]
    assert "none in the record" in card["detail"]


def test_an_operation_outcome_instead_of_a_bundle_is_a_failed_source(live_url: str) -> None:
    req = hook_request("case2")
    req["prefetch"]["labObservations"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception", "diagnostics": "LIS timeout"}],
    }
    card = incomplete_card(post(live_url, req))
    assert card is not None
    assert "CRP not recorded" in card["summary"] and "failed" in card["summary"]
    assert "LIS timeout" in card["detail"] and "labObservations" in card["detail"]


def test_an_error_outcome_inside_the_bundle_fails_the_source(live_url: str) -> None:
    req = hook_request("case2")
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "too-costly", "diagnostics": "query too broad"}],
    }
    req["prefetch"]["conditions"]["entry"].append(
        {"resource": outcome, "search": {"mode": "outcome"}}
    )
    card = incomplete_card(post(live_url, req))
    assert card is not None and "query too broad" in card["detail"]


def test_a_warning_outcome_inside_the_bundle_keeps_the_results(live_url: str) -> None:
    req = hook_request("case2")
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "warning", "code": "informational", "diagnostics": "sorted"}],
    }
    req["prefetch"]["conditions"]["entry"].append(
        {"resource": outcome, "search": {"mode": "outcome"}}
    )
    assert incomplete_card(post(live_url, req)) is None


def test_a_paginated_searchset_says_only_the_first_page_was_read(live_url: str) -> None:
    req = hook_request("case2")
    mood = req["prefetch"]["moodObservations"]
    mood["total"] = 40
    mood["link"] = [{"relation": "next", "url": "https://ehr.example.org/fhir/Observation?p=2"}]
    card = incomplete_card(post(live_url, req))
    assert card is not None
    assert "only the first page was sent" in card["detail"] and "of 40" in card["detail"]
    assert "1 data source failed or incomplete" in card["summary"]


def test_keys_left_out_without_a_fhir_server_are_named(live_url: str) -> None:
    req = hook_request("case2")
    del req["prefetch"]["medicationRequests"]
    card = incomplete_card(post(live_url, req))
    assert card is not None
    assert "medicationRequests" in card["detail"] and "not sent by the EHR" in card["detail"]


def test_order_select_carries_the_incomplete_card_too(live_url: str) -> None:
    """Unknown probiotic cautions: a probiotic order cannot be judged safe in silence."""
    req = hook_request("case1", hook="order-select")
    card = incomplete_card(post(live_url, req, "order-select"))
    assert card is not None and "probiotic cautions" in card["summary"]


def test_feedback_on_the_incomplete_card_is_accepted(
    serve: Callable[..., str], engine: Any, tmp_path: Any
) -> None:
    from gbrules.io.audit import AuditLog

    audit = AuditLog(tmp_path / "audit.db", secret=b"s" * 16, background=True)
    audit.migrate()
    url = serve(create_app(engine, today=lambda: AS_OF, audit=audit))
    card = incomplete_card(post(url, hook_request("case1")))
    assert card is not None
    body = {"feedback": [{"card": card["uuid"], "outcome": "overridden"}]}
    assert httpx.post(f"{url}/cds-services/patient-view/feedback", json=body).status_code == 200


def test_mapping_notes_travel_with_every_answer(live_url: str) -> None:
    body = post(live_url, hook_request("case2")).json()
    notes = body["extension"]["org.gbrules.mapping-notes"]
    assert any("I10" in n["note"] for n in notes)
    assert all({"resource", "path", "note"} <= set(n) for n in notes)


def test_the_careplan_says_the_draft_is_incomplete() -> None:
    ev = gbrules.evaluate({"age": 40, "mood": {"phq9": {"total": 12}}})
    plan = careplan_from_evaluation(
        ev,
        "Patient/p1",
        authored=datetime(2025, 6, 1, tzinfo=UTC),
        incomplete=["CRP, calprotectin and coeliac serology observations: the EHR's search failed"],
    )
    text = next(n["text"] for n in plan["note"] if n["text"].startswith(INCOMPLETE))
    assert "PHQ-9 total and item 9 (PHQ-9 item 9) not recorded" in text
    assert "the EHR's search failed" in text
    complete = gbrules.evaluate(copy.deepcopy(_complete_intake()))
    plan = careplan_from_evaluation(complete, "Patient/p1")
    assert not any(n["text"].startswith(INCOMPLETE) for n in plan["note"])


def _complete_intake() -> dict[str, Any]:
    from gbrules.io.fhir import intake_from_fhir
    from tests.conftest import load_bundle

    intake, _ = intake_from_fhir(load_bundle("case2"), as_of=AS_OF)
    return intake.model_dump(exclude_none=True)


# --- error bodies -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outcome_url(serve: Callable[..., str], engine: Any) -> str:
    config = ServiceConfig(operation_outcome_errors=True)
    return serve(create_app(engine, today=lambda: AS_OF, config=config))


def test_errors_as_operation_outcomes_behind_the_flag(outcome_url: str) -> None:
    req = hook_request("case1")
    del req["prefetch"]["patient"]
    req["fhirServer"] = "https://ehr.example.org/fhir"
    r = post(outcome_url, req)
    assert r.status_code == 412
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "processing"
    assert "Patient resource is missing" in body["issue"][0]["details"]["text"]


def test_field_errors_become_issues_with_their_paths(outcome_url: str) -> None:
    req = hook_request("case2")
    req["prefetch"]["patient"]["birthDate"] = "not-a-date"
    r = post(outcome_url, req)
    assert r.status_code == 422
    issue = r.json()["issue"][0]
    assert issue["expression"][0].startswith("prefetch.patient.birthDate")


def test_a_body_too_large_is_an_operation_outcome_too(outcome_url: str) -> None:
    r = httpx.post(
        f"{outcome_url}/cds-services/patient-view",
        content=b"x" * (1024 * 1024 + 1),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["issue"][0]["code"] == "too-costly"


def test_the_default_error_format_is_unchanged(live_url: str) -> None:
    req = hook_request("case1")
    del req["prefetch"]["patient"]
    r = post(live_url, req)
    assert r.status_code == 400 and r.json() == {"error": "prefetch.patient is required"}


def test_a_value_too_old_to_use_is_named_as_such(live_url: str) -> None:
    """A PHQ-9 of last year counts as not recorded (data freshness); the card says why."""
    req = hook_request("case2")
    for entry in req["prefetch"]["moodObservations"]["entry"]:
        entry["resource"]["effectiveDateTime"] = "2024-01-10T09:00:00Z"
    for qr in (req["prefetch"]["questionnaireResponses"] or {"entry": []})["entry"]:
        qr["resource"]["authored"] = "2024-01-10T09:00:00Z"
    card = incomplete_card(post(live_url, req))
    assert card is not None and "PHQ-9" in card["summary"]
    assert "of 2024-01-10, is too old to use" in card["detail"]
