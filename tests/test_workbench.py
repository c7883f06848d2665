"""The workbench without a browser: the schema-driven form, decisions, documents, security.

The browser flow is tests/test_workbench_browser.py; these check the parts one at a time
through the app's own HTTP interface (Starlette's test client) and its modules.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import Field

import gbrules
from gbrules.clinical.intake import Intake, StrictBool
from gbrules.core.errors import FieldError
from gbrules.io.app import WorkbenchSettings, standalone_app
from gbrules.io.app import draft as D
from gbrules.io.app import form as F
from gbrules.io.app.security import DropQuery, style_hash
from gbrules.io.app.sessions import SessionStore
from tests.workbench_support import ROOT, WorkbenchServer

EXAMPLES = {
    n: json.loads((ROOT / "examples" / f"{n}.json").read_text())
    for n in ("case1", "case2", "crisis")
}
FETCH = {"X-Workbench": "fetch"}


# --- the form is the schema ----------------------------------------------------------------


def _leaf_paths(schema: dict[str, Any]) -> set[str]:
    """Every scalar path of the schema, walked independently of the form module."""
    defs = schema.get("$defs", {})
    out: set[str] = set()

    def walk(node: dict[str, Any], path: str) -> None:
        for name, prop in node.get("properties", {}).items():
            branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
            target = branches[0]
            if "$ref" in target:
                target = defs[target["$ref"].rsplit("/", 1)[1]]
            sub = f"{path}.{name}" if path else name
            if target.get("type") == "object":
                walk(target, sub)
            else:
                out.add(sub)

    walk(schema, "")
    return out


def _form_paths(form: F.Group) -> set[str]:
    out: set[str] = set()
    for node in form.walk():
        if isinstance(node, F.Field):
            out.add(node.path)
        elif isinstance(node, F.Instrument):
            out.add(node.items_path)
            out |= set(node.aliases.values())
            out |= {f.path for f in (node.total, *node.others) if f is not None}
    return out


def test_every_intake_field_has_an_input() -> None:
    schema = Intake.model_json_schema()
    assert _form_paths(F.intake_form()) == _leaf_paths(schema)


def test_a_field_added_to_the_models_appears_in_the_form_by_itself() -> None:
    class Lifestyle2(Intake.model_fields["lifestyle"].annotation.__args__[0]):  # type: ignore[name-defined,misc,union-attr]
        gardening: StrictBool | None = None

    class Intake2(Intake):
        lifestyle: Lifestyle2 | None = None  # type: ignore[assignment]
        hours_outdoors: float | None = Field(default=None, ge=0, le=24)

    form = F.build_form(Intake2.model_json_schema())
    nodes = {n.path: n for n in form.walk() if isinstance(n, F.Field)}
    assert nodes["lifestyle.gardening"].kind == "bool"
    assert (nodes["hours_outdoors"].kind, nodes["hours_outdoors"].maximum) == ("number", 24)


def test_the_form_sections_and_instruments() -> None:
    form = F.intake_form()
    keys = [s.key for s in F.sections(form)]
    assert keys[0] == "patient" and {"gi", "mood", "labs", "conditions", "medications"} <= set(keys)
    phq9 = next(n for n in form.walk() if isinstance(n, F.Instrument) and n.name == "phq9")
    assert (phq9.count, phq9.item_min, phq9.item_max) == (9, 0, 3)
    assert phq9.aliases == {8: "mood.phq9.item9"}  # item 9 alone is the ninth item's input
    crp = next(n for n in form.walk() if isinstance(n, F.Group) and n.path == "labs.crp")
    unit = next(c for c in crp.children if isinstance(c, F.Field) and c.name == "unit")
    assert unit.kind == "enum" and set(unit.options) == {"mg/L", "mg/dL"}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_an_intake_survives_the_form(name: str) -> None:
    data = EXAMPLES[name]
    checked = F.check(F.from_intake(data))
    assert checked.errors == ()
    assert checked.intake == gbrules.Intake.model_validate(data)


def test_not_recorded_is_absent_never_false() -> None:
    built = F.to_intake({"age": "40", "gi.bloating": "false", "gi.dysphagia": ""})
    assert built.data == {"age": 40, "gi": {"bloating": False}}
    assert F.to_intake({"age": "40"}).data == {"age": 40}  # untouched sections are not sent


def test_total_with_item_9_or_all_items_but_not_a_few() -> None:
    total = F.check({"age": "40", "mood.phq9.total": "16", "mood.phq9.items[8]": "1"})
    assert total.data["mood"]["phq9"] == {"total": 16, "item9": 1}
    items = {f"mood.phq9.items[{i}]": "1" for i in range(9)}
    full = F.check({"age": "40", **items})
    assert full.data["mood"]["phq9"] == {"items": [1] * 9}
    few = F.check({"age": "40", "mood.phq9.items[0]": "2", "mood.phq9.items[3]": "1"})
    assert [e.path for e in few.errors] == ["mood.phq9.items"]
    assert few.intake is None


def test_errors_land_on_the_input_their_path_names() -> None:
    checked = F.check(
        {"age": "x", "gi.abdominal_pain_score": "11", "labs.crp.value": "5", "mood.phq9.total": "3"}
    )
    placed = {p.path: p for p in F.place_errors(checked.errors)}
    assert placed["age"].target == "f-age" and placed["age"].exact
    assert placed["gi.abdominal_pain_score"].target == "f-gi-abdominal_pain_score"
    assert placed["labs.crp.unit"].target == "f-labs-crp-unit"
    more = F.place_errors(
        [
            FieldError("mood.phq9.items[8]", "too high"),
            FieldError("mood.phq9.item9", "disagrees"),
            FieldError("gi.bloatin", "unknown field"),
            FieldError("$", "'pregnant' is true but 'sex' is 'male'"),
        ]
    )
    assert [(p.target, p.exact) for p in more] == [
        ("f-mood-phq9-items-8", True),
        ("f-mood-phq9-items-8", True),
        ("f-gi", False),  # no such input: shown on its section, with its path
        ("f-intake", True),
    ]
    assert more[2].text == "gi.bloatin: unknown field"


# --- decisions and documents ------------------------------------------------------------------


def _view(ws: D.Workspace) -> tuple[Any, D.DraftView]:
    engine = gbrules.Engine.default()
    checked = F.check(ws.values)
    assert checked.intake is not None
    ev = engine.evaluate(checked.intake)
    return ev, D.build_view(engine, ev, ws)


def test_a_safety_item_is_acknowledged_never_declined() -> None:
    ws = D.Workspace(values=F.from_intake(EXAMPLES["crisis"]))
    ev, view = _view(ws)
    assert view.crisis and view.items[0].s.code == "safety.crisis"
    with pytest.raises(D.DecisionError, match="cannot be declined"):
        D.decide(ws, ev, "safety.crisis", "decline", reason="not-appropriate")
    assert not _view(ws)[1].ready
    D.decide(ws, ev, "safety.crisis", "acknowledge")
    with pytest.raises(D.DecisionError):
        D.decide(ws, ev, "safety.crisis", "undo")
    assert _view(ws)[1].ready


def test_declining_needs_a_reason_and_other_needs_words() -> None:
    ws = D.Workspace(values=F.from_intake(EXAMPLES["case2"]))
    ev, _ = _view(ws)
    with pytest.raises(D.DecisionError, match="reason"):
        D.decide(ws, ev, "diet.mediterranean", "decline")
    with pytest.raises(D.DecisionError, match="other"):
        D.decide(ws, ev, "diet.mediterranean", "decline", reason="other")
    decision = D.decide(
        ws, ev, "diet.mediterranean", "decline", reason="other", comment="see notes"
    )
    assert decision is not None and decision.status == "declined"


def test_a_decision_on_values_that_changed_is_asked_again() -> None:
    ws = D.Workspace(values=F.from_intake(EXAMPLES["case2"]))
    ev, _ = _view(ws)
    D.decide(ws, ev, "referral.mental_health", "accept")
    ws.values["mood.phq9.total"] = "20"  # the basis (PHQ-9 total in the rationale) changes
    item = next(i for i in _view(ws)[1].items if i.s.code == "referral.mental_health")
    assert item.status == "pending" and item.changed


def test_the_careplan_holds_only_what_the_clinician_accepted() -> None:
    from fhir.resources.R4B.careplan import CarePlan

    values = F.from_intake(EXAMPLES["case2"])
    values.pop("patient_id")
    ws = D.Workspace(values=values)
    ev, _ = _view(ws)
    D.decide(ws, ev, "diet.mediterranean", "edit", wording="Walk 20 minutes after lunch")
    D.decide(ws, ev, "lab.celiac_serology", "accept")
    D.decide(ws, ev, "probiotic.trial", "decline", reason="patient-declined")
    D.add_own(ws, "Follow up by phone in two weeks")
    ws.notes = "Discussed with the patient."
    plan = D.careplan(_view(ws)[1], None)
    CarePlan.model_validate(plan)
    assert plan["status"] == "draft" and plan["intent"] == "plan"
    assert {r["id"] for r in plan["contained"]} == {"diet.mediterranean", "lab.celiac-serology"}
    fiber = next(r for r in plan["contained"] if r["id"] == "diet.mediterranean")
    assert fiber["oralDiet"]["instruction"] == "Walk 20 minutes after lunch"
    assert plan["subject"] == {"display": "Patient (no identifier recorded in the intake)"}
    assert {
        "detail": {"status": "scheduled", "description": "Follow up by phone in two weeks"}
    } in (plan["activity"])
    assert {"text": "Discussed with the patient."} in plan["note"]
    ws.plan_status = "active"
    active = D.careplan(_view(ws)[1], "Patient/7")
    CarePlan.model_validate(active)
    assert {r["status"] for r in active["contained"]} == {"active"}


def test_decline_reasons_are_the_cds_hooks_override_reasons() -> None:
    from gbrules.io.app.workbench import INDICATOR
    from gbrules.io.service.cards import INDICATOR as CARD_INDICATOR
    from gbrules.io.service.cards import OVERRIDE_REASONS

    assert INDICATOR == CARD_INDICATOR  # the audit trail files a suggestion like its card
    service = [(r["code"], r["display"]) for r in OVERRIDE_REASONS]
    assert list(D.DECLINE_REASONS[:-1]) == service
    assert D.DECLINE_REASONS[-1][0] == "other"


def test_evidence_links() -> None:
    assert D.evidence_link("NICE CG61 (at least 4 weeks)").href == (
        "https://www.nice.org.uk/guidance/cg61"
    )
    link = D.evidence_link("Kroenke, Spitzer, Williams 2001, J Gen Intern Med 16:606")
    assert link.href is not None and link.href.startswith("https://pubmed.ncbi.nlm.nih.gov/?term=")
    assert D.evidence_link("Source checklist (fiber)").href is None


def test_every_unrecorded_fact_a_rule_reads_links_to_its_input() -> None:
    ws = D.Workspace(values={"age": "40"})
    _, view = _view(ws)
    assert view.to_record and all(r.input_id for r in view.to_record)
    ids = {r.fact: r.input_id for r in view.to_record}
    assert ids["phq9_item9"] == "f-mood-phq9-items-8"
    assert ids["crp_mg_l"] == "f-labs-crp-value"


# --- HTTP: sessions, CSRF, headers, logs ---------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[WorkbenchServer]:
    srv = WorkbenchServer.start(settings=WorkbenchSettings())
    yield srv
    srv.stop()


@pytest.fixture
def client(server: WorkbenchServer) -> Iterator[httpx.Client]:
    """A browser-like client of the real server: its own cookie jar, hence its own session."""
    with httpx.Client(base_url=server.origin, timeout=30) as c:
        yield c


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_security_headers_and_cookie(client: httpx.Client) -> None:
    r = client.get("/app/")
    policy = r.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/app/" in cookie
    assert "<script>" not in r.text and " style=" not in r.text and " on" + "click" not in r.text
    assert re.search(r"<title>Care-plan workbench · gbrules</title>", r.text)


def test_posts_need_the_sessions_csrf_token_and_the_same_site(client: httpx.Client) -> None:
    csrf = _csrf(client.get("/app/").text)
    assert client.post("/app/intake", data={"age": "40"}).status_code == 403
    assert client.post("/app/intake", data={"age": "40", "csrf": "x" + csrf}).status_code == 403
    cross = client.post(
        "/app/intake", data={"age": "40", "csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    other = client.post(
        "/app/intake", data={"age": "40", "csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert other.status_code == 403
    ok = client.post("/app/intake", data={"age": "40", "csrf": csrf}, headers=FETCH)
    assert ok.status_code == 200 and ok.json()["errors"] == []
    with httpx.Client(base_url=str(client.base_url)) as stranger:  # no session cookie
        assert stranger.post("/app/intake", data={"csrf": csrf}, headers=FETCH).status_code == 401


def test_an_idle_session_is_dropped() -> None:
    now = [0.0]
    store = SessionStore(60, clock=lambda: now[0])
    s = store.new()
    now[0] = 59
    assert store.get(s.id) is s
    now[0] = 59 + 61
    assert store.get(s.id) is None and len(store) == 0


def test_a_full_store_drops_blank_sessions_before_drafts() -> None:
    store = SessionStore(600, max_sessions=3)
    draft = store.new()
    draft.workspace.values = {"age": "40"}
    for _ in range(10):
        store.new()  # page loads with nothing entered
    assert store.get(draft.id) is draft and len(store) == 3


def test_documents_wait_for_the_safety_items(client: httpx.Client) -> None:
    csrf = _csrf(client.get("/app/").text)
    values = F.from_intake(EXAMPLES["crisis"])
    client.post("/app/intake", data={**values, "csrf": csrf}, headers=FETCH)
    assert client.get("/app/print").status_code == 409
    assert client.get("/app/handout").status_code == 409
    assert client.post("/app/export/careplan", data={"csrf": csrf}).status_code == 409
    r = client.post(
        "/app/decide",
        data={"csrf": csrf, "code": "safety.crisis", "action": "decline", "reason": "other"},
        headers=FETCH,
    )
    assert "cannot be declined" in r.json()["draft"]
    client.post(
        "/app/decide",
        data={"csrf": csrf, "code": "safety.crisis", "action": "acknowledge"},
        headers=FETCH,
    )
    handout = client.get("/app/handout")
    assert handout.status_code == 200
    assert "988" in handout.text  # the crisis lines reach the patient
    hashes = style_hash(handout.text)
    assert hashes and all(h in handout.headers["content-security-policy"] for h in hashes)


def test_no_patient_data_in_logs(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    csrf = _csrf(client.get("/app/").text)
    values = F.from_intake(EXAMPLES["case2"])
    client.post("/app/intake", data={**values, "csrf": csrf}, headers=FETCH)
    client.post(
        "/app/decide",
        data={
            "csrf": csrf,
            "code": "diet.mediterranean",
            "action": "decline",
            "reason": "other",
            "comment": "secret words",
        },
        headers=FETCH,
    )
    client.post("/app/export/careplan", data={"csrf": csrf})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "example-case2" not in text and "secret words" not in text and "0.42" not in text


def test_the_access_log_loses_query_strings() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/app/callback?code=abc&state=def", "1.1", 303),
        None,
    )
    DropQuery().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /app/callback HTTP/1.1" 303'


def test_a_cds_hooks_card_links_to_the_launch() -> None:
    from gbrules.io.app.smart import smart_link

    link = smart_link("https://cds.example.org/app/")
    assert link == {
        "label": "Open in the care-plan workbench",
        "url": "https://cds.example.org/app/launch",
        "type": "smart",
    }


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="idle_timeout_s"):
        standalone_app(settings=WorkbenchSettings(idle_timeout_s=0))
    with pytest.raises(ValueError, match="https origin"):
        standalone_app(settings=WorkbenchSettings(frame_ancestors=("ehr.example.org",)))
