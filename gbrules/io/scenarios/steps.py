"""gbrules' BDD step vocabulary: the Given/When/Then sentences clinician-readable scenarios
are written in (features/README.md lists them), as pytest-bdd step definitions.

It ships in the package so that a governance group with an installed gbrules can run the
bundled scenarios and its own (``gbrules scenarios check``, ``gbrules review build``, which run
pytest-bdd with these steps in a subprocess: ``gbrules.io.review.run``); the repository's
``tests/test_features.py`` runs the same steps. Phrases map to Intake JSON fields in
``gbrules/clinical/phrases.py`` (one table, shared with the verifier's scenario writer).
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

from gbrules.io.extras import require

require("scenarios", "gbrules' BDD step vocabulary (gbrules.io.scenarios.steps)")

import pytest  # noqa: E402
from pytest_bdd import given, parsers, then, when  # noqa: E402

import gbrules  # noqa: E402
from gbrules.clinical.engine import Engine, cached_engine  # noqa: E402
from gbrules.clinical.examples import examples_dir  # noqa: E402
from gbrules.clinical.orders import OrderJudgement, judge_order  # noqa: E402
from gbrules.clinical.phrases import NUMBERS, PHRASES  # noqa: E402
from gbrules.clinical.wording import proposes_antidepressant  # noqa: E402
from gbrules.core.result import Evaluation  # noqa: E402

# The answers that rule out every GI alarm feature ("no GI alarm features").
ALARM_FREE: dict[str, dict[str, Any]] = {
    "gi": {
        "rectal_bleeding": False,
        "unintentional_weight_loss": False,
        "nocturnal_symptoms": False,
        "persistent_vomiting": False,
        "dysphagia": False,
        "change_in_bowel_habit": False,
    },
    "labs": {"iron_deficiency_anemia": False},
    "conditions": {
        "family_history_colorectal_cancer": False,
        "family_history_ibd_or_celiac": False,
    },
}

LOG_ENV = "GBRULES_FEATURE_LOG"
# The review book runs the scenarios against the rulebook under review (a directory with its own
# rulebook.yaml) instead of the bundled one, when this is set.
RULES_ENV = "GBRULES_FEATURE_RULES"


def _record(kind: str, value: object, **extra: object) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        current = os.environ.get("PYTEST_CURRENT_TEST", "")
        test = current.rsplit("::", 1)[-1].rsplit(" (", 1)[0]
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({kind: value, "test": test, **extra}, default=str) + "\n")


@functools.cache
def _engine_for(base: str, packs: tuple[str, ...]) -> Engine:
    return Engine.from_directory(base, *packs)


def _evaluate(patient: Patient) -> Evaluation:
    base = os.environ.get(RULES_ENV)
    if base:
        ev = _engine_for(base, tuple(patient.packs)).evaluate(patient.intake)
    else:
        ev = patient.draft()
    pack = ",".join(patient.packs) or None
    _record("fired", ev.fired_rules, intake=patient.intake, pack=pack)
    return ev


NO_PROBIOTIC_CAUTIONS = {
    "pregnant": False,
    "conditions": {
        "immunocompromised": False,
        "central_venous_catheter": False,
        "critically_ill": False,
        "prosthetic_heart_valve": False,
        "short_bowel_syndrome": False,
        "acute_pancreatitis": False,
    },
}
NO_ACUTE_SIGNS = {"gi": {"fever": False, "abdominal_mass": False, "symptom_onset": "gradual"}}
# Where each measurement's optional date goes ("the CRP was measured on 2025-03-01").
MEASURED: dict[str, tuple[str, str]] = {
    "PHQ-9": ("mood", "phq9"),
    "GAD-7": ("mood", "gad7"),
    "CRP": ("labs", "crp"),
    "faecal calprotectin": ("labs", "fecal_calprotectin"),
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
            self.ev = _evaluate(self)
        return self.ev


def _phrase(thing: str) -> tuple[str, str]:
    if thing not in PHRASES:
        pytest.fail(f"unknown phrase {thing!r}; known: {', '.join(sorted(PHRASES))}")
    return PHRASES[thing]


@pytest.fixture
def patient() -> Patient:
    return Patient()


# ---------------------------------------------------------------- Given


def _pack_dir(path: str) -> Path | None:
    """A site rule pack named by a scenario: an absolute path as it is, else relative to the
    working directory, else to the bundled content (the repository root in a checkout, where
    the bundled scenarios' packs live under examples/)."""
    for base in (Path.cwd(), examples_dir().parent):
        pack = base / path  # an absolute path (a scenario the verifier wrote) stays as it is
        if pack.is_dir():
            return pack
    return None


@given(parsers.parse('the site rule pack "{path}"'))
def given_site_pack(patient: Patient, path: str) -> None:
    pack = _pack_dir(path)
    if pack is None:
        pytest.fail(f"no site rule pack at {path!r} (a folder, relative to the working directory)")
    patient.packs.append(str(pack))


@given(parsers.parse("a patient aged {age:d}"))
def given_age(patient: Patient, age: int) -> None:
    patient.intake["age"] = age


@given(parsers.parse('the bundled example "{name}"'))
def given_example(patient: Patient, name: str) -> None:
    patient.intake = json.loads((examples_dir() / f"{name}.json").read_text())


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


@given(parsers.re(r"faecal calprotectin (?P<value>[0-9.]+) ug/g$"))
def given_calprotectin(patient: Patient, value: str) -> None:
    patient.set("labs", "fecal_calprotectin", {"value": float(value), "unit": "ug/g"})


@given(parsers.re(r"IBS subtype (?P<subtype>IBS-[CDMU])$"))
def given_ibs_subtype(patient: Patient, subtype: str) -> None:
    patient.set("gi", "ibs_subtype", subtype)


@given(parsers.re(r"the symptoms began (?P<how>suddenly|gradually)$"))
def given_symptom_onset(patient: Patient, how: str) -> None:
    patient.set("gi", "symptom_onset", "sudden" if how == "suddenly" else "gradual")


@given(parsers.re(r"the (?P<what>.+) was measured on (?P<day>\d{4}-\d{2}-\d{2})$"))
def given_measured_on(patient: Patient, what: str, day: str) -> None:
    if what not in MEASURED:
        pytest.fail(f"unknown measurement {what!r}; known: {', '.join(sorted(MEASURED))}")
    section, key = MEASURED[what]
    measurement = patient.intake.get(section, {}).get(key)
    if not isinstance(measurement, dict):
        pytest.fail(f"record the {what} before its date")
    measurement["date"] = day


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
@given(parsers.re(r"the patient (?:has|is|reports|takes|wants) (?!not )(?P<thing>.+)$"))
def given_has(patient: Patient, thing: str) -> None:
    patient.set(*_phrase(thing), True)


@given(
    parsers.re(
        r"the patient (?:does not have|is not|does not report|does not take|does not want) "
        r"(?P<thing>.+)$"
    )
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


@given("no acute GI signs")
def given_no_acute_signs(patient: Patient) -> None:
    patient.merge(NO_ACUTE_SIGNS)


# ---------------------------------------------------------------- When


@when("the plan is drafted")
def when_drafted(patient: Patient) -> None:
    patient.ev = _evaluate(patient)


# ---------------------------------------------------------------- Then


def _codes(patient: Patient) -> list[str]:
    return [s.code for s in patient.plan.suggestions]


@then(
    parsers.re(
        r"the plan suggests (?P<code>[a-z0-9_]+\.[a-z0-9_]+) "
        r"with priority (?P<priority>critical|urgent|routine)$"
    )
)
def then_suggests_priority(patient: Patient, code: str, priority: str) -> None:
    s = patient.plan.suggestion(code)
    assert s is not None, f"{code} not suggested; plan: {_codes(patient)}"
    assert s.priority == priority
    _record("asserted", code)


@then(parsers.re(r"the plan suggests (?P<code>[a-z0-9_]+\.[a-z0-9_]+)$"))
def then_suggests(patient: Patient, code: str) -> None:
    assert code in _codes(patient), f"{code} not suggested; plan: {_codes(patient)}"
    _record("asserted", code)


@then(parsers.re(r"the plan does not suggest (?P<code>[a-z0-9_]+\.[a-z0-9_*]+)$"))
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
        r"(?P<code>[a-z0-9_]+\.[a-z0-9_]+) is (?P<action>deferred|suppressed) "
        r'because "(?P<text>.+)"$'
    )
)
def then_deferred(patient: Patient, code: str, action: str, text: str) -> None:
    s = patient.plan.suppression(code)
    assert s is not None, f"{code} not in suppressed: {[x.code for x in patient.plan.suppressed]}"
    assert s.action == action
    assert text.lower() in s.reason.lower(), s.reason
    _record("asserted", code)


@then(parsers.re(r"(?P<code>[a-z0-9_]+\.[a-z0-9_]+) is (?P<action>deferred|suppressed)$"))
def then_held(patient: Patient, code: str, action: str) -> None:
    s = patient.plan.suppression(code)
    assert s is not None, f"{code} not in suppressed: {[x.code for x in patient.plan.suppressed]}"
    assert s.action == action, f"{code} was {s.action} by {s.by_rule}"
    _record("asserted", code)


@then(parsers.re(r'the rationale of (?P<code>[a-z0-9_]+\.[a-z0-9_]+) mentions "(?P<text>.+)"$'))
def then_rationale(patient: Patient, code: str, text: str) -> None:
    s = patient.plan.suggestion(code)
    assert s is not None, f"{code} not suggested"
    assert text in s.rationale, s.rationale


@then(
    parsers.re(
        r"the (?:rationale|title) of (?P<code>[a-z0-9_]+\.[a-z0-9_]+) "
        r'does not mention "(?P<text>.+)"$'
    )
)
def then_rationale_not(patient: Patient, code: str, text: str) -> None:
    s = patient.plan.suggestion(code)
    assert s is not None, f"{code} not suggested"
    assert text.lower() not in f"{s.title} {s.rationale}".lower(), (s.title, s.rationale)


@then(parsers.re(r'the title of (?P<code>[a-z0-9_]+\.[a-z0-9_]+) mentions "(?P<text>.+)"$'))
def then_title(patient: Patient, code: str, text: str) -> None:
    s = patient.plan.suggestion(code)
    assert s is not None, f"{code} not suggested"
    assert text in s.title, s.title


def _crisis_text(patient: Patient, where: str) -> str:
    """What a surface shows a reader: the clinician or patient draft, the CDS cards or the
    CarePlan (as JSON text), for this patient's plan."""
    from gbrules.io.fhir.careplan import careplan_from_evaluation
    from gbrules.io.render import render_care_plan
    from gbrules.io.service.cards import cards_for

    ev = patient.plan
    if where == "draft":
        return render_care_plan(ev, "text")
    if where == "patient draft":
        return render_care_plan(ev, "text", audience="patient")
    if where == "card":
        return json.dumps(cards_for(ev, "Patient/1", hook_instance="h", authored="2026-01-01"))
    return json.dumps(careplan_from_evaluation(ev, "Patient/1"))


@then(
    parsers.re(
        r"the (?P<where>draft|patient draft|card|CarePlan) (?P<neg>mentions|does not mention) "
        r'"(?P<text>.+)"$'
    )
)
def then_surface_mentions(patient: Patient, where: str, neg: str, text: str) -> None:
    shown = " ".join(_crisis_text(patient, where).split())  # text drafts wrap lines
    assert (text in shown) == (neg == "mentions"), f"{where}: {text!r} {neg}?"


@then(
    parsers.re(
        r"the evidence of (?P<code>[a-z0-9_]+\.[a-z0-9_]+) (?P<neg>cites|does not cite) "
        r'"(?P<text>.+)"$'
    )
)
def then_evidence(patient: Patient, code: str, neg: str, text: str) -> None:
    s = patient.plan.suggestion(code)
    assert s is not None, f"{code} not suggested"
    cited = any(text in e for e in s.evidence)
    assert cited == (neg == "cites"), list(s.evidence)


@then("no suggestion proposes an antidepressant")
def then_no_antidepressant(patient: Patient) -> None:
    offending = [s.rule_id for s in patient.plan.suggestions if proposes_antidepressant(s)]
    assert not offending, f"antidepressant wording in {offending}"


@then("the plan has no suggestions")
def then_empty(patient: Patient) -> None:
    assert _codes(patient) == [], _codes(patient)


@then("immediate action is required")
def then_immediate(patient: Patient) -> None:
    assert patient.plan.requires_immediate_action


@then("no immediate action is required")
def then_not_immediate(patient: Patient) -> None:
    assert not patient.plan.requires_immediate_action


# ---------------------------------------------------------------- Draft orders (order-select)
# A draft order is named by its text; the check is gbrules.clinical.orders.judge_order.


@pytest.fixture
def drafts() -> dict[str, dict[str, Any]]:
    return {}


def _draft(drafts: dict[str, dict[str, Any]], name: str, **parts: Any) -> None:
    rtype = parts.pop("resourceType", "NutritionOrder")
    drafts[name] = {"resourceType": rtype, "id": f"d{len(drafts) + 1}", "status": "draft"} | parts


@given(parsers.parse('a draft diet order "{text}"'))
def given_diet_order(drafts: dict[str, dict[str, Any]], text: str) -> None:
    _draft(drafts, text, oralDiet={"type": [{"text": text}]})


@given("a draft pureed diet order")
def given_pureed_order(drafts: dict[str, dict[str, Any]]) -> None:
    pureed = {"type": [{"text": "Pureed diet"}], "texture": [{"modifier": {"text": "Pureed"}}]}
    _draft(drafts, "pureed diet", oralDiet=pureed)


@given(parsers.parse('a draft supplement "{name}"'))
def given_supplement_order(drafts: dict[str, dict[str, Any]], name: str) -> None:
    _draft(drafts, name, supplement=[{"productName": name}])


@given(parsers.parse('a draft medicine order "{name}" with ATC code {code}'))
def given_medicine_order(drafts: dict[str, dict[str, Any]], name: str, code: str) -> None:
    concept = {"coding": [{"system": "http://www.whocc.no/atc", "code": code}], "text": name}
    _draft(drafts, name, resourceType="MedicationRequest", medicationCodeableConcept=concept)


def _judged(patient: Patient, order: dict[str, Any]) -> OrderJudgement | None:
    return judge_order(order, patient.plan, cached_engine().rulebook)


@then(parsers.parse('the draft order "{name}" is flagged by {rule_id}'))
def then_order_flagged(
    patient: Patient, drafts: dict[str, dict[str, Any]], name: str, rule_id: str
) -> None:
    judged = _judged(patient, drafts[name])
    assert judged is not None, f"{name} not flagged"
    assert rule_id in judged.rules, judged.rules


@then(parsers.parse('the draft order "{name}" is not flagged'))
def then_order_not_flagged(patient: Patient, drafts: dict[str, dict[str, Any]], name: str) -> None:
    judged = _judged(patient, drafts[name])
    assert judged is None, f"{name} flagged by {judged.rules}"


@then("no draft order is flagged")
def then_no_order_flagged(patient: Patient, drafts: dict[str, dict[str, Any]]) -> None:
    flagged = [n for n, order in drafts.items() if _judged(patient, order) is not None]
    assert not flagged, flagged


@then(
    parsers.re(r'removing the draft order "(?P<name>.+)" is (?P<verdict>suggested|not suggested)$')
)
def then_removal(
    patient: Patient, drafts: dict[str, dict[str, Any]], name: str, verdict: str
) -> None:
    judged = _judged(patient, drafts[name])
    assert judged is not None, f"{name} not flagged"
    assert judged.removable is (verdict == "suggested"), judged.reading.protected
