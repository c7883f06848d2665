"""``gbrules rules lint``: one bad rulebook per kind of finding, each naming file and rule id."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gbrules.clinical.domain import CLINICAL, default_rules_dir
from gbrules.clinical.proof import clinical_proof_domain
from gbrules.core.lint import Finding
from gbrules.core.lint import lint as lint_in
from gbrules.io.cli import app

runner = CliRunner()

MANIFEST = """
name: lint test
version: 0.1.0
files: [test.yaml]
"""


def rule(rid: str, when: str, code: str = "sleep.hygiene", extra: str = "") -> str:
    return textwrap.dedent(
        f"""
        - id: {rid}
          title: a test rule
          when: {when}
          then:
            code: {code}
            rationale: Because.
          evidence: ["Buysse 1989, Psychiatry Res 28:193"]
        """
    ) + textwrap.indent(textwrap.dedent(extra).strip("\n") + "\n", "  ")


def book(tmp_path: Path, *rules: str, manifest: bool = True) -> Path:
    if manifest:
        (tmp_path / "rulebook.yaml").write_text(MANIFEST)
    body = "".join(rules)
    (tmp_path / "test.yaml").write_text("rules:\n" + textwrap.indent(body, "  "))
    return tmp_path


def lint(directory: Path) -> list[Finding]:
    return lint_in(directory, CLINICAL, clinical_proof_domain())


def kinds(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.kind, f.rule_id) for f in findings]


def test_the_default_rulebook_is_clean() -> None:
    assert lint(default_rules_dir()) == []
    result = runner.invoke(app, ["rules", "lint", str(default_rules_dir())])
    assert result.exit_code == 0, result.output


def test_a_clean_book_exits_0(tmp_path: Path) -> None:
    d = book(tmp_path, rule("t.ok", '"sleep_hours < 7"'))
    assert lint(d) == []
    assert runner.invoke(app, ["rules", "lint", str(d)]).exit_code == 0


@pytest.mark.parametrize(
    ("rules", "expected", "text"),
    [
        # loader errors, reported as findings
        ([rule("t.fact", '"sleep_hourz < 7"')], ("error", "t.fact"), "unknown fact"),
        ([rule("t.code", '"sleep_hours < 7"', code="sleep.nap")], ("error", "t.code"), "sleep.nap"),
        (
            [rule("t.dup", '"sleep_hours < 7"'), rule("t.dup", '"sleep_hours < 6"')],
            ("error", "t.dup"),
            "duplicate id",
        ),
        ([rule("t.cond", '{maybe: ["x"]}')], ("error", "t.cond"), "unknown condition key"),
        # evidence
        (
            [
                rule("t.noev", '"sleep_hours < 7"').replace(
                    '["Buysse 1989, Psychiatry Res 28:193"]', "[]"
                )
            ],
            ("evidence", "t.noev"),
            "evidence",
        ),
        (
            [
                rule("t.todo", '"sleep_hours < 7"').replace(
                    "Buysse 1989, Psychiatry Res 28:193", "TODO"
                )
            ],
            ("evidence", "t.todo"),
            "names no source",
        ),
        # thresholds outside the fact's range
        ([rule("t.range", '"phq9_total < 40"')], ("out-of-range", "t.range"), "0-27"),
        ([rule("t.crp", '"crp_mg_l > 5000"')], ("out-of-range", "t.crp"), "crp_mg_l > 5000"),
        # conditions that can never be true
        ([rule("t.top", '"phq9_total > 27"')], ("never-true", "t.top"), "never be true"),
        (
            [rule("t.gap", '{all: ["gad7_total > 5", "gad7_total < 3"]}')],
            ("never-true", "t.gap"),
            "never be true",
        ),
        (
            [rule("t.int", '{all: ["phq9_total > 4", "phq9_total < 5"]}')],
            ("never-true", "t.int"),
            "never be true",
        ),
        (
            [rule("t.bool", '{all: ["ibs == true", {not: "ibs == true"}]}')],
            ("never-true", "t.bool"),
            "never be true",
        ),
        (
            [rule("t.miss", '{all: ["sleep_hours is missing", "sleep_hours < 7"]}')],
            ("never-true", "t.miss"),
            "never be true",
        ),
        (
            [
                rule(
                    "t.enum",
                    '{all: ["celiac_serology in [negative]", "celiac_serology != negative"]}',
                )
            ],
            ("never-true", "t.enum"),
            "never be true",
        ),
        (
            [rule("t.branch", '{any: ["sleep_hours < 7", {all: ["age > 60", "age < 18"]}]}')],
            ("never-true", "t.branch"),
            "alternative can never be true",
        ),
        # wording: never an order to stop a medication, never a diagnosis
        (
            [rule("t.stop", '"on_ssri == true"').replace("Because.", "Stop the SSRI.")],
            ("wording", "t.stop"),
            "Stop",
        ),
        (
            [rule("t.dx", '"phq9_total >= 20"').replace("Because.", "This confirms depression.")],
            ("wording", "t.dx"),
            "confirms depression",
        ),
        # evidence that is only the scenario a rule mirrors: not clinical evidence
        (
            [
                rule("t.seed", '"sleep_hours < 7"').replace(
                    '["Buysse 1989, Psychiatry Res 28:193"]', '["Scenario: seed Case 1 (sleep)"]'
                )
            ],
            ("evidence", "t.seed"),
            "scenario or a regulation",
        ),
        # evidence that is only a regulation: the FDA CDS guidance says how advice is shown
        (
            [
                rule("t.fda", '"sleep_hours < 7"').replace(
                    '["Buysse 1989, Psychiatry Res 28:193"]',
                    '["FDA 2022 CDS guidance, criterion 4"]',
                )
            ],
            ("evidence", "t.fda"),
            "not clinical evidence",
        ),
        # an override on a code that no rule produces
        (
            [
                rule(
                    "t.dead",
                    '"sleep_hours < 7"',
                    extra="""
                    overrides:
                      - suppress: [diet.low_fodmap_trial]
                        reason: never matters here
                    """,
                )
            ],
            ("dead-override", "t.dead"),
            "diet.low_fodmap_trial",
        ),
    ],
)
def test_each_kind_of_finding(
    tmp_path: Path, rules: list[str], expected: tuple[str, str], text: str
) -> None:
    d = book(tmp_path, *rules)
    findings = lint(d)
    assert expected in kinds(findings), [f.text() for f in findings]
    hit = next(f for f in findings if (f.kind, f.rule_id) == expected)
    assert text in hit.message
    assert hit.file == "test.yaml"
    result = runner.invoke(app, ["rules", "lint", str(d)])
    assert result.exit_code == 1
    assert "test.yaml" in result.stdout and expected[1] in result.stdout
    assert "Traceback" not in result.output


def test_a_site_pack_is_linted_on_top_of_the_default(tmp_path: Path) -> None:
    extra = """
    overrides:
      - suppress: [probiotic.trial]
        reason: the site prefers provider review
    """
    d = book(tmp_path, rule("site.ok", '"sleep_hours < 6"', extra=extra), manifest=False)
    # probiotic.trial is produced by the default rulebook, so the override is not dead
    assert lint(d) == []


def test_a_site_pack_cannot_touch_safety(tmp_path: Path) -> None:
    extra = """
    overrides:
      - suppress: [safety.crisis]
        reason: not wanted here
    """
    d = book(tmp_path, rule("site.bad", '"sleep_hours < 6"', extra=extra), manifest=False)
    findings = lint(d)
    assert ("error", "site.bad") in kinds(findings)
    assert "protected" in findings[0].message


@pytest.mark.parametrize(
    "when",
    [
        '{all: ["phq9_total >= 5", "phq9_total <= 5"]}',
        '{all: ["sleep_hours > 6.9", "sleep_hours < 7"]}',
        '{not: {all: ["ibs == true", "ibs == false"]}}',
        '{all: ["crp_mg_l > 3", "crp_mg_l <= 10", "crp_mg_l != 5"]}',
        '{all: ["age in [49, 50]", "age >= 50"]}',
        '{any: ["sleep_hours is missing", "sleep_hours < 7"]}',
        '{all: ["gi_alarm == true", "rectal_bleeding == false"]}',
    ],
)
def test_satisfiable_conditions_are_not_flagged(tmp_path: Path, when: str) -> None:
    findings = lint(book(tmp_path, rule("t.ok", when)))
    assert not [f for f in findings if f.kind == "never-true"], [f.text() for f in findings]


@pytest.mark.parametrize(
    ("when", "why"),
    [
        # gi_alarm is defined by the alarm features: with every one recorded absent it is false
        (
            '{all: ["gi_alarm == true", "rectal_bleeding == false", '
            '"unintentional_weight_loss == false", "iron_deficiency_anemia == false", '
            '"persistent_vomiting == false", "dysphagia == false", "nocturnal_symptoms == false", '
            '"change_in_bowel_habit == false", "family_history_colorectal_cancer == false"]}',
            "a derived fact against its definition",
        ),
        # the intake refuses pregnant with sex male
        ('{all: ["pregnant == true", "sex == male"]}', "an impossible combination"),
        # a band and its total disagree
        ('{all: ["phq9_band == severe", "phq9_total < 20"]}', "a band against its total"),
    ],
)
def test_never_true_is_decided_by_the_meaning_of_facts(tmp_path: Path, when: str, why: str) -> None:
    """What the old per-fact interval analysis could not see: facts defined by other facts."""
    findings = lint(book(tmp_path, rule("t.dead", when)))
    assert ("never-true", "t.dead") in kinds(findings), why


def test_list_shows_a_table_with_evidence() -> None:
    result = runner.invoke(app, ["rules", "list", str(default_rules_dir())])
    assert result.exit_code == 0
    for word in ("safety.crisis.self_harm_thoughts", "critical", "phq9_item9 >= 1", "Simon 2013"):
        assert word in result.stdout


def test_duplicate_and_conflicting_rules(tmp_path: Path) -> None:
    first = rule("t.first", '{all: ["sleep_hours < 7", "stress_score >= 7"]}')
    # The same condition written the other way round, same code and priority: a duplicate.
    dup = rule("t.dup", '{all: ["stress_score >= 7", "sleep_hours < 7"]}')
    # Same condition (via De Morgan) and code, another priority: a conflict.
    clash = rule(
        "t.clash",
        '{not: {any: ["sleep_hours >= 7", "stress_score < 7"]}}',
        code="referral.mental_health",
    )
    clash2 = rule(
        "t.clash2",
        '{all: ["sleep_hours < 7", "stress_score >= 7"]}',
        code="referral.mental_health",
    ).replace("code: referral.mental_health", "code: referral.mental_health\n    priority: urgent")
    other = rule("t.other", '{all: ["sleep_hours < 6", "stress_score >= 7"]}')
    # Written nothing alike, the same intakes: a band is its total's range.
    band = rule("t.band", '"phq9_band in [moderate, moderately_severe, severe]"')
    total = rule("t.total", '{not: "phq9_total < 10"}')
    findings = lint(book(tmp_path, first, dup, clash, clash2, other, band, total))
    assert ("duplicate", "t.dup") in kinds(findings)
    assert ("duplicate", "t.total") in kinds(findings)
    conflict = next(f for f in findings if (f.kind, f.rule_id) == ("conflict", "t.clash2"))
    assert "t.clash" in conflict.message and "urgent" in conflict.message
    assert not [f for f in findings if f.rule_id in ("t.first", "t.clash", "t.other")]


def test_without_the_solver_lint_falls_back_to_interval_analysis(tmp_path: Path) -> None:
    """No ProofDomain (or no z3): never-true by per-fact intervals, which sees a contradiction
    on one fact but not one through a derived fact's definition; the solver sees both."""
    plain = book(tmp_path, rule("t.plain", '{all: ["phq9_total >= 5", "phq9_total < 5"]}'))
    assert ("never-true", "t.plain") in kinds(lint_in(plain, CLINICAL))
    derived = tmp_path / "derived"
    derived.mkdir()
    band = book(derived, rule("t.band", '{all: ["phq9_band == severe", "phq9_total < 20"]}'))
    assert ("never-true", "t.band") not in kinds(lint_in(band, CLINICAL))
    assert ("never-true", "t.band") in kinds(lint(band))


def test_a_scenario_beside_real_evidence_is_not_flagged(tmp_path: Path) -> None:
    """The seed may be cited as the scenario a rule mirrors, next to a guideline."""
    both = rule("t.both", '"sleep_hours < 7"').replace(
        '["Buysse 1989, Psychiatry Res 28:193"]',
        '["Watson 2015, Sleep 38:843", "Scenario: seed Case 1 (sleep hygiene)"]',
    )
    assert lint(book(tmp_path, both)) == []
