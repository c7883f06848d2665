from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from gbrules.io.cli import app

runner = CliRunner()


def test_example_case1_markdown() -> None:
    result = runner.invoke(app, ["evaluate", "--example", "case1"])
    assert result.exit_code == 0, result.output
    assert "Care-plan draft for example-case1" in result.stdout
    assert "Draft for clinician review" in result.stdout
    assert "stress.breathing" in result.stdout


def test_json_output_is_the_evaluation() -> None:
    result = runner.invoke(app, ["evaluate", "--example", "crisis", "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["suggestions"][0]["code"] == "safety.crisis"
    assert data["requires_immediate_action"] is True


def test_typo_key_exits_2_naming_the_key(tmp_path: Path) -> None:
    f = tmp_path / "in.json"
    f.write_text(json.dumps({"age": 30, "lifestyle": {"sleep_hourz": 5}}))
    result = runner.invoke(app, ["evaluate", str(f)])
    assert result.exit_code == 2
    assert "lifestyle.sleep_hourz" in result.stderr
    assert "Traceback" not in result.output


def test_bad_json_and_missing_file_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "in.json"
    f.write_text("{not json")
    assert runner.invoke(app, ["evaluate", str(f)]).exit_code == 2
    assert runner.invoke(app, ["evaluate", str(tmp_path / "nope.json")]).exit_code == 2
    assert runner.invoke(app, ["evaluate", "--example", "nope"]).exit_code == 2


def test_stdin() -> None:
    result = runner.invoke(app, ["evaluate", "-", "--format", "json"], input='{"age": 60}')
    assert result.exit_code == 0
    assert json.loads(result.stdout)["facts"]["age"] == 60


def test_rules_list_and_lint() -> None:
    listed = runner.invoke(app, ["rules", "list"])
    assert listed.exit_code == 0
    assert "safety.crisis.self_harm_thoughts" in listed.stdout
    assert runner.invoke(app, ["rules", "lint"]).exit_code == 0


def test_installed_console_script_has_no_traceback(tmp_path: Path) -> None:
    f = tmp_path / "in.json"
    f.write_text('{"age": "old"}')
    proc = subprocess.run(
        [sys.executable, "-m", "gbrules.io.cli", "evaluate", str(f)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "age" in proc.stderr
    assert "Traceback" not in proc.stderr
