"""A pytest plugin: a control named in the hazard log must pass, not merely exist.

tests/test_safety_case.py checks that each control exists. This plugin watches the run: if a
test or scenario that docs/safety/hazards.yaml names as a control fails or is skipped, the
session fails with the hazard's id, even when the failure is elsewhere ignored (a skip is a
control that was not verified). Controls not collected in a partial run are not judged.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gbrules.clinical.safety_case import (
    AutomatedTestControl,
    InvariantControl,
    ScenarioControl,
    load_hazard_log,
)

ROOT = Path(__file__).resolve().parent.parent

_controlled: dict[str, str] = {}  # test node id -> the hazard ids whose control it is
_broken: dict[str, str] = {}  # node id -> "failed" | "skipped"


def _feature_titles() -> dict[str, str]:
    titles: dict[str, str] = {}
    for path in (ROOT / "features").glob("*.feature"):
        found = re.search(r"^\s*Feature:\s*(.+?)\s*$", path.read_text(encoding="utf-8"), re.M)
        if found:
            titles[path.name] = found.group(1)
    return titles


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    log = load_hazard_log()
    titles = _feature_titles()
    wanted: dict[str, set[str]] = {}  # a key an item is matched by -> hazard ids
    for hazard in log.hazards:
        for c in hazard.controls:
            if isinstance(c, AutomatedTestControl):
                key = f"{c.path}::{c.function}"
            elif isinstance(c, ScenarioControl):
                key = f"scenario::{titles.get(c.feature_file, '?')}: {c.name}"
            elif isinstance(c, InvariantControl):
                key = f"invariant::{c.invariant}"
            else:
                continue
            wanted.setdefault(key, set()).add(hazard.id)
    for item in items:
        function = getattr(item, "function", None)
        base = item.nodeid.split("[", 1)[0]
        keys = [base]
        doc = getattr(function, "__doc__", None) or ""
        if base.startswith("tests/test_features.py::"):
            keys.append(f"scenario::{doc.strip()}")
        name = base.rsplit("::", 1)[-1]
        found = re.match(r"test_(S\d+)_", name)
        if found and "test_invariants" in base:
            keys.append(f"invariant::{found.group(1)}")
        hazards = set().union(*(wanted.get(k, set()) for k in keys))
        if hazards:
            _controlled[item.nodeid] = ", ".join(sorted(hazards))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _controlled:
        return
    if report.failed:
        _broken[report.nodeid] = "failed"
    elif report.skipped and report.when in ("setup", "call"):
        _broken.setdefault(report.nodeid, "skipped")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _broken:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _broken:
        return
    terminalreporter.section("hazard-log controls not verified", red=True)
    for nodeid, outcome in sorted(_broken.items()):
        terminalreporter.line(f"{_controlled[nodeid]}: {nodeid} {outcome}")
