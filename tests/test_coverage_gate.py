"""Coverage gate: every rule is exercised by a scenario, every code is asserted by one.

The gate runs the feature scenarios itself, in a fresh ``pytest`` subprocess over
``tests/test_features.py`` with ``GBRULES_FEATURE_LOG`` set, so the result does not depend on
test order, on ``-k`` selection or on which other tests ran in this session. The step
definitions append to the log each evaluation's fired rules and each code a passing step
asserted (``the plan suggests CODE``, ``the first suggestion is CODE``, ``CODE is deferred /
suppressed because ...``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gbrules.clinical.codes import CODES
from gbrules.clinical.domain import load_rulebook

ROOT = Path(__file__).resolve().parent.parent


def collect(log: Path) -> tuple[set[str], set[str], subprocess.CompletedProcess[str]]:
    env = {**os.environ, "GBRULES_FEATURE_LOG": str(log)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            str(ROOT / "tests" / "test_features.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    fired: set[str] = set()
    asserted: set[str] = set()
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            fired.update(entry.get("fired", []))
            if "asserted" in entry:
                asserted.add(entry["asserted"])
    return fired, asserted, proc


@pytest.mark.slow
def test_every_rule_fired_and_every_code_asserted(tmp_path: Path) -> None:
    fired, asserted, proc = collect(tmp_path / "features.jsonl")
    assert proc.returncode == 0, "feature scenarios failed:\n" + proc.stdout[-4000:]
    rules = [r.id for r in load_rulebook(ROOT / "rules").rules]
    never_fired = [r for r in rules if r not in fired]
    never_asserted = [c for c in CODES if c not in asserted]
    report = []
    if never_fired:
        report.append("rules no scenario fires:\n  " + "\n  ".join(never_fired))
    if never_asserted:
        report.append("codes no scenario asserts:\n  " + "\n  ".join(never_asserted))
    print("\n".join(report) or f"coverage: {len(rules)} rules fired, {len(CODES)} codes asserted")
    assert not report, "\n".join(report)
