"""The workbench in a real browser: headless Chromium (Debian) driven by Playwright.

One browser for the module (``tests/workbench_support.browser``), one server with an audit
trail. The flow a clinician follows: Case 2 entered through the form (not as JSON), the expected
codes appear, one suggestion declined with a reason, one reworded, the FHIR CarePlan exported
and validated (fhir.resources R4B), the plan printed to PDF and read back (pdftotext), the page
reloaded with everything intact, then PHQ-9 item 9 = 1 and the crisis banner comes first.
axe-core checks the pages; a second flow uses the keyboard only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import gbrules
from gbrules.io.app import form as F
from gbrules.io.audit import AuditLog
from gbrules.io.audit import schema as audit_schema
from tests.workbench_support import (
    ROOT,
    WorkbenchServer,
    axe_violations,
    browser,  # noqa: F401 (the module's browser fixture)
)

CASE2 = json.loads((ROOT / "examples" / "case2.json").read_text(encoding="utf-8"))
SECRET = b"workbench-browser-test-secret"
EDITED = "Offer a referral for CBT or psychiatric review; patient prefers group therapy"
DECLINE_NOTE = "Has a fibre plan with her own dietitian"


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditLog]:
    log = AuditLog(tmp_path_factory.mktemp("audit") / "audit.db", secret=SECRET)
    log.migrate()
    yield log
    log.close()


@pytest.fixture(scope="module")
def server(audit: AuditLog) -> Iterator[WorkbenchServer]:
    srv = WorkbenchServer.start(audit=audit)
    yield srv
    srv.stop()


@pytest.fixture
def page(browser: Any, server: WorkbenchServer) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(15000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # a refused resource (Content-Security-Policy) or a failed request is logged as an error
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    pg.goto(server.url)
    yield pg
    context.close()
    failed = [e for e in errors if "/favicon.ico" not in e and "404 (Not Found)" not in e]
    assert failed == []


def fill_form(page: Any, values: dict[str, str]) -> None:
    """Type each value into its input as a person would: text into inputs, an option of a
    select, a yes/no radio."""
    form = F.intake_form()
    kinds: dict[str, str] = {}
    for node in form.walk():
        if isinstance(node, F.Field):
            kinds[node.path] = node.kind
        elif isinstance(node, F.Instrument):
            for i in range(node.count):
                kinds[node.item_path(i)] = "item"
            for f in (node.total, *node.others):
                if f is not None:
                    kinds[f.path] = f.kind
    for path, value in values.items():
        ident = F.input_id(path)
        kind = kinds[path]
        if kind == "bool":
            page.click(f"label[for={ident}-{'yes' if value == 'true' else 'no'}]")
        elif kind in ("enum", "item"):
            page.select_option(f"#{ident}", value)
        else:
            page.fill(f"#{ident}", value)


def codes_shown(page: Any) -> set[str]:
    return set(
        page.locator("#draft article[data-code]").evaluate_all("a => a.map(e => e.dataset.code)")
    )


def settled(page: Any) -> None:
    """Wait until no form change is waiting to be posted and every post has its answer."""
    page.wait_for_selector('#draft[aria-busy="false"]')


def wait_for_status(page: Any, code: str, status: str) -> None:
    page.wait_for_selector(f'#draft article[data-code="{code}"][data-status="{status}"]')


def decline(page: Any, code: str, reason: str, note: str) -> None:
    article = page.locator(f'#draft article[data-code="{code}"]')
    article.locator("details.decline > summary").click()
    article.locator("select[name=reason]").select_option(reason)
    article.locator("textarea[name=comment]").fill(note)
    article.get_by_role("button", name="Decline").click()
    wait_for_status(page, code, "declined")


def edit(page: Any, code: str, wording: str) -> None:
    article = page.locator(f'#draft article[data-code="{code}"]')
    article.locator("details.edit > summary").click()
    article.locator("textarea[name=wording]").fill(wording)
    article.get_by_role("button", name="Save wording and accept").click()
    wait_for_status(page, code, "accepted")


def accept(page: Any, code: str) -> None:
    page.locator(f'#draft article[data-code="{code}"] button.accept').click()
    wait_for_status(page, code, "accepted")


def pdf_text(page: Any, tmp_path: Path) -> str:
    pdftotext = shutil.which("pdftotext")
    assert pdftotext is not None, "pdftotext (poppler-utils) is needed; .ci/run installs it"
    pdf = tmp_path / "plan.pdf"
    page.emulate_media(media="print")
    pdf.write_bytes(page.pdf(format="A4", print_background=True))
    assert pdf.read_bytes().startswith(b"%PDF")
    out = subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True)
    return " ".join(out.stdout.split())


def test_case2_from_form_to_careplan_print_and_reload(
    page: Any, server: WorkbenchServer, audit: AuditLog, tmp_path: Path
) -> None:
    expected = gbrules.evaluate(CASE2)
    values = F.from_intake(CASE2)
    assert "mood.phq9.total" in values and "labs.crp.unit" in values  # entered, not pasted

    fill_form(page, values)
    page.wait_for_function(
        "n => document.querySelectorAll('#draft article[data-code]').length === n",
        arg=len(expected.suggestions),
    )
    assert codes_shown(page) == set(expected.codes)
    shown = codes_shown(page)
    assert {"referral.mental_health", "lab.inflammatory_workup", "diet.mediterranean"} <= shown
    # every suggestion carries its code and priority; none is critical for Case 2
    priorities = page.locator("#draft article").evaluate_all("a => a.map(e => e.dataset.priority)")
    assert set(priorities) == {"routine"}
    assert page.locator("#crisis .crisis").count() == 0
    assert axe_violations(page) == []

    decline(page, "diet.mediterranean", "patient-declined", DECLINE_NOTE)
    edit(page, "referral.mental_health", EDITED)
    for code in ("lab.inflammatory_workup", "lab.celiac_serology", "exercise.aerobic"):
        accept(page, code)
    page.fill("#notes-text", "Review in 4 weeks.")
    page.click("#save-notes")
    page.wait_for_function("document.querySelector('#notes-text').value === 'Review in 4 weeks.'")

    # Export: a valid R4 CarePlan with only the accepted items, the edit and the notes.
    page.click("label[for=plan-status-active]")
    with page.expect_download() as download:
        page.click("#export-careplan")
    plan = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    from fhir.resources.R4B.careplan import CarePlan

    CarePlan.model_validate(plan)
    assert plan["status"] == "active" and plan["intent"] == "plan"
    assert plan["subject"] == {"reference": "Patient/example-case2"}
    shown = {a["reference"]["display"] for a in plan["activity"]}
    assert EDITED in shown
    contained = {r["id"] for r in plan["contained"]}
    assert contained == {
        "referral.mental-health",
        "lab.inflammatory-workup",
        "lab.celiac-serology",
        "exercise.aerobic",
    }
    assert {"text": "Review in 4 weeks."} in plan["note"]
    assert DECLINE_NOTE not in json.dumps(plan)

    # Print / PDF of the clinician's plan, read back.
    printed = page.context.new_page()
    printed.goto(server.url + "print")
    text = pdf_text(printed, tmp_path)
    assert EDITED in text
    assert "Sign-off" in text and "Review in 4 weeks." in text
    plan_part = text.split("Declined suggestions")[0]
    assert "Consider a Mediterranean-style eating pattern" not in plan_part
    assert "Declined suggestions" in text and "Patient declined" in text
    assert printed.title() == "Care plan · gbrules"
    printed.emulate_media(media="screen")
    assert axe_violations(printed) == []
    printed.close()

    # The patient handout: plain language, accepted items only.
    handout = page.context.new_page()
    handout.goto(server.url + "handout")
    words = handout.inner_text("body")
    assert "Consider talking therapy or a mental-health review" in words
    assert "Try a Mediterranean-style way of eating" not in words
    assert "example-case2" not in handout.title()
    handout.close()

    # Reload: the form and every decision are still there (server-side session).
    page.reload()
    assert page.input_value("#f-age") == "48"
    assert page.input_value("#f-mood-phq9-total") == "16"
    assert page.input_value("#f-mood-phq9-items-8") == "0"
    assert page.is_checked("#f-conditions-ibs-yes")
    assert page.is_checked("#f-pregnant-nr")  # not recorded stays not recorded
    wait_for_status(page, "diet.mediterranean", "declined")
    assert EDITED in page.inner_text('#draft article[data-code="referral.mental_health"] h4')
    assert "example-case2" not in page.url and "48" not in page.title()

    # The audit trail got the decisions as feedback: reason codes only, never the free text.
    audit.flush()
    with audit.engine.connect() as conn:
        rows = conn.execute(select(audit_schema.feedback_table)).mappings().all()
        cards = conn.execute(select(audit_schema.cards_table)).mappings().all()
    by_card = {c["uuid"]: c["code"] for c in cards}
    outcomes = {(by_card[r["card_uuid"]], r["outcome"]) for r in rows}
    assert ("diet.mediterranean", "overridden") in outcomes
    assert ("referral.mental_health", "accepted") in outcomes
    declined = next(r for r in rows if by_card[r["card_uuid"]] == "diet.mediterranean")
    assert json.loads(declined["override_reasons"]) == ["patient-declined"]
    assert DECLINE_NOTE not in json.dumps([dict(r) for r in rows], default=str)

    # PHQ-9 item 9 = 1: the crisis banner comes first, and the safety item leads the draft.
    page.select_option("#f-mood-phq9-items-8", "1")
    page.wait_for_selector("#crisis .crisis[role=alert]")
    first = page.evaluate(
        "() => document.querySelector('main').querySelector('section, form, fieldset').className"
    )
    assert first == "crisis"
    lead = page.locator("#draft article").first
    assert lead.get_attribute("data-priority") == "critical"
    assert lead.get_attribute("data-code") == "safety.crisis"
    held = page.locator("#draft .held li[data-held=deferred]").evaluate_all(
        "a => a.map(e => e.dataset.code)"
    )
    assert "diet.mediterranean" in held
    # a safety item offers no decline, and documents wait for its acknowledgement
    assert lead.locator("details.decline").count() == 0
    assert page.is_disabled("#export-careplan")
    assert axe_violations(page) == []
    lead.get_by_role("button", name="Acknowledge").click()
    wait_for_status(page, "safety.crisis", "acknowledged")
    assert page.is_enabled("#export-careplan")


def test_errors_show_where_the_intake_error_points(page: Any) -> None:
    page.fill("#f-age", "48")
    page.fill("#f-gi-abdominal_pain_score", "14")
    page.fill("#f-labs-crp-value", "3")
    page.select_option("#f-mood-phq9-items-0", "2")
    page.wait_for_selector("#f-gi-abdominal_pain_score-error:not([hidden])")
    assert "less than or equal to 10" in page.inner_text("#f-gi-abdominal_pain_score-error")
    assert page.get_attribute("#f-gi-abdominal_pain_score", "aria-invalid") == "true"
    assert "required" in page.inner_text("#f-labs-crp-unit-error").lower()
    assert "all 9 items" in page.inner_text("#f-mood-phq9-error")
    assert page.locator("#draft-empty").is_visible()
    # the unit fixes the CRP; the total follows the items as they are entered
    page.select_option("#f-labs-crp-unit", "mg/L")
    for i in range(1, 9):
        page.select_option(f"#f-mood-phq9-items-{i}", "1")
    assert page.input_value("#f-mood-phq9-total") == "10"
    assert page.is_editable("#f-mood-phq9-total") is False
    assert "Total 10" in page.inner_text("#f-mood-phq9-sum")
    page.fill("#f-gi-abdominal_pain_score", "4")
    page.wait_for_selector("#draft article[data-code]")
    assert page.locator(".field-error:not([hidden])").count() == 0


def test_pasted_json_fills_the_form_and_unknown_fields_are_named(page: Any) -> None:
    bad = dict(CASE2, gi={**CASE2["gi"], "bloatin": True})
    page.fill("#intake-json", json.dumps(bad))
    page.click("#load-json")
    page.wait_for_selector("#intake-json-error:not([hidden])")
    assert "gi.bloatin" in page.inner_text("#intake-json-error")
    assert page.input_value("#f-age") == "48"
    page.fill("#intake-json", json.dumps(CASE2))
    page.click("#load-json")
    page.wait_for_selector("#draft article[data-code]")
    assert page.locator("#intake-json-error").is_hidden()


def tab_to(page: Any, selector: str, limit: int = 400) -> None:
    """Press Tab until the element matching ``selector`` has the focus (keyboard only)."""
    for _ in range(limit):
        if page.evaluate(
            "s => document.activeElement && document.activeElement.matches(s)", selector
        ):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


def test_the_whole_flow_works_with_the_keyboard_only(page: Any) -> None:
    kb = page.keyboard
    tab_to(page, "#f-age")
    kb.type("52")
    tab_to(page, "#f-conditions-ibs-nr")  # a radio group is one tab stop: arrows choose
    kb.press("ArrowRight")
    assert page.is_checked("#f-conditions-ibs-yes")
    tab_to(page, "#f-mood-phq9-items-8")
    kb.type("0")
    tab_to(page, "#f-mood-phq9-total")
    kb.type("15")
    tab_to(page, "#f-lifestyle-fiber_g_per_day")
    kb.type("12")
    kb.press("Tab")  # leaving the field commits it (its change event posts the form)
    settled(page)  # else the draft may be replaced under the focus while we tab through it
    page.wait_for_selector('#draft article[data-code="referral.mental_health"]')

    # accept one, decline one with a reason, reword one: Tab, Enter, Space and letters only
    tab_to(page, '#draft article[data-code="medication.review"] button.accept')
    kb.press("Enter")
    wait_for_status(page, "medication.review", "accepted")
    tab_to(page, '#draft article[data-code="diet.mediterranean"] details.decline > summary')
    kb.press("Enter")
    tab_to(page, '#draft article[data-code="diet.mediterranean"] select[name=reason]')
    kb.type("Already")
    tab_to(page, '#draft article[data-code="diet.mediterranean"] button[value=decline]')
    kb.press("Enter")
    wait_for_status(page, "diet.mediterranean", "declined")
    tab_to(page, '#draft article[data-code="referral.mental_health"] details.edit > summary')
    kb.press("Enter")
    tab_to(page, '#draft article[data-code="referral.mental_health"] textarea[name=wording]')
    kb.press("Control+A")
    kb.type("Refer for talking therapy")
    tab_to(page, '#draft article[data-code="referral.mental_health"] button[value=edit]')
    kb.press("Enter")
    wait_for_status(page, "referral.mental_health", "accepted")

    # the crisis item is reached and acknowledged with the keyboard too
    page.keyboard.press("Shift+Tab")
    tab_to(page, "#f-mood-phq9-items-8")
    kb.type("2")
    page.wait_for_selector("#crisis .crisis")
    tab_to(page, '#draft article[data-code="safety.crisis"] button.accept')
    kb.press("Enter")
    wait_for_status(page, "safety.crisis", "acknowledged")
    tab_to(page, "#export-careplan")
    with page.expect_download() as download:
        kb.press("Enter")
    plan = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    codes = {r["id"] for r in plan["contained"]}
    assert {"safety.crisis", "medication.review", "referral.mental-health"} <= codes
    assert "exercise.aerobic" not in codes
