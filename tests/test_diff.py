"""The synthetic population and ``gbrules rules diff``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gbrules.clinical.domain import default_rules_dir
from gbrules.clinical.intake import parse_intake
from gbrules.io.cli import app
from gbrules.tools.population import diff_rulebooks, population

runner = CliRunner()


def test_population_is_deterministic_and_valid() -> None:
    a = population(300, seed=7)
    assert a == population(300, seed=7)
    assert a[:50] == population(50, seed=7)
    assert a != population(300, seed=8)
    for data in a:
        parse_intake(data)  # raises IntakeError if any generated intake is invalid
    assert len({d["patient_id"] for d in a}) == 300


@pytest.fixture
def lowered_severe_threshold(tmp_path: Path) -> Path:
    """A copy of rules/ where 'severe' starts at PHQ-9 19 instead of 20 for adults (the
    adults' rule comes first in mood.yaml; the under-18 one keeps 20)."""
    new = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), new)
    mood = new / "mood.yaml"
    text = mood.read_text()
    assert '"phq9_total >= 20"' in text
    mood.write_text(text.replace('"phq9_total >= 20"', '"phq9_total >= 19"', 1))
    return new


def test_identical_rulebooks_have_no_changes() -> None:
    report = diff_rulebooks(default_rules_dir(), default_rules_dir(), 200, seed=1)
    assert report.changes == []
    assert report.changed_intakes == 0
    assert "no code appears, disappears or changes priority" in report.text()


def test_a_threshold_change_is_reported_with_examples(lowered_severe_threshold: Path) -> None:
    report = diff_rulebooks(default_rules_dir(), lowered_severe_threshold, 500, seed=3)
    assert [(c.code, c.kind, c.detail) for c in report.changes] == [
        ("referral.mental_health", "priority", "routine -> urgent")
    ]
    change = report.changes[0]
    assert change.count == report.changed_intakes > 0
    assert len(change.examples) == 3
    for ex in change.examples:
        phq = ex["mood"]["phq9"]
        total = sum(phq["items"]) if "items" in phq else phq["total"]
        assert total == 19  # exactly the intakes on the moved boundary


def test_a_removed_rule_shows_codes_disappearing(tmp_path: Path) -> None:
    new = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), new)
    (new / "sleep.yaml").write_text(
        "rules:\n"
        "  - id: sleep.very_short\n"
        "    title: Very short sleep\n"
        '    when: "sleep_hours < 5"\n'
        "    then: {code: sleep.hygiene, rationale: Short sleep.}\n"
        '    evidence: ["Buysse 1989, Psychiatry Res 28:193"]\n'
    )
    report = diff_rulebooks(default_rules_dir(), new, 800, seed=5)
    gone = [c for c in report.changes if c.code == "sleep.hygiene"]
    assert [c.kind for c in gone] == ["disappears"]
    assert gone[0].count > 0
    assert all(len(c.examples) <= 3 for c in report.changes)


def test_cli_diff_text_and_json(lowered_severe_threshold: Path) -> None:
    args = ["rules", "diff", str(default_rules_dir()), str(lowered_severe_threshold)]
    text = runner.invoke(app, [*args, "--population", "500", "--seed", "3"])
    assert text.exit_code == 0, text.output
    assert "referral.mental_health changes priority (routine -> urgent) in" in text.stdout
    assert text.stdout.count('"patient_id":"pop-') == 3
    js = runner.invoke(app, [*args, "--population", "500", "--seed", "3", "--format", "json"])
    data = json.loads(js.stdout)
    assert data["population"] == 500 and data["seed"] == 3
    assert data["changes"][0]["code"] == "referral.mental_health"
    again = runner.invoke(app, [*args, "--population", "500", "--seed", "3", "--format", "json"])
    assert again.stdout == js.stdout


def test_cli_diff_bad_rulebook_exits_2(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("rules: [{id: bad}]\n")
    result = runner.invoke(app, ["rules", "diff", str(default_rules_dir()), str(tmp_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
