"""``gbrules rules stats``: active suggestions per plan, the alert-fatigue measure (issue 15).

The targets are the clinical review's: Case 1 at most 7 items, Case 2 at most 9, a median of
at most 6 over the synthetic population; and the seed recommendations stay (the case features
check each one).
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gbrules.clinical.engine import cached_engine
from gbrules.clinical.examples import load_example
from gbrules.io.cli import app
from gbrules.tools.plan_stats import plan_stats
from gbrules.tools.population import population

runner = CliRunner()


def test_the_cases_meet_the_item_targets() -> None:
    stats = plan_stats(
        cached_engine(),
        [{**load_example(n), "patient_id": n} for n in ("case1", "case2")],
        "cases",
        named=True,
    )
    assert stats.per_plan["case1"] <= 7
    assert stats.per_plan["case2"] <= 9


def test_the_median_plan_is_short() -> None:
    stats = plan_stats(cached_engine(), population(500, seed=1), "synthetic")
    assert stats.plans == 500
    assert stats.median <= 6
    assert sum(stats.histogram.values()) == 500
    assert stats.p90 <= stats.maximum


def test_cli_prints_the_distribution_and_examples() -> None:
    result = runner.invoke(
        app, ["rules", "stats", "--population", "50", "--seed", "1", "--examples"]
    )
    assert result.exit_code == 0, result.output
    assert "synthetic population (seed 1): 50 plans" in result.stdout
    assert "case1:" in result.stdout and "case2:" in result.stdout
    as_json = runner.invoke(
        app, ["rules", "stats", "--population", "20", "--format", "json", "--examples"]
    )
    reports = json.loads(as_json.stdout)
    assert reports[0]["plans"] == 20
    assert set(reports[1]["per_plan"]) >= {"case1", "case2"}


def test_cli_refuses_a_broken_rulebook(tmp_path: Path) -> None:
    folder = tmp_path
    (folder / "bad.yaml").write_text("rules: [{id: x}]\n")
    result = runner.invoke(app, ["rules", "stats", str(folder), "--population", "5"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
