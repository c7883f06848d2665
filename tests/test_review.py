"""The review book, sign-off and the FHIR export, tested as a governance group meets them.

Two books are built once for this module (each runs the 300 BDD scenarios in a subprocess):
one of the bundled rulebook, and one of a deliberately broken copy (the crisis threshold moved
from PHQ-9 item 9 >= 1 to >= 2) built ``--since`` the bundled one. A real headless Chromium
(Debian's, driven by playwright without downloading a browser) follows the links a reviewer
would and prints a rule page to PDF.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gbrules.clinical.domain import load_rulebook
from gbrules.clinical.engine import Engine
from gbrules.core.plain import plain
from gbrules.core.review import review_states, unapproved
from gbrules.core.rulebook import rule_hash
from gbrules.io.cli import app
from gbrules.io.render import render_care_plan
from gbrules.io.review.book import BookResult, build_book
from gbrules.io.review.run import RunResult
from tests.browser import CHROMIUM, CHROMIUM_ARGS, IN_CI
from tests.conftest import load_example

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
DRAFT_FOOTER = "This rulebook is a draft"
runner = CliRunner()


@dataclass(frozen=True)
class Books:
    good: BookResult
    broken: BookResult


def _approved_copy(dest: Path) -> Path:
    shutil.copytree(RULES, dest)
    made = runner.invoke(
        app,
        [
            "review", "approve", "all", "--rules", str(dest), "--by", "Dr Ada Reviewer",
            "--by", "Pharm Ben", "--on", "2026-11-30", "--next-review", "2099-01-01",
        ],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    return dest


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Books:
    root = tmp_path_factory.mktemp("review")
    good = build_book(load_rulebook(RULES), root / "book", rules_dir=RULES)
    broken_rules = root / "broken_rules"
    shutil.copytree(RULES, broken_rules)
    safety = broken_rules / "safety.yaml"
    text = safety.read_text(encoding="utf-8")
    assert '"phq9_item9 >= 1"' in text
    safety.write_text(text.replace('"phq9_item9 >= 1"', '"phq9_item9 >= 2"', 1), "utf-8")
    ours = root / "our_scenarios"
    ours.mkdir()
    (ours / "ours.feature").write_text(
        "Feature: the group's own scenario\n"
        "  Scenario: A typo in our own scenario\n"
        "    Given a patient aged 40\n"
        "    And GAD-7 totl 16\n"
        "    When the plan is drafted\n"
        "    Then the plan suggests safety.screen_suicide_risk\n"
    )
    broken = build_book(
        load_rulebook(broken_rules),
        root / "broken_book",
        rules_dir=broken_rules,
        since=load_rulebook(RULES),
        since_dir=RULES,
        features=ours,
        population=200,
    )
    return Books(good, broken)


# ---------------------------------------------------------------- the book's content


def test_the_bundled_book_shows_full_coverage_and_every_scenario(books: Books) -> None:
    good = books.good
    assert good.run.available and good.run.scenarios
    assert good.run.failed == 0, [s.label for s in good.run.scenarios if s.status != "passed"]
    index = (good.out_dir / "index.html").read_text(encoding="utf-8")
    n_rules = len(load_rulebook(RULES).rules)
    assert f"{n_rules} of {n_rules} rules fired by at least one scenario (100.0%)" in index
    assert re.search(r"(\d+) of \1 codes asserted by a passing step \(100\.0%\)", index)
    assert f"{len(good.run.scenarios)} passed" in index
    for s in good.run.scenarios:
        assert f'href="scenarios/{s.slug}.html"' in index
        assert (good.out_dir / "scenarios" / f"{s.slug}.html").is_file()


def test_a_rule_page_reads_in_plain_language_with_evidence_links_and_scenarios(
    books: Books,
) -> None:
    page = (books.good.out_dir / "rules" / "safety_crisis_self_harm_thoughts.html").read_text()
    assert "PHQ-9 item 9 is 1 point or more, or suicidal ideation is reported" in page
    assert "safety.crisis" in page and "critical" in page
    assert "Deferred until the same-day safety assessment is done" in page  # its override
    assert "Simon 2013" in page
    assert "Any item 9 score of 1 or more triggers the crisis pathway" in page
    nice = (books.good.out_dir / "rules" / "mood_young_severe.html").read_text()
    assert 'href="https://www.nice.org.uk/guidance/ng134"' in nice


def test_every_draft_a_scenario_produced_is_the_rendered_clinician_draft(books: Books) -> None:
    crisis = next(
        s
        for s in books.good.run.scenarios
        if s.name == "Item 9 positive in the bundled crisis example"
    )
    draft = (books.good.out_dir / "drafts" / f"{crisis.slug}.html").read_text()
    assert "Same-day suicide risk assessment" in draft
    assert DRAFT_FOOTER in draft  # the bundled rulebook is draft, and its drafts say so


def test_thresholds_table_lists_every_number_with_its_source(books: Books) -> None:
    table = (books.good.out_dir / "thresholds.html").read_text()
    book = load_rulebook(RULES)
    vocab = book.domain.vocabulary
    assert "PHQ-9 total is 20 points or more" in table
    assert table.count("<tr>") - 1 >= sum(
        1 for r in book.rules for leaf in re.findall(r"[<>]=? ?\d", r.condition.text())
    )
    assert plain(book.rule("mood.severe.urgent_referral").condition, vocab)


def test_hazard_log_links_each_rule_control(books: Books) -> None:
    page = (books.good.out_dir / "hazards.html").read_text()
    assert "H01" in page
    assert 'href="rules/safety_crisis_self_harm_thoughts.html"' in page
    assert "not in this rulebook" not in page


def test_each_invariant_is_shown_with_its_proof_status(books: Books) -> None:
    good = (books.good.out_dir / "invariants.html").read_text()
    for inv in ("S1", "S6", "S10", "S21"):
        assert f'<tr id="{inv}">' in good
    assert "some are not" not in good and 'class="failed"' not in good
    # The broken copy crisis-alerts only from item 9 >= 2: the verifier finds an intake (item 9
    # of 1) that breaks the crisis invariant, shown in red with that intake.
    broken = (books.broken.out_dir / "invariants.html").read_text()
    assert "some are not" in broken and 'class="failed"' in broken
    assert "phq9" in broken
    hazards = (books.good.out_dir / "hazards.html").read_text()
    assert 'href="invariants.html#S1"' in hazards


def test_a_broken_rulebook_shows_failures_and_what_changed(books: Books) -> None:
    broken = books.broken
    assert broken.run.failed > 0
    failing = [s for s in broken.run.scenarios if s.status == "failed"]
    assert any("item 9" in s.name.lower() for s in failing)
    index = (broken.out_dir / "index.html").read_text()
    assert f"{broken.run.failed} failed" in index
    changes = (broken.out_dir / "changes.html").read_text()
    assert "safety.crisis.self_harm_thoughts" in changes
    assert "phq9_item9 &gt;= 1 → 2" in changes
    assert "intake(s) get a different plan" in changes


def test_the_book_includes_the_groups_own_feature_files(books: Books) -> None:
    ours = next(s for s in books.broken.run.scenarios if s.name == "A typo in our own scenario")
    assert ours.status == "failed"
    assert [st.status for st in ours.steps] == ["passed", "undefined", "skipped", "skipped"]
    page = (books.broken.out_dir / "scenarios" / f"{ours.slug}.html").read_text()
    assert "GAD-7 totl 16" in page and "(undefined)" in page
    assert ours.name not in {s.name for s in books.good.run.scenarios}


def test_without_the_scenarios_the_book_says_so(tmp_path: Path) -> None:
    reason = "the BDD scenarios are not available here"
    result = build_book(
        load_rulebook(RULES), tmp_path / "book", rules_dir=RULES, run=RunResult(False, reason, [])
    )
    index = (result.out_dir / "index.html").read_text()
    assert "No scenario results in this book." in index and reason in index
    assert "no scenario results" in result.summary()


# ---------------------------------------------------------------- sign-off


def test_the_bundled_rulebook_is_draft_and_lint_stays_usable() -> None:
    book = load_rulebook(RULES)
    assert {s.state for s in review_states(book)} == {"draft"}
    assert runner.invoke(app, ["rules", "lint"]).exit_code == 0
    gov = runner.invoke(app, ["rules", "lint", "--governance"])
    assert gov.exit_code == 1
    assert "rule safety.crisis.self_harm_thoughts: [unapproved]" in gov.stdout


def test_approval_records_the_hash_and_an_edit_makes_it_stale(tmp_path: Path) -> None:
    copy = _approved_copy(tmp_path / "rules")
    status = runner.invoke(app, ["review", "status", "--rules", str(copy)])
    assert status.exit_code == 0, status.output
    book = load_rulebook(copy)
    assert not unapproved(book)
    rule = book.rule("mood.severe.urgent_referral")
    assert rule.review.approved_by == ["Dr Ada Reviewer", "Pharm Ben"]
    assert rule.review.approved_hash == rule.hash == load_rulebook(RULES).rule(rule.id).hash
    mood = copy / "mood.yaml"
    mood.write_text(mood.read_text().replace('"phq9_total >= 20"', '"phq9_total >= 19"', 1))
    stale = runner.invoke(app, ["review", "status", "--rules", str(copy)])
    assert stale.exit_code == 1
    assert "stale     mood.severe.urgent_referral" in stale.stdout
    lint = runner.invoke(app, ["rules", "lint", str(copy), "--governance"])
    assert "rule mood.severe.urgent_referral: [stale]" in lint.stdout
    assert "[unapproved]" not in lint.stdout


def test_a_retired_rule_is_kept_in_its_file_but_never_loaded(tmp_path: Path) -> None:
    copy = _approved_copy(tmp_path / "rules")
    sleep = copy / "sleep.yaml"
    text = sleep.read_text()
    first = re.search(r"review: \{status: approved", text)
    assert first is not None
    sleep.write_text(text[: first.start()] + "review: {status: retired" + text[first.end() :])
    before = {r.id for r in load_rulebook(RULES).rules}
    after = {r.id for r in load_rulebook(copy).rules}
    assert len(before - after) == 1 and (before - after) < {r for r in before if "sleep" in r}


def test_rule_hash_ignores_layout_and_review_but_not_content() -> None:
    rule = {"id": "a.b", "when": "age >= 18", "then": {"code": "x.y"}}
    reordered = {"then": {"code": "x.y"}, "when": "age >= 18", "id": "a.b"}
    assert rule_hash(rule) == rule_hash(reordered)
    assert rule_hash(rule) == rule_hash({**rule, "review": {"status": "approved"}})
    assert rule_hash(rule) != rule_hash({**rule, "when": "age >= 17"})


def test_overdue_review_is_reported(tmp_path: Path) -> None:
    copy = _approved_copy(tmp_path / "rules")
    sleep = copy / "sleep.yaml"
    sleep.write_text(
        sleep.read_text().replace("next_review: 2099-01-01", "next_review: 2026-01-01")
    )
    states = review_states(load_rulebook(copy), today=date(2026, 11, 30))
    assert {s.state for s in states} == {"approved", "overdue"}
    assert not unapproved(load_rulebook(copy))  # overdue still runs; it is reported


@pytest.mark.parametrize("command", ["evaluate", "batch", "serve"])
def test_require_approved_refuses_the_draft_rulebook_naming_rules(
    command: str, tmp_path: Path
) -> None:
    args = {
        "evaluate": ["evaluate", "--example", "case1"],
        "batch": ["batch", str(ROOT / "examples" / "case1.json"), str(tmp_path / "o.ndjson")],
        "serve": ["serve", "--port", "1"],
    }[command]
    flag = runner.invoke(app, [*args, "--require-approved"])
    assert flag.exit_code == 2
    assert "safety.crisis.self_harm_thoughts: draft" in flag.output
    env = runner.invoke(app, args, env={"GBRULES_REQUIRE_APPROVED": "1"})
    assert env.exit_code == 2 and "not approved" in env.output


def test_require_approved_accepts_an_approved_release(tmp_path: Path) -> None:
    from gbrules.io.release import approve_release, build_release, generate_key
    from gbrules.io.release.keys import load_private_key, public_text

    keys = {n: tmp_path / f"{n}.pem" for n in ("builder", "alice", "bob")}
    for path in keys.values():
        generate_key(path)
    ring = tmp_path / "keyring.json"
    ring.write_text(
        json.dumps(
            {
                "keys": [
                    {
                        "name": name,
                        "public_key": public_text(load_private_key(keys[who]).public_key()),
                        "roles": [role],
                    }
                    for name, who, role in (
                        ("Builder", "builder", "builder"),
                        ("Dr Alice", "alice", "approver"),
                        ("Dr Bob", "bob", "approver"),
                    )
                ]
            }
        )
    )
    run = ["evaluate", "--example", "case1", "--require-approved", "--keyring", str(ring)]
    for name, rules in (("draft", RULES), ("approved", _approved_copy(tmp_path / "rules"))):
        bundle = tmp_path / f"{name}.zip"
        day = date(2026, 11, 30)
        build_release(
            rules,
            bundle,
            version="2026.11.1",
            key=load_private_key(keys["builder"]),
            created_on=day,
        )
        for who, reviewer in (("alice", "Dr Alice"), ("bob", "Dr Bob")):
            approve_release(bundle, load_private_key(keys[who]), reviewer, on=day)
        result = runner.invoke(app, [*run, "--release", str(bundle)])
        if name == "draft":
            assert result.exit_code == 2 and "not approved" in result.output
        else:
            assert result.exit_code == 0, result.output
            assert DRAFT_FOOTER not in result.stdout


def test_drafts_of_an_approved_rulebook_do_not_say_draft(tmp_path: Path) -> None:
    engine = Engine.from_directory(_approved_copy(tmp_path / "rules"))
    try:
        text = render_care_plan(engine.evaluate(load_example("case1")), "text")
    finally:
        engine.close()
    assert DRAFT_FOOTER not in text


# ---------------------------------------------------------------- FHIR


def test_fhir_export_validates_as_r4_and_carries_review_metadata(tmp_path: Path) -> None:
    from fhir.resources.R4B.activitydefinition import ActivityDefinition
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.plandefinition import PlanDefinition

    book = load_rulebook(RULES)
    out = tmp_path / "draft.json"
    assert runner.invoke(app, ["rules", "export", "--fhir", str(out)]).exit_code == 0
    data = json.loads(out.read_text())
    Bundle.model_validate(data)
    plans = [
        PlanDefinition.model_validate(e["resource"])
        for e in data["entry"]
        if e["resource"]["resourceType"] == "PlanDefinition"
    ]
    acts = [
        ActivityDefinition.model_validate(e["resource"])
        for e in data["entry"]
        if e["resource"]["resourceType"] == "ActivityDefinition"
    ]
    view = next(p for p in plans if p.extension[0].valueUri == "patient-view")
    assert len(view.action) == len(book.rules)
    assert {p.status for p in plans} == {"draft"}
    crisis = next(
        a for a in view.action if a.id == "safety.crisis.self-harm-thoughts"
    )  # FHIR ids have no "_"
    assert crisis.priority == "stat"
    assert crisis.condition[0].expression.description.startswith("PHQ-9 item 9 is 1 point")
    assert any("Simon 2013" in d.citation for d in crisis.documentation)
    assert {a.code.coding[0].code for a in acts} == {r.code for r in book.rules}

    approved = tmp_path / "approved.json"
    copy = _approved_copy(tmp_path / "rules")
    assert (
        runner.invoke(
            app, ["rules", "export", "--fhir", str(approved), "--rules", str(copy)]
        ).exit_code
        == 0
    )
    plan = PlanDefinition.model_validate(json.loads(approved.read_text())["entry"][0]["resource"])
    assert plan.status == "active"
    assert str(plan.approvalDate) == "2026-11-30" and str(plan.lastReviewDate) == "2026-11-30"
    assert [r.name for r in plan.reviewer] == ["Dr Ada Reviewer", "Pharm Ben"]


# ---------------------------------------------------------------- scenarios check


def test_scenarios_check_reports_a_typo_with_the_closest_steps(tmp_path: Path) -> None:
    feature = tmp_path / "mine.feature"
    feature.write_text(
        "Feature: written by a clinician\n"
        "  Scenario: Moderate depression\n"
        "    Given a patient aged 34\n"
        "    And PHQ-9 totl 14\n"
        "    When the plan is drafted\n"
        "    Then the plan suggests referral.mental_health\n"
        "\n"
        "  Scenario: Crisis first\n"
        "    Given a patient aged 30\n"
        "    And PHQ-9 total 9 with item 9 1\n"
        "    When the plan is drafted\n"
        "    Then the first suggestion is safety.crisis\n"
    )
    result = runner.invoke(app, ["scenarios", "check", str(feature)])
    assert result.exit_code == 1
    out = result.stdout
    assert "Traceback" not in result.output
    assert "??   And PHQ-9 totl 14" in out and "closest known steps:" in out
    assert "PHQ-9 total 14" in out.split("closest known steps:", 1)[1]
    assert "Scenario: Crisis first  [PASSED]" in out
    assert "1 passed, 1 failed" in out


# ---------------------------------------------------------------- in a real browser


def _pdftotext() -> str:
    found = shutil.which("pdftotext")
    if not Path(CHROMIUM).exists() or found is None:
        msg = "chromium or pdftotext not installed (apt-get install chromium poppler-utils)"
        if IN_CI:
            pytest.fail(f"CI: {msg}")
        pytest.skip(msg)
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _pdftotext()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_a_reviewer_follows_overview_rule_scenario_and_back(books: Books, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    index = (books.good.out_dir / "index.html").as_uri()
    page.goto(index)
    page.click("text=safety.crisis.self_harm_thoughts")
    assert page.url.endswith("rules/safety_crisis_self_harm_thoughts.html")
    assert page.text_content("#rule-id") == "safety.crisis.self_harm_thoughts"
    page.click("a.scenario >> nth=0")
    assert "/scenarios/" in page.url
    assert page.text_content("#scenario-status") == "passed"
    page.go_back()
    assert page.url.endswith("rules/safety_crisis_self_harm_thoughts.html")
    page.click("nav.top >> text=Overview")
    assert page.url == index
    links = page.eval_on_selector_all(
        "a[href^='rules/']", "els => els.map(e => e.getAttribute('href'))"
    )
    book = load_rulebook(RULES)
    assert {f"rules/{r.id.replace('.', '_')}.html" for r in book.rules} <= set(links)
    for r in book.rules:
        page.goto((books.good.out_dir / "rules" / f"{r.id.replace('.', '_')}.html").as_uri())
        assert page.text_content("#rule-id") == r.id
    page.close()


def test_a_failing_scenario_is_red_on_the_overview(books: Books, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto((books.broken.out_dir / "index.html").as_uri())
    failed = page.locator("td.failed")
    assert failed.count() == books.broken.run.failed
    assert failed.first.evaluate("e => getComputedStyle(e).color") == "rgb(176, 0, 32)"
    page.goto((books.good.out_dir / "index.html").as_uri())
    assert page.locator("td.failed").count() == 0
    page.close()


def test_a_printed_rule_page_is_readable(books: Books, tmp_path: Path) -> None:
    pdftotext = _pdftotext()
    pdf = tmp_path / "rule.pdf"
    page = books.good.out_dir / "rules" / "safety_crisis_self_harm_thoughts.html"
    subprocess.run(
        [CHROMIUM, "--headless", *CHROMIUM_ARGS, f"--user-data-dir={tmp_path / 'p'}",
         "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    raw = subprocess.run(
        [pdftotext, "-raw", str(pdf), "-"], check=True, capture_output=True, timeout=60
    ).stdout.decode("utf-8")
    text = " ".join(unicodedata.normalize("NFKC", raw).split())
    assert "safety.crisis.self_harm_thoughts" in text
    assert "PHQ-9 item 9 is 1 point or more, or suicidal ideation is reported" in text
    assert "Simon 2013" in text
    assert "Overview Coverage matrix" not in text  # the navigation is not printed
