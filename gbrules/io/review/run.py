"""Run the BDD scenarios for the review book and collect each scenario's result.

The scenarios are the bundled ``features/*.feature`` (in a checkout, the repository's; in an
installed wheel, the copy it carries), plus any extra feature files, run with gbrules' step
vocabulary (``gbrules.io.scenarios.steps``) by pytest-bdd in a fresh ``python -m pytest``
subprocess over a two-line test module written for the run. pytest-bdd writes a Cucumber JSON
report (feature, scenario, steps, pass/fail and error text); ``GBRULES_FEATURE_LOG`` makes the
steps append each evaluation's fired rules, intake and site pack, and each code a passing step
asserted, naming the test item; ``GBRULES_FEATURE_RULES`` points them at the rulebook under
review. Both are joined on the test item name.

It needs pytest and pytest-bdd (``pip install 'gbrules[scenarios]'``); without them the result
says so (``available`` is False) and the book is built without scenario results.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gbrules.clinical.examples import examples_dir

#: The bundled scenarios: beside the bundled examples (the repository root in a checkout).
FEATURE_DIR = examples_dir().parent / "features"
_TEST_MODULE = """\
from pytest_bdd import scenarios

from gbrules.io.scenarios.steps import *  # noqa: F403 - the step definitions are fixtures

for _folder in {folders!r}:
    scenarios(_folder)
"""
Status = Literal["passed", "failed", "skipped", "undefined"]
_UNDEFINED = re.compile(r'Step definition is not found: \w+ "(?P<text>[^"\n]*)"')


@dataclass(frozen=True)
class Step:
    keyword: str
    text: str
    status: Status
    error: str = ""


@dataclass(frozen=True)
class Evaluated:
    """One evaluation a scenario made: the intake it built and the site pack it named."""

    intake: dict[str, Any]
    pack: str | None
    fired: tuple[str, ...]


@dataclass
class ScenarioResult:
    feature: str  # feature name
    uri: str  # feature file, relative
    name: str
    line: int
    test: str  # pytest item name: the join key
    steps: list[Step]
    fired: set[str] = field(default_factory=set)
    asserted: set[str] = field(default_factory=set)
    evaluations: list[Evaluated] = field(default_factory=list)
    outcome: Status | None = None  # the test item's own result (JUnit XML), when known
    undefined: str = ""  # the text of a step no step definition matches
    path: Path | None = None  # the feature file, once found

    @property
    def status(self) -> Status:
        states = {s.status for s in self.steps}
        if self.outcome == "failed" or "failed" in states or "undefined" in states:
            return "failed"
        if not self.steps or states == {"skipped"}:
            return "skipped"
        return "passed"

    @property
    def label(self) -> str:
        """The scenario name, with the example row of a Scenario Outline when it is one."""
        if self.test.endswith("]") and "[" in self.test:
            return f"{self.name} [{self.test.split('[', 1)[1][:-1]}]"
        return self.name

    @property
    def slug(self) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", f"{Path(self.uri).stem} {self.test}".lower())
        return base.strip("-")[:120]


@dataclass
class RunResult:
    available: bool
    reason: str  # why there are no results, when not available; pytest's summary otherwise
    scenarios: list[ScenarioResult]

    @property
    def passed(self) -> int:
        return sum(s.status == "passed" for s in self.scenarios)

    @property
    def failed(self) -> int:
        return sum(s.status == "failed" for s in self.scenarios)


def scenarios_available() -> str | None:
    """None when the scenarios can run here, else the reason they cannot."""
    if not FEATURE_DIR.is_dir():
        return f"the bundled scenarios are missing (no {FEATURE_DIR}): reinstall gbrules"
    try:
        import pytest_bdd  # noqa: F401
    except ImportError:
        return "pytest-bdd is not installed (pip install 'gbrules[scenarios]') so no scenario ran"
    return None


def run_scenarios(rules_dir: Path, features: Path | None = None) -> RunResult:
    """Run every bundled scenario, and those in ``features``, against ``rules_dir`` (a whole
    rulebook directory)."""
    reason = scenarios_available()
    if reason is not None:
        return RunResult(False, reason, [])
    folders = [str(FEATURE_DIR.resolve())]
    if features is not None:
        folders.append(str(features.resolve()))
    with tempfile.TemporaryDirectory(prefix="gbrules-review-") as tmp:
        report = Path(tmp) / "cucumber.json"
        junit = Path(tmp) / "junit.xml"
        log = Path(tmp) / "features.jsonl"
        module = Path(tmp) / "test_scenarios.py"
        module.write_text(_TEST_MODULE.format(folders=folders), encoding="utf-8")
        env = {
            **os.environ,
            "GBRULES_FEATURE_LOG": str(log),
            "GBRULES_FEATURE_RULES": str(rules_dir.resolve()),
        }
        proc = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--rootdir",
                tmp,
                "-c",
                os.devnull,  # no project configuration: the run is the same in a checkout
                f"--cucumberjson={report}",
                f"--junitxml={junit}",
                str(module),
            ],
            cwd=Path.cwd(),  # site packs named by a scenario are relative to it
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if not report.is_file():
            tail = (proc.stdout + proc.stderr)[-2000:]
            return RunResult(False, f"the scenario run produced no report:\n{tail}", [])
        scenarios = _read_report(json.loads(report.read_text(encoding="utf-8")))
        _join_log(scenarios, log)
        _join_junit(scenarios, junit)
        # The report names each feature file relative to its folder's parent.
        roots = [FEATURE_DIR.parent, FEATURE_DIR] + (
            [features.resolve().parent] if features else []
        )
        for sc in scenarios:
            _complete_steps(sc, roots)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return RunResult(True, summary, scenarios)


def _read_report(report: list[dict[str, Any]]) -> list[ScenarioResult]:
    out: list[ScenarioResult] = []
    for feature in report:
        for el in feature.get("elements", []):
            steps = [
                Step(
                    s.get("keyword", ""),
                    s.get("name", ""),
                    _status(s.get("result", {}).get("status", "skipped")),
                    s.get("result", {}).get("error_message", "") or "",
                )
                for s in el.get("steps", [])
            ]
            out.append(
                ScenarioResult(
                    feature=feature.get("name", ""),
                    uri=feature.get("uri", ""),
                    name=el.get("name", ""),
                    line=int(el.get("line", 0)),
                    test=el.get("id", ""),
                    steps=steps,
                )
            )
    return out


def _status(s: str) -> Status:
    return "passed" if s == "passed" else "failed" if s == "failed" else "skipped"


def _join_log(scenarios: list[ScenarioResult], log: Path) -> None:
    by_test = {s.test: s for s in scenarios}
    if not log.is_file():
        return
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        target = by_test.get(entry.get("test", ""))
        if target is None:
            continue
        if "fired" in entry:
            target.fired.update(entry["fired"])
            target.evaluations.append(
                Evaluated(entry.get("intake", {}), entry.get("pack"), tuple(entry["fired"]))
            )
        if "asserted" in entry:
            target.asserted.add(entry["asserted"])


def _join_junit(scenarios: list[ScenarioResult], junit: Path) -> None:
    """Each test item's outcome, and the step pytest-bdd found no definition for.

    The Cucumber report stops at the last step that ran, so a scenario whose step has no
    definition looks complete there; JUnit XML has the failure and its message.
    """
    if not junit.is_file():
        return
    import xml.etree.ElementTree as ET  # our own pytest's report, not outside input

    by_test = {s.test: s for s in scenarios}
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314
        target = by_test.get(case.get("name", ""))
        if target is None:
            continue
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is None:
            target.outcome = "skipped" if case.find("skipped") is not None else "passed"
            continue
        target.outcome = "failed"
        m = _UNDEFINED.search(failure.get("message", "") + (failure.text or ""))
        if m is not None:
            target.undefined = m["text"]


def _complete_steps(s: ScenarioResult, roots: list[Path]) -> None:
    """Add the steps the Cucumber report left out (after an undefined or failed step) from
    the feature file itself (parsed with the official Cucumber Gherkin parser)."""
    path = next((r / s.uri for r in roots if (r / s.uri).is_file()), None)
    if path is None:
        return
    s.path = path
    from gherkin.parser import Parser

    try:
        doc: dict[str, Any] = dict(Parser().parse(path.read_text(encoding="utf-8")))
    except Exception:  # a feature file pytest-bdd parsed but gherkin does not: keep the report
        return
    for child in doc.get("feature", {}).get("children", []):
        scenario = child.get("scenario")
        if not scenario or scenario.get("location", {}).get("line") != s.line:
            continue
        written = scenario.get("steps", [])
        done = len(s.steps)
        for st in written[done:]:
            text = st.get("text", "")
            status: Status = "undefined" if text == s.undefined else "skipped"
            s.steps.append(Step(st.get("keyword", "").strip(), text, status))
        return
