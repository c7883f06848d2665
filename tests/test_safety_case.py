"""The hazard log's controls resolve to things that exist (docs/safety/hazards.yaml).

A control that is renamed or deleted fails here; a control test or scenario that fails or is
skipped in a full run is reported by the hook in tests/conftest.py. Together they keep the signed
safety case true to the code.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from gbrules.clinical.engine import cached_engine
from gbrules.clinical.safety_case import (
    AutomatedTestControl,
    InvariantControl,
    PendingControl,
    RuleControl,
    ScenarioControl,
    Severity,
    load_hazard_log,
)

ROOT = Path(__file__).resolve().parent.parent
LOG = load_hazard_log()


@cache
def functions_in(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))


@cache
def scenario_names(feature_file: str) -> frozenset[str]:
    path = ROOT / "features" / feature_file
    if not path.is_file():
        return frozenset()
    found = re.findall(r"^\s*Scenario(?: Outline)?:\s*(.+?)\s*$", path.read_text(), re.M)
    return frozenset(found)


@cache
def required_invariants() -> frozenset[str]:
    """Invariants of rules/invariants.yaml that are required (not pending) and checked on one
    evaluation: the yaml-driven property test runs each, and ``gbrules rules prove`` proves it."""
    from gbrules.clinical.domain import default_rules_dir
    from gbrules.clinical.facts import VOCABULARY
    from gbrules.core.verify.invariants import invariants_path, load_invariants

    book = load_invariants(
        invariants_path(default_rules_dir()), VOCABULARY, cached_engine().rulebook.codes
    )
    return frozenset(i.id for i in book if i.kind == "implication" and i.pending is None)


def invariant_tests(invariant: str) -> list[str]:
    """Property tests of one invariant: ``test_S8_...`` in any tests/test_invariants*.py, or
    the yaml-driven test's case for an invariant written in rules/invariants.yaml."""
    named = [
        f"{p.name}::{name}"
        for p in sorted(ROOT.glob("tests/test_invariants*.py"))
        for name in functions_in(str(p.relative_to(ROOT)))
        if name.startswith(f"test_{invariant}_")
    ]
    driven = "test_invariant_holds_on_random_intakes"
    if invariant in required_invariants() and driven in functions_in("tests/test_invariants.py"):
        named.append(f"test_invariants.py::{driven}[{invariant}]")
    return named


CONTROLS = [(h.id, c) for h in LOG.hazards for c in h.controls]


@pytest.mark.parametrize(
    ("hazard", "control"), CONTROLS, ids=[f"{h}-{i}" for i, (h, _) in enumerate(CONTROLS)]
)
def test_every_control_exists(hazard: str, control: object) -> None:
    if isinstance(control, RuleControl):
        assert control.rule in {r.id for r in cached_engine().rulebook.rules}, (
            f"{hazard}: rule {control.rule} is not in the default rulebook"
        )
    elif isinstance(control, InvariantControl):
        assert invariant_tests(control.invariant), (
            f"{hazard}: invariant {control.invariant} has no property test"
        )
    elif isinstance(control, ScenarioControl):
        assert control.name in scenario_names(control.feature_file), (
            f"{hazard}: no scenario {control.name!r} in features/{control.feature_file}"
        )
    elif isinstance(control, AutomatedTestControl):
        assert (ROOT / control.path).is_file(), f"{hazard}: no file {control.path}"
        assert control.function in functions_in(control.path), f"{hazard}: no test {control.test}"
    else:
        assert isinstance(control, PendingControl)


def test_every_hazard_has_a_control_in_place_or_says_it_is_open() -> None:
    """A hazard whose only controls are pending keeps its initial likelihood as residual."""
    for h in LOG.hazards:
        if len(h.open_controls) == len(h.controls):
            assert h.residual == h.likelihood, f"{h.id}: residual lowered with no control in place"
        assert h.residual <= h.likelihood, f"{h.id}: controls cannot raise the likelihood"


def test_catastrophic_hazards_have_more_than_one_kind_of_control() -> None:
    """Defence in depth: a rule alone (or a test alone) is not enough for the worst outcomes."""
    for h in LOG.hazards:
        kinds = {type(c) for c in h.controls if not isinstance(c, PendingControl)}
        if h.severity is Severity.catastrophic and not h.open_controls:
            assert len(kinds) >= 2, f"{h.id}: one kind of control only"


def test_hazard_ids_are_unique() -> None:
    ids = [h.id for h in LOG.hazards]
    assert len(ids) == len(set(ids))
