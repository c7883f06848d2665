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
from gbrules.clinical.engine import cached_engine
from gbrules.clinical.orders import OrderJudgement, judge_order
from gbrules.core.result import Evaluation

from .conftest import EXAMPLES
from .strategies import ALARM_FREE
from .wording import proposes_antidepressant

FEATURES = Path(__file__).resolve().parent.parent / "features"
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


# Words a clinician writes -> (section, field) in Intake JSON v1.1. Top-level fields use "".
PHRASES: dict[str, tuple[str, str]] = {
    "pregnant": ("", "pregnant"),
    "breastfeeding": ("", "breastfeeding"),
    "bloating": ("gi", "bloating"),
    "irregular bowel movements": ("gi", "irregular_bowel"),
    "rectal bleeding": ("gi", "rectal_bleeding"),
    "blood in the stool": ("gi", "rectal_bleeding"),
    "unintentional weight loss": ("gi", "unintentional_weight_loss"),
    "nocturnal symptoms": ("gi", "nocturnal_symptoms"),
    "persistent vomiting": ("gi", "persistent_vomiting"),
    "dysphagia": ("gi", "dysphagia"),
    "a new change in bowel habit": ("gi", "change_in_bowel_habit"),
    "diarrhoea": ("gi", "diarrhea"),
    "fever": ("gi", "fever"),
    "an abdominal mass": ("gi", "abdominal_mass"),
    "suicidal ideation": ("mood", "suicidal_ideation"),
    "iron-deficiency anaemia": ("labs", "iron_deficiency_anemia"),
    "IBS": ("conditions", "ibs"),
    "recurrent depression": ("conditions", "recurrent_depression"),
    "an anxiety disorder": ("conditions", "anxiety_disorder"),
    "inflammatory bowel disease": ("conditions", "inflammatory_bowel_disease"),
    "celiac disease": ("conditions", "celiac_disease"),
    "immunocompromised": ("conditions", "immunocompromised"),
    "a central venous catheter": ("conditions", "central_venous_catheter"),
    "critically ill": ("conditions", "critically_ill"),
    "a family history of colorectal cancer": ("conditions", "family_history_colorectal_cancer"),
    "a family history of IBD or celiac disease": ("conditions", "family_history_ibd_or_celiac"),
    "bipolar disorder": ("conditions", "bipolar_disorder"),
    "an eating disorder": ("conditions", "eating_disorder"),
    "a prosthetic heart valve": ("conditions", "prosthetic_heart_valve"),
    "short bowel syndrome": ("conditions", "short_bowel_syndrome"),
    "acute pancreatitis": ("conditions", "acute_pancreatitis"),
    "an SSRI": ("medications", "ssri"),
    "recent antibiotics": ("medications", "recent_antibiotics"),
    "a probiotic": ("medications", "probiotic"),
    "an MAOI": ("medications", "maoi"),
    "St John's wort": ("medications", "st_johns_wort"),
    "another serotonergic medicine": ("medications", "other_serotonergic"),
    "an NSAID": ("medications", "nsaid"),
    "an anticoagulant": ("medications", "anticoagulant"),
    "poor sleep quality": ("lifestyle", "sleep_quality_poor"),
    "a diet high in ultra-processed food": ("lifestyle", "ultra_processed_food_high"),
    "on a gluten-free diet": ("lifestyle", "gluten_free_diet"),
    "a probiotic trial": ("lifestyle", "wants_probiotic_trial"),
}
NUMBERS: dict[str, tuple[str, str]] = {
    "abdominal pain score": ("gi", "abdominal_pain_score"),
    "symptom weeks": ("gi", "symptom_weeks"),
    "sleep hours": ("lifestyle", "sleep_hours"),
    "stress score": ("lifestyle", "stress_score"),
    "exercise minutes per week": ("lifestyle", "exercise_minutes_per_week"),
    "fiber grams per day": ("lifestyle", "fiber_g_per_day"),
    "caffeine mg per day": ("lifestyle", "caffeine_mg_per_day"),
    "HAM-D 17 total": ("mood", "hamd17"),
    "GAD-7 total": ("mood", "gad7"),
    "weight in kg": ("", "weight_kg"),
    "age at symptom onset": ("gi", "onset_age"),
    "IBS-SSS": ("gi", "ibs_sss"),
}
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
        self.ev: Evaluation | None = None
        self.rules: Path | None = None  # a site pack, taken on top of the default rulebook

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
            self.ev = gbrules.evaluate(self.intake, rules=self.rules)
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


@given(parsers.parse('the site rule pack "{path}"'))
def given_site_pack(patient: Patient, path: str) -> None:
    pack = FEATURES.parent / path
    if not pack.is_dir():
        pytest.fail(f"no site rule pack at {path!r} (a folder, relative to the repository root)")
    patient.rules = pack


@given(parsers.parse("a patient aged {age:d}"))
def given_age(patient: Patient, age: int) -> None:
    patient.intake["age"] = age


@given(parsers.parse('the bundled example "{name}"'))
def given_example(patient: Patient, name: str) -> None:
    patient.intake = json.loads((EXAMPLES / f"{name}.json").read_text())


@given(parsers.re(r"the patient is (?P<sex>female|male|other)"))
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


@given(parsers.re(r"the patient (?:has|is|reports|takes|wants) (?P<thing>.+)$"))
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
    patient.ev = gbrules.evaluate(patient.intake, rules=patient.rules)
    _record("fired", patient.ev.fired_rules)


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
