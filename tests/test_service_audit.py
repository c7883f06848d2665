"""`gbrules serve --audit-db`: the live service records cards and feedback in the audit trail."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gbrules.io.audit import AuditLog
from gbrules.io.service import create_app
from tests.conftest import AS_OF
from tests.test_service import hook_request

SECRET = b"test-secret-0123456789abcdef"


@pytest.fixture
def audited(serve: Callable[[Any], str], engine: Any, tmp_path: Path) -> tuple[str, AuditLog]:
    audit = AuditLog(tmp_path / "audit.db", secret=SECRET, background=True)
    audit.migrate()
    return serve(create_app(engine, today=lambda: AS_OF, audit=audit)), audit


def test_cards_and_feedback_reach_the_report(audited: tuple[str, AuditLog]) -> None:
    url, audit = audited
    served: dict[str, list[dict[str, Any]]] = {}
    for name in ("case1", "case2", "crisis"):
        r = httpx.post(f"{url}/cds-services/patient-view", json=hook_request(name))
        assert r.status_code == 200
        served[name] = r.json()["cards"]
    crisis_card = served["crisis"][0]
    assert crisis_card["indicator"] == "critical"
    other = served["case2"][0]
    feedback = {
        "feedback": [
            {
                "card": crisis_card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": crisis_card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2025-06-01T10:00:00+00:00",
            },
            {
                "card": other["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": {"code": "patient-declined", "system": "x"}},
                "outcomeTimestamp": "2025-06-01T10:01:00+00:00",
            },
        ]
    }
    assert httpx.post(f"{url}/cds-services/patient-view/feedback", json=feedback).status_code == 200
    report = audit.report()
    assert report.requests == 3
    crisis = report.rule("safety.crisis.self_harm_thoughts", "safety.crisis")
    assert crisis is not None and crisis.counts.shown == 1 and crisis.counts.accepted == 1
    total_cards = sum(len(c) for c in served.values())
    assert sum(r.counts.shown for r in report.rules) == total_cards
    overridden = [r for r in report.rules if r.counts.overridden]
    assert len(overridden) == 1 and overridden[0].top_override_reasons == [("patient-declined", 1)]
    health = httpx.get(f"{url}/health").json()
    assert health["audit"]["failures"] == 0


def test_unknown_card_feedback_is_404_and_stores_nothing(audited: tuple[str, AuditLog]) -> None:
    url, audit = audited
    body = {"feedback": [{"card": "00000000-0000-0000-0000-000000000000", "outcome": "accepted"}]}
    r = httpx.post(f"{url}/cds-services/patient-view/feedback", json=body)
    assert r.status_code == 404
    assert audit.report().requests == 0


def test_no_raw_patient_id_in_the_database(audited: tuple[str, AuditLog], tmp_path: Path) -> None:
    url, audit = audited
    assert (
        httpx.post(f"{url}/cds-services/patient-view", json=hook_request("case2")).status_code
        == 200
    )
    audit.flush()
    con = sqlite3.connect(tmp_path / "audit.db")
    dump = "\n".join(con.iterdump())
    assert "example-case2" not in dump
    # Intake-derived text (values, bands, rationales) never reaches the database. Bare numbers
    # are not searched for: they occur by chance in timestamps.
    for text in ("moderately severe", "CRP (mg/L)", "recurrent depression", "PHQ-9"):
        assert text not in dump, text


def test_database_down_never_fails_a_card_response(
    serve: Callable[[Any], str], engine: Any, tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path / "missing-dir" / "audit.db", secret=SECRET, background=True)
    url = serve(create_app(engine, today=lambda: AS_OF, audit=audit))
    r = httpx.post(f"{url}/cds-services/patient-view", json=hook_request("crisis"))
    assert r.status_code == 200 and r.json()["cards"][0]["indicator"] == "critical"
    audit.flush()
    assert httpx.get(f"{url}/health").json()["audit"]["failures"] >= 1


def test_serve_audit_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import typer

    from gbrules.io.cli.serve import _audit_log

    monkeypatch.delenv("GBRULES_AUDIT_DB", raising=False)
    monkeypatch.delenv("GBRULES_AUDIT_SECRET", raising=False)
    assert _audit_log(None) is None
    with pytest.raises(typer.Exit) as info:
        _audit_log(str(tmp_path / "a.db"))
    assert info.value.exit_code == 2
    monkeypatch.setenv("GBRULES_AUDIT_SECRET", SECRET.decode())
    audit = _audit_log(str(tmp_path / "a.db"))
    assert isinstance(audit, AuditLog)
    audit.close()
