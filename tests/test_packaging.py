"""The sdist and wheel carry the rulebook, examples, templates and the C shim, and the wheel
works outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dists(built_dists: Path) -> Path:
    return built_dists  # built once per session (tests/conftest.py), shared with the doc tests


@pytest.fixture(scope="module")
def wheel(built_wheel: Path) -> Path:
    return built_wheel


def test_wheel_ships_rules_examples_templates_and_shim(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    rules = {p.name for p in (ROOT / "rules").glob("*.yaml")}
    assert rules
    assert {f"gbrules/_bundled/rules/{r}" for r in rules} <= names
    examples = {p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").rglob("*.json")}
    assert {f"gbrules/_bundled/{e}" for e in examples} <= names
    features = {p.relative_to(ROOT).as_posix() for p in (ROOT / "features").glob("*.feature")}
    assert features and {f"gbrules/_bundled/{f}" for f in features} <= names
    assert "gbrules/clinical/templates/clinician.md.j2" in names
    # the workbench's pages, script and stylesheet (no build step: they ship as they are)
    assert {
        "gbrules/io/app/templates/index.html.j2",
        "gbrules/io/app/static/app.js",
        "gbrules/io/app/static/app.css",
    } <= names
    assert "gbrules/clinical/fact_model.yaml" in names  # the verifier's derived-fact definitions
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    assert f"gbrules/core/backends/_pyeval_shim{suffix}" in names  # built for this interpreter
    assert not [n for n in names if n.endswith((".c", ".pyc"))]


def test_sdist_ships_shim_source_rules_examples_and_suite(dists: Path) -> None:
    (sdist,) = dists.glob("gbrules-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert "gbrules/core/backends/_pyeval_shim.c" in names
    assert {"setup.py", "pyproject.toml", "README.md", "noxfile.py"} <= names
    tracked = subprocess.run(
        ["git", "ls-files", "rules", "examples", "features", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked
    missing = sorted(set(tracked) - names)  # what git tracks; never installed node_modules
    assert not missing, missing
    assert not [n for n in names if n.endswith((".so", ".pyc"))]


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
        [sys.executable, "-c", "import gbrules.clinical.domain as r; print(r.default_rules_dir())"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip().startswith(str(site))


CHECK_OURS = ("scenarios", "check", "ours.feature")


def test_installed_wheel_checks_scenarios_from_any_directory(wheel: Path, tmp_path: Path) -> None:
    """A governance group with gbrules installed (not a checkout) runs its own scenario with
    the shipped step vocabulary, beside the bundled ones."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "ours.feature").write_text(
        "Feature: our check\n"
        "  Scenario: short sleep gets sleep hygiene\n"
        "    Given a patient aged 40\n"
        "    And sleep hours is 5\n"
        "    When the plan is drafted\n"
        "    Then the plan suggests sleep.hygiene\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-c", "from gbrules.io.cli import main; main()", *CHECK_OURS],
        cwd=elsewhere,
        env=dict(os.environ, PYTHONPATH=str(site)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok   Then the plan suggests sleep.hygiene" in proc.stdout
    assert "1 passed, 0 failed" in proc.stdout
