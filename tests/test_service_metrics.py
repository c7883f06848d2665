"""``/metrics``: the Prometheus text a scrape gets after known traffic, parsed by
prometheus-client's own parser, and the numbers each known request must have added."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gbrules.io.audit import AuditLog
from gbrules.io.service import create_app
from tests.conftest import AS_OF
from tests.test_service import hook_request

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    r = httpx.get(f"{url}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_after_known_traffic(
    serve: Callable[..., str], engine: Any, tmp_path: Path
) -> None:
    # An audit database that cannot be opened: every write fails, and /metrics says so.
    audit = AuditLog(tmp_path / "missing-dir" / "audit.db", secret=b"s" * 16, background=True)
    url = serve(create_app(engine, today=lambda: AS_OF, audit=audit))
    view = f"{url}/cds-services/patient-view"
    assert httpx.post(view, json=hook_request("crisis")).status_code == 200
    assert httpx.post(view, json=hook_request("case2")).status_code == 200
    wrong_patient = hook_request("case1")
    wrong_patient["context"]["patientId"] = "someone-else"
    assert httpx.post(view, json=wrong_patient).status_code == 400
    order = {
        "resourceType": "NutritionOrder",
        "id": "med1",
        "status": "draft",
        "intent": "proposal",
        "oralDiet": {"type": [{"text": "Mediterranean diet"}]},
    }
    select = hook_request("crisis", hook="order-select")
    select["context"]["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": order}]}
    cards = httpx.post(f"{url}/cds-services/order-select", json=select).json()["cards"]
    assert [c["indicator"] for c in cards] == ["critical", "info", "warning"]  # + incomplete
    fb = {"feedback": [{"card": cards[0]["uuid"], "outcome": "accepted"}]}
    httpx.post(f"{url}/cds-services/order-select/feedback", json=fb)
    audit.flush()
    m = scrape(url)

    req = "gbrules_http_requests_total"
    assert value(m, req, endpoint="/cds-services/patient-view", method="POST", status="200") == 2
    assert value(m, req, endpoint="/cds-services/patient-view", method="POST", status="400") == 1
    assert value(m, req, endpoint="/cds-services/order-select", method="POST", status="200") == 1
    latency = "gbrules_http_request_duration_seconds_count"
    assert value(m, latency, endpoint="/cds-services/patient-view") == 3
    assert value(m, "gbrules_http_request_duration_seconds_bucket",
                 endpoint="/cds-services/patient-view", le="+Inf") == 3  # fmt: skip

    ev = "gbrules_evaluations_total"
    assert value(m, ev, service="patient-view", outcome="answered") == 2
    assert value(m, ev, service="patient-view", outcome="invalid") == 1
    assert value(m, ev, service="order-select", outcome="answered") == 1
    # Cards by kind: the crisis card twice (both hooks), the draft-order warning once.
    card = "gbrules_cards_total"
    assert value(m, card, service="patient-view", kind="safety", indicator="critical") == 1
    assert value(m, card, service="order-select", kind="safety", indicator="critical") == 1
    assert value(m, card, service="order-select", kind="draft_order", indicator="warning") == 1
    assert value(m, "gbrules_order_warnings_total", order_class="mediterranean_diet") == 1
    # Suggestions by code: crisis in the two crisis calls; diet.mediterranean in case2 only
    # (deferred in the crisis calls).
    sug = "gbrules_suggestions_total"
    assert value(m, sug, code="safety.crisis", priority="critical") == 2
    assert value(m, sug, code="diet.mediterranean", priority="routine") == 1
    # Suppressions by rule: the crisis rule deferred diet.fiber in both crisis calls.
    sup = "gbrules_suppressions_total"
    crisis_rule = "safety.crisis.self_harm_thoughts"
    assert value(m, sup, rule=crisis_rule, code="diet.fiber", action="deferred") == 2
    # The crisis example lacks CRP and alarm features (both crisis answers carried the "Draft
    # incomplete" card, counted by reason); case2 records every key input (no such card).
    inc = "gbrules_incomplete_data_answers_total"
    assert value(m, inc, service="patient-view", reason="not_recorded") == 1
    assert value(m, inc, service="order-select", reason="not_recorded") == 1
    assert value(m, card, service="patient-view", kind="incomplete", indicator="info") == 1
    assert 'reason="failed"' not in httpx.get(f"{url}/metrics").text
    assert value(m, "gbrules_feedback_total", service="order-select", outcome="accepted") == 1
    # The audit writer: nothing waits, every write failed, nothing stored.
    assert value(m, "gbrules_audit_queue_depth") == 0
    assert value(m, "gbrules_audit_write_failures_total") == 3
    assert value(m, "gbrules_audit_records_total", kind="requests") == 0
    assert value(m, "gbrules_evaluations_in_flight") == 0
    # No label holds patient data: the patient ids never appear.
    text = httpx.get(f"{url}/metrics").text
    assert "example-crisis" not in text and "example-case2" not in text
