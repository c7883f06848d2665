"""The declared meaning of facts (gbrules/clinical/fact_model.yaml) against the fact builder.

The verifier proves invariants about the *declared* derived facts and the *declared*
impossible combinations; these tests make sure the declarations say what
``facts_from_intake`` does, on random intakes, and that a counterexample's facts turn back
into an intake (and steps) with exactly those facts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

import gbrules
from gbrules.clinical.facts import VOCABULARY, facts_from_intake
from gbrules.clinical.phrases import given_steps
from gbrules.clinical.proof import clinical_fact_model, intake_from_facts
from gbrules.core.verify.factmodel import FactModelError, Free, is_recorded, load_fact_model
from gbrules.core.verify.shared import kleene
from gbrules.tools.synthetic import synthetic_intakes

from .strategies import intakes

MODEL = clinical_fact_model()
ROOT = Path(__file__).resolve().parent.parent


def _inputs(facts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in facts.items() if k in MODEL.inputs}


def test_every_derived_fact_is_declared() -> None:
    derived = {name for name, spec in VOCABULARY.items() if spec.derived}
    assert set(MODEL.derived) | set(MODEL.unmodelled) == derived
    assert all(VOCABULARY[n].type == "text" for n in MODEL.unmodelled)


@given(intakes())
@settings(max_examples=300)
def test_declared_definitions_match_the_fact_builder(intake: dict[str, Any]) -> None:
    facts = facts_from_intake(intake)
    declared = MODEL.derive(_inputs(facts))
    free = {n for n, d in MODEL.derived.items() if isinstance(d, Free)}
    built = {k: v for k, v in facts.items() if k in MODEL.derived and k not in free}
    assert declared == built
    for name in free:  # arithmetic facts: only whether they are recorded is declared
        assert is_recorded(MODEL.derived[name], _inputs(facts)) == (name in facts), name


# CRP values a hair from a band's edge: the band must follow the value the rules compare.
@pytest.mark.parametrize(
    "crp",
    [
        {"value": 10.00004, "unit": "mg/L"},
        {"value": 10.00005, "unit": "mg/L"},
        {"value": 3.00004, "unit": "mg/L"},
        {"value": 0.99996, "unit": "mg/L"},
        {"value": 0.300004, "unit": "mg/dL"},
        {"value": 1.000004, "unit": "mg/dL"},
        {"value": 0.1, "unit": "mg/dL"},
    ],
)
def test_crp_band_follows_the_compared_value(crp: dict[str, Any]) -> None:
    facts = facts_from_intake({"age": 40, "labs": {"crp": crp}})
    assert MODEL.derive(_inputs(facts))["crp_band"] == facts["crp_band"]


@given(intakes())
@settings(max_examples=300)
def test_no_valid_intake_is_declared_impossible(intake: dict[str, Any]) -> None:
    facts = facts_from_intake(intake)
    for imp in MODEL.impossible:
        assert kleene(imp.condition, facts) is not True, imp.why


@given(intakes())
@settings(max_examples=300)
def test_intake_from_facts_is_the_inverse_of_the_builder(intake: dict[str, Any]) -> None:
    facts = facts_from_intake(intake)
    rebuilt = intake_from_facts(_inputs(facts))
    again = facts_from_intake(rebuilt)
    # Same facts, except the descriptive text and item 9's "recorded" marker, which follow.
    assert again == facts
    assert given_steps(rebuilt)  # every field has a step


def test_an_undeclared_derived_fact_is_an_error() -> None:
    data = {"derived": {"gi_symptoms": {"truth": "bloating == true"}}, "impossible": []}
    with pytest.raises(FactModelError) as err:
        load_fact_model(data, VOCABULARY)
    assert any("gi_alarm" in p and "no definition" in p for p in err.value.problems)


@pytest.mark.parametrize(
    ("derived", "text"),
    [
        ({"phq9_band": {"truth": "phq9_total >= 10"}}, "true/false fact"),
        ({"phq9_band": {"cases": [{"when": "phq9_total >= 0", "value": "awful"}]}}, "awful"),
        ({"age": {"truth": "age >= 1"}}, "records it directly"),
        ({"gi_symptoms": {"truth": "gi_symptoms == true"}}, "itself"),
        (
            {
                "gi_symptoms": {"truth": "gi_alarm == true"},
                "gi_alarm": {"truth": "gi_symptoms == true"},
            },
            "cycle",
        ),
    ],
)
def test_bad_definitions_are_named(derived: dict[str, Any], text: str) -> None:
    with pytest.raises(FactModelError) as err:
        load_fact_model({"derived": derived, "impossible": []}, VOCABULARY)
    assert any(text in p for p in err.value.problems), err.value.problems


def test_given_steps_rebuild_the_same_plan(tmp_path: Path) -> None:
    """The steps written for an intake, run by the BDD steps, draft the very same plan."""
    lines = ["Feature: steps written back from intakes", ""]
    for n, intake in enumerate(synthetic_intakes(25, seed=21)):
        intake.pop("patient_id", None)
        ev = gbrules.evaluate(intake)
        lines.append(f"  Scenario: intake {n} {json.dumps(intake, sort_keys=True)[:60]}")
        steps = given_steps(intake)
        lines.append(f"    Given {steps[0]}")
        lines += [f"    And {s}" for s in steps[1:]]
        lines.append("    When the plan is drafted")
        codes = [s.code for s in ev.suggestions]
        then = [f"the plan suggests {c}" for c in codes] or ["the plan has no suggestions"]
        then += [f"the plan does not suggest {c}" for c in sorted(VOCABULARY_CODES - set(codes))]
        lines.append(f"    Then {then[0]}")
        lines += [f"    And {t}" for t in then[1:]]
        lines.append("")
    (tmp_path / "written.feature").write_text("\n".join(lines), encoding="utf-8")
    result = _run_features(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "25 passed" in result.stdout


def _run_features(features: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GBRULES_FEATURES_DIR": str(features)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_features.py", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


VOCABULARY_CODES = frozenset(gbrules.Engine.default().rulebook.codes)
