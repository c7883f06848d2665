"""Step definitions for the clinician-readable scenarios in features/.

The vocabulary is small and generic (documented in features/README.md) so that a clinician can
write a new scenario without touching Python. Phrases map to Intake JSON fields in ``PHRASES``.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

import gbrules
from gbrules.clinical.phrases import NUMBERS, PHRASES
from gbrules.core.result import Evaluation

from .conftest import EXAMPLES
from .strategies import ALARM_FREE

# GBRULES_FEATURES_DIR runs the steps on other scenarios (tests/test_prove.py runs a scenario
# the verifier wrote this way).
FEATURES = Path(
    os.environ.get("GBRULES_FEATURES_DIR") or Path(__file__).resolve().parent.parent / "features"
)
scenarios(str(FEATURES))

# The coverage gate (tests/test_coverage_gate.py) runs this module in a subprocess with
# GBRULES_FEATURE_LOG set: every evaluation's fired rules and every code a passing step asserted
# are appended to that file, one JSON object a line.
LOG_ENV = "GBRULES_FEATURE_LOG"


def _record(kind: str, value: object) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({kind: value}) + "\n")


NO_PROBIOTIC_CAUTIONS = {
    "pregnant": False,
    "conditions": {
        "immunocompromised": False,
        "central_venous_catheter": False,
        "critically_ill": False,
    },
}


class Patient:
    def __init__(self) -> None:
        self.intake: dict[str, Any] = {}
        self.packs: list[str] = []
        self.ev: Evaluation | None = None

    def draft(self) -> Evaluation:
        """The plan from the default rulebook plus any site rule packs the scenario named."""
        if len(self.packs) > 1:
            return gbrules.Engine.default(*self.packs).evaluate(self.intake)
        return gbrules.evaluate(self.intake, rules=self.packs[0] if self.packs else None)

    def set(self, section: str, key: str, value: Any) -> None:
        target = self.intake if not section else self.intake.setdefault(section, {})
        target[key] = value

    def drop(self, section: str, key: str) -> None:
        target = self.intake if not section else self.intake.get(section, {})
        target.pop(key, None)

    def merge(self, data: dict[str, Any]) -> None:
        for k, v in data.items():
            if isinstance(v, dict):
                self.intake.setdefault(k, {}).update(copy.deepcopy(v))
            else:
                self.intake[k] = v

    @property
    def plan(self) -> Evaluation:
        if self.ev is None:
            self.ev = self.draft()
            _record("fired", self.ev.fired_rules)
        return self.ev


def _phrase(thing: str) -> tuple[str, str]:
    if thing not in PHRASES:
        pytest.fail(f"unknown phrase {thing!r}; known: {', '.join(sorted(PHRASES))}")
    return PHRASES[thing]


@pytest.fixture
def patient() -> Patient:
    return Patient()


# ---------------------------------------------------------------- Given


@given(parsers.parse("a patient aged {age:d}"))
def given_age(patient: Patient, age: int) -> None:
    patient.intake["age"] = age


@given(parsers.parse('the bundled example "{name}"'))
def given_example(patient: Patient, name: str) -> None:
    patient.intake = json.loads((EXAMPLES / f"{name}.json").read_text())


@given(parsers.parse('the site rule pack "{path}"'))
def given_site_pack(patient: Patient, path: str) -> None:
    patient.packs.append(path)


@given(parsers.re(r"the patient is (?P<sex>female|male|other|unknown)$"))
def given_sex(patient: Patient, sex: str) -> None:
    patient.intake["sex"] = sex


@given(parsers.re(r"PHQ-9 items (?P<items>[0-3](?:\s*,\s*[0-3]){8})$"))
def given_phq9_items(patient: Patient, items: str) -> None:
    patient.set("mood", "phq9", {"items": [int(x) for x in items.split(",")]})


@given(parsers.re(r"PHQ-9 total (?P<total>\d+) with item 9 (?P<item9>\d+)$"))
def given_phq9_total_item9(patient: Patient, total: str, item9: str) -> None:
    patient.set("mood", "phq9", {"total": int(total), "item9": int(item9)})


@given(parsers.re(r"PHQ-9 total (?P<total>\d+)$"))
def given_phq9_total(patient: Patient, total: str) -> None:
    patient.set("mood", "phq9", {"total": int(total)})


@given(parsers.re(r"CRP (?P<value>[0-9.]+) (?P<unit>mg/L|mg/dL)"))
def given_crp(patient: Patient, value: str, unit: str) -> None:
    patient.set("labs", "crp", {"value": float(value), "unit": unit})


@given(parsers.re(r"celiac serology (?P<result>negative|positive|not done)"))
def given_celiac(patient: Patient, result: str) -> None:
    patient.set("labs", "celiac_serology", result.replace(" ", "_"))


@given(parsers.re(r"(?P<name>[A-Za-z0-9 -]+?) (?:is|of) (?P<value>-?[0-9.]+)$"))
def given_number(patient: Patient, name: str, value: str) -> None:
    if name not in NUMBERS:
        pytest.fail(f"unknown measure {name!r}; known: {', '.join(sorted(NUMBERS))}")
    section, key = NUMBERS[name]
    number: int | float = float(value) if "." in value else int(value)
    if key in ("hamd17", "gad7"):
        patient.set(section, key, {"total": number})
    else:
        patient.set(section, key, number)


# "(?!not )": "the patient is not pregnant" is the step below, not "is" + "not pregnant".
@given(parsers.re(r"the patient (?:has|is|reports|takes) (?!not )(?P<thing>.+)$"))
def given_has(patient: Patient, thing: str) -> None:
    patient.set(*_phrase(thing), True)


@given(
    parsers.re(r"the patient (?:does not have|is not|does not report|does not take) (?P<thing>.+)$")
)
def given_has_not(patient: Patient, thing: str) -> None:
    patient.set(*_phrase(thing), False)


@given(parsers.re(r"(?P<thing>.+) (?:is|was) not recorded$"))
def given_not_recorded(patient: Patient, thing: str) -> None:
    if thing == "PHQ-9 item 9":
        phq = patient.intake.get("mood", {}).get("phq9", {})
        if "items" in phq:
            phq["total"] = sum(phq.pop("items"))
        phq.pop("item9", None)
    elif thing in NUMBERS:
        patient.drop(*NUMBERS[thing])
    else:
        patient.drop(*_phrase(thing))


@given("no GI alarm features")
def given_no_alarms(patient: Patient) -> None:
    patient.merge(ALARM_FREE)


@given("no probiotic cautions")
def given_no_cautions(patient: Patient) -> None:
    patient.merge(NO_PROBIOTIC_CAUTIONS)


# ---------------------------------------------------------------- When


@when("the plan is drafted")
def when_drafted(patient: Patient) -> None:
    patient.ev = patient.draft()
    _record("fired", patient.ev.fired_rules)


# ---------------------------------------------------------------- Then


def _codes(patient: Patient) -> list[str]:
    return [s.code for s in patient.plan.suggestions]


@then(
    parsers.re(
        r"the plan suggests (?P<code>[a-z_]+\.[a-z_]+) "
        r"with priority (?P<priority>critical|urgent|routine)$"
    )
)
def then_suggests_priority(patient: Patient, code: str, priority: str) -> None:
    s = patient.plan.suggestion(code)
    assert s is not None, f"{code} not suggested; plan: {_codes(patient)}"
    assert s.priority == priority
    _record("asserted", code)


@then(parsers.re(r"the plan suggests (?P<code>[a-z_]+\.[a-z_]+)$"))
def then_suggests(patient: Patient, code: str) -> None:
    assert code in _codes(patient), f"{code} not suggested; plan: {_codes(patient)}"
    _record("asserted", code)


@then(parsers.re(r"the plan does not suggest (?P<code>[a-z_]+\.[a-z_*]+)$"))
def then_not_suggests(patient: Patient, code: str) -> None:
    if code.endswith(".*"):
        hit = [c for c in _codes(patient) if c.startswith(code[:-1])]
        assert not hit, f"unexpected {hit}"
    else:
        assert code not in _codes(patient), f"{code} unexpectedly suggested"


@then(parsers.parse("the first suggestion is {code}"))
def then_first(patient: Patient, code: str) -> None:
    assert _codes(patient)[:1] == [code], _codes(patient)
    _record("asserted", code)


@then(
    parsers.re(
        r'(?P<code>[a-z_]+\.[a-z_]+) is (?P<action>deferred|suppressed) because "(?P<text>.+)"$'
    )
)
def then_deferred(patient: Patient, code: str, action: str, text: str) -> None:
    s = patient.plan.suppression(code)
    assert s is not None, f"{code} not in suppressed: {[x.code for x in patient.plan.suppressed]}"
    assert s.action == action
    assert text.lower() in s.reason.lower(), s.reason
    _record("asserted", code)


@then(parsers.re(r"(?P<code>[a-z_]+\.[a-z_]+) is (?P<action>deferred|suppressed)$"))
def then_held(patient: Patient, code: str, action: str) -> None:
    s = patient.plan.suppression(code)
    assert s is not None, f"{code} not in suppressed: {[x.code for x in patient.plan.suppressed]}"
    assert s.action == action, f"{code} was {s.action} by {s.by_rule}"
    _record("asserted", code)


@then(parsers.re(r'the rationale of (?P<code>[a-z_]+\.[a-z_]+) mentions "(?P<text>.+)"$'))
def then_rationale(patient: Patient, code: str, text: str) -> None:
    s = patient.plan.suggestion(code)
    assert s is not None, f"{code} not suggested"
    assert text in s.rationale, s.rationale


@then("the plan has no suggestions")
def then_empty(patient: Patient) -> None:
    assert _codes(patient) == [], _codes(patient)


@then("immediate action is required")
def then_immediate(patient: Patient) -> None:
    assert patient.plan.requires_immediate_action


@then("no immediate action is required")
def then_not_immediate(patient: Patient) -> None:
    assert not patient.plan.requires_immediate_action
