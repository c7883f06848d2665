"""`make install` checks the system before pip and says exactly what to install.

durable-rules compiles C on install; without a compiler or the Python headers pip fails with
"Failed building wheel for durable_rules" and nothing else. scripts/check_prereqs.py runs first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_prereqs.py"
INSTALL_LINES = (
    "sudo apt-get install build-essential python3-dev python3-venv",
    "sudo dnf install gcc python3-devel",
    "xcode-select --install",
)


def _check(cc: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CC"}
    if cc is not None:
        env["CC"] = cc
    return subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )


def test_this_machine_passes() -> None:
    # The suite runs, so durable-rules was built here: the check must agree.
    proc = _check(None)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_no_compiler_fails_early_and_says_what_to_install(tmp_path: Path) -> None:
    proc = _check(str(tmp_path / "no-such-cc"))
    assert proc.returncode == 1
    assert "no C compiler" in proc.stderr and "no-such-cc" in proc.stderr
    for line in INSTALL_LINES:
        assert line in proc.stderr


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler on PATH")
def test_a_compiler_that_cannot_build_against_the_headers_is_caught() -> None:
    # -nostdinc hides the system headers Python.h includes: the probe compile must fail.
    proc = _check("cc -nostdinc")
    assert proc.returncode == 1
    assert "cannot build against the Python headers" in proc.stderr
    assert INSTALL_LINES[0] in proc.stderr


def test_make_runs_the_check_before_creating_the_venv() -> None:
    recipe = subprocess.run(
        ["make", "-n", "-B", "install", "VENV=/nonexistent-venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert recipe.index("scripts/check_prereqs.py") < recipe.index("-m venv")
