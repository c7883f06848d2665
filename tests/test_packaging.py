"""The wheel carries the rulebook, examples and templates, and works outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("gbrules-*.whl")
    return whl


def test_wheel_ships_rules_examples_and_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    rules = {p.name for p in (ROOT / "rules").glob("*.yaml")}
    assert {f"gbrules/_bundled/rules/{r}" for r in rules} <= names
    assert "gbrules/_bundled/examples/case1.json" in names
    assert "gbrules/clinical/templates/clinician.md.j2" in names
    assert "gbrules/clinical/fact_model.yaml" in names  # the verifier's derived-fact definitions


def test_installed_wheel_runs_case1_from_any_directory(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gbrules.io.cli import main; main()",
            "evaluate",
            "--example",
            "case1",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Care-plan draft for example-case1" in proc.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import gbrules.core.rulebook as r; print(r.default_rules_dir())"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip().startswith(str(site))
