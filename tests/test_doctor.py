"""``gbrules doctor``: what loads, what is missing and the line that installs it; exit 1 only
when the rule engine cannot load."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gbrules.core.backends.loader import ENGINE_MODULE
from gbrules.io.cli import app
from gbrules.io.cli.doctor import _missing, _rejects_implicit_declarations

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


WIDE = {"COLUMNS": "300"}  # one table row per line, however long the paths


def test_doctor_reports_python_engine_and_shim_for_this_interpreter() -> None:
    result = runner.invoke(app, ["doctor"], env=WIDE)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{platform.python_version()} at {sys.executable}" in out
    assert "durable-rules" in out and "2.0.28" in out
    assert "durable_rules loads" in out
    if sys.version_info >= (3, 13):
        assert "used (this Python removed the call" in out
    else:
        assert "not needed on this Python" in out
    for name in ("fhir", "service", "audit", "dask", "parquet"):
        assert f"extra: {name}" in out
    for tool in ("chromium", "pdftotext", "PostgreSQL initdb", "node", "npm", "C compiler"):
        assert f"tool: {tool}" in out
    assert "The rule engine loads" in out


def test_a_missing_extra_shows_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = metadata.version

    def without_pyarrow(name: str) -> str:
        if name.lower() == "pyarrow":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", without_pyarrow)
    result = runner.invoke(app, ["doctor"], env=WIDE)
    assert result.exit_code == 0, result.output  # an extra is optional
    line = next(x for x in result.stdout.splitlines() if "extra: parquet" in x)
    assert "pyarrow missing: pip install 'gbrules[parquet]'" in line


def test_missing_requirements_are_read_from_the_declared_extra() -> None:
    declared = [
        'pytest>=1; extra == "x"',
        'gbrules-surely-not-installed>=1; extra == "x"',
        'pytest>=999; extra == "x"',
        'typer>=0.1; extra == "y"',
        "pydantic>=2",
    ]
    missing = _missing(declared, "x")
    assert missing[0] == "gbrules-surely-not-installed"
    assert missing[1].startswith(f"pytest {metadata.version('pytest')} (needs >=999")
    assert len(missing) == 2
    assert _missing(declared, "y") == []


def test_missing_system_tools_show_the_package_and_exit_0(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path), COLUMNS="300")
    proc = subprocess.run(
        [sys.executable, "-m", "gbrules.io.cli", "doctor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {
        "tool: chromium": "not found: apt-get install chromium",
        "tool: pdftotext": "not found: apt-get install poppler-utils",
        "tool: node": "not found: apt-get install nodejs",
        "tool: C compiler": "not found: apt-get install gcc",
    }
    lines = proc.stdout.splitlines()
    for name, expected in rows.items():
        assert expected in next(x for x in lines if name in x), name


def test_doctor_exits_1_and_says_why_when_the_engine_cannot_load() -> None:
    code = (
        f"import sys\nsys.modules[{ENGINE_MODULE!r}] = None\n"
        "from gbrules.io.cli import main\nsys.argv = ['gbrules', 'doctor']\nmain()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ, COLUMNS="300"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    out = " ".join(proc.stdout.split())  # rich wraps long cells
    assert "The rule engine cannot run here." in out
    assert "durable_rules is not installed" in out
    assert "pip install 'durable-rules==2.0.28'" in out


@pytest.mark.parametrize(
    ("line", "rejects"),
    [
        ("gcc (Debian 12.2.0-14+deb12u1) 12.2.0", False),
        ("cc (Ubuntu 13.2.0-23ubuntu4) 13.2.0", False),
        ("gcc (GCC) 14.2.1 20240912 (Red Hat 14.2.1-3)", True),
        ("gcc (Debian 14.2.0-19) 14.2.0", True),
        ("Debian clang version 15.0.6", False),
        ("Debian clang version 16.0.6 (15~deb12u1)", True),
        ("Apple clang version 15.0.0 (clang-1500.3.9.4)", True),
        ("tcc version 0.9.27", False),
    ],
)
def test_compilers_that_reject_durable_rules_on_3_13_are_recognised(
    line: str, rejects: bool
) -> None:
    """GCC 14 / Clang 16 refuse the undeclared PyEval_CallObject call in durable-rules' C."""
    assert _rejects_implicit_declarations(line) is rejects
