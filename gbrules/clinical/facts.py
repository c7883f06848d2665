"""The fact vocabulary: the one flat dict of facts that rules see.

An Intake becomes a dict ``{fact name: value}``. A fact that was not recorded is *absent* from
the dict, never ``False`` or ``0`` (invariant S8), so no rule can mistake "not asked" for "no".
Derived facts (bands, ``gi_alarm``, ``crp_mg_l``, ...) are computed here, once. The table
``VOCABULARY`` is the single documentation of every name: its type, unit, range and meaning.

Values are only finite ints, floats rounded to 4 decimals, bools and short enum strings: the
rule engine mis-parses exponent floats and compares mixed types as text, so nothing else may
reach it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import filterfalse as _filterfalse
from typing import Any, Literal

from pydantic import BaseModel

from gbrules.clinical.intake import Intake
from gbrules.clinical.scoring import crp_band, crp_to_mg_l, gad7_band, hamd17_band, phq9_band

FactType = Literal["bool", "int", "number", "enum", "text"]
FactValue = bool | int | float | str


@dataclass(frozen=True)
class FactSpec:
    """One fact name: its type, unit, valid range or values, and plain meaning."""

    name: str
    type: FactType
    meaning: str
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    values: tuple[str, ...] = ()
    derived: bool = False

    @property
    def label(self) -> str:
        """How the fact is named to a clinician ("PHQ-9 total")."""
        return LABELS.get(self.name, self.name.replace("_", " "))


LABELS: dict[str, str] = {
    "abdominal_pain_score": "abdominal pain (0-10)",
    "gi_symptom_weeks": "GI symptom duration (weeks)",
    "new_bowel_change_age_50": "new change in bowel habit at age >= 50",
    "gi_alarm": "GI alarm feature",
    "phq9_total": "PHQ-9 total",
    "phq9_band": "PHQ-9 band",
    "phq9_item9": "PHQ-9 item 9",
    "phq9_item9_recorded": "PHQ-9 item 9 recorded",
    "gad7_total": "GAD-7 total",
    "gad7_band": "GAD-7 band",
    "hamd17_total": "HAM-D 17 total",
    "hamd17_band": "HAM-D 17 band",
    "crp_mg_l": "CRP (mg/L)",
    "crp_band": "CRP band",
    "ibs": "IBS",
    "gi_symptoms": "GI symptoms",
    "probiotic_risk": "probiotic caution",
    "on_ssri": "taking an SSRI",
    "sleep_hours": "sleep (h/night)",
    "stress_score": "stress (0-10)",
    "exercise_minutes_per_week": "activity (min/week)",
    "fiber_g_per_day": "fiber (g/day)",
    "caffeine_mg_per_day": "caffeine (mg/day)",
    "ultra_processed_food_high": "ultra-processed food high",
    "iron_deficiency_anemia": "iron-deficiency anaemia",
}


def _b(name: str, meaning: str, derived: bool = False) -> FactSpec:
    return FactSpec(name, "bool", meaning, derived=derived)


_SPECS: list[FactSpec] = [
    FactSpec("age", "int", "age in whole years", "years", 0, 130),
    FactSpec("sex", "enum", "recorded sex", values=("female", "male", "other", "unknown")),
    _b("pregnant", "currently pregnant"),
    _b("bloating", "bloating reported"),
    _b("irregular_bowel", "irregular bowel movements reported"),
    FactSpec("abdominal_pain_score", "int", "abdominal pain, 0-10 numeric rating", "0-10", 0, 10),
    _b("rectal_bleeding", "rectal bleeding or blood in the stool (alarm feature)"),
    _b("unintentional_weight_loss", "unintentional weight loss (alarm feature)"),
    _b("nocturnal_symptoms", "GI symptoms waking the patient at night (alarm feature)"),
    _b("persistent_vomiting", "persistent vomiting (alarm feature)"),
    _b("dysphagia", "difficulty swallowing (alarm feature)"),
    FactSpec("gi_symptom_weeks", "int", "how long GI symptoms have lasted", "weeks", 0, 5200),
    _b("change_in_bowel_habit", "a new change in bowel habit"),
    _b(
        "gi_symptoms",
        "any GI symptom recorded as present (bloating, irregular bowel, pain >= 1, change in "
        "bowel habit); false only if every one was recorded absent",
        derived=True,
    ),
    _b(
        "new_bowel_change_age_50",
        "new change in bowel habit at age >= 50 (alarm feature; NICE says > 60, ACG 45-50: the "
        "more cautious 50 is used)",
        derived=True,
    ),
    _b(
        "gi_alarm",
        "any GI alarm feature present; false only if every alarm feature was recorded absent",
        derived=True,
    ),
    FactSpec("gi_alarm_features", "text", "the alarm features present, in words", derived=True),
    FactSpec("phq9_total", "int", "PHQ-9 total score", "points", 0, 27),
    FactSpec(
        "phq9_band",
        "enum",
        "PHQ-9 severity band (Kroenke 2001)",
        values=("minimal", "mild", "moderate", "moderately_severe", "severe"),
        derived=True,
    ),
    FactSpec("phq9_item9", "int", "PHQ-9 item 9 (thoughts of self-harm) score", "points", 0, 3),
    _b("phq9_item9_recorded", "PHQ-9 item 9 was recorded (present whenever PHQ-9 is)", True),
    FactSpec("gad7_total", "int", "GAD-7 total score", "points", 0, 21),
    FactSpec(
        "gad7_band",
        "enum",
        "GAD-7 severity band (Spitzer 2006)",
        values=("minimal", "mild", "moderate", "severe"),
        derived=True,
    ),
    FactSpec("hamd17_total", "int", "HAM-D 17 total score", "points", 0, 52),
    FactSpec(
        "hamd17_band",
        "enum",
        "HAM-D 17 severity band (Zimmerman 2013)",
        values=("none", "mild", "moderate", "severe"),
        derived=True,
    ),
    _b("suicidal_ideation", "suicidal ideation reported by the patient or clinician"),
    FactSpec("crp_mg_l", "number", "C-reactive protein, normalised to mg/L", "mg/L", 0, 1000),
    FactSpec(
        "crp_band",
        "enum",
        "CRP band: < 1 low, 1-3 average, > 3 high, > 10 acute (Pearson 2003)",
        values=("low", "average", "high", "acute"),
        derived=True,
    ),
    FactSpec(
        "celiac_serology",
        "enum",
        "celiac serology (tTG-IgA with total IgA) result",
        values=("negative", "positive", "not_done"),
    ),
    _b("iron_deficiency_anemia", "iron-deficiency anaemia (alarm feature)"),
    _b("ibs", "irritable bowel syndrome diagnosed"),
    _b("recurrent_depression", "recurrent depressive disorder"),
    _b("anxiety_disorder", "an anxiety disorder diagnosed"),
    _b("inflammatory_bowel_disease", "inflammatory bowel disease diagnosed"),
    _b("celiac_disease", "celiac disease diagnosed"),
    _b("immunocompromised", "immunocompromised (probiotic caution)"),
    _b("central_venous_catheter", "central venous catheter in place (probiotic caution)"),
    _b("critically_ill", "critically ill (probiotic caution)"),
    _b("family_history_colorectal_cancer", "first-degree family history of colorectal cancer"),
    _b("family_history_ibd_or_celiac", "family history of IBD or celiac disease"),
    _b(
        "probiotic_risk",
        "any probiotic caution present (immunocompromised, central venous catheter, critically "
        "ill, pregnant); false only if each was recorded absent (pregnancy: or sex male)",
        derived=True,
    ),
    _b("on_ssri", "currently taking an SSRI"),
    _b("recent_antibiotics", "antibiotics in the recent past"),
    _b("taking_probiotic", "currently taking a probiotic"),
    FactSpec("sleep_hours", "number", "usual sleep per night", "hours", 0, 24),
    _b("sleep_quality_poor", "sleep quality reported as poor"),
    FactSpec("stress_score", "int", "perceived stress, 0-10 numeric rating", "0-10", 0, 10),
    FactSpec(
        "exercise_minutes_per_week",
        "int",
        "moderate-or-harder physical activity per week",
        "min/week",
        0,
        10080,
    ),
    FactSpec("fiber_g_per_day", "number", "dietary fiber intake", "g/day", 0, 500),
    _b("ultra_processed_food_high", "diet high in ultra-processed foods"),
    FactSpec("caffeine_mg_per_day", "number", "caffeine intake", "mg/day", 0, 10000),
]

VOCABULARY: dict[str, FactSpec] = {s.name: s for s in _SPECS}

_ALARM_WORDS = {
    "rectal_bleeding": "rectal bleeding",
    "unintentional_weight_loss": "unintentional weight loss",
    "iron_deficiency_anemia": "iron-deficiency anaemia",
    "persistent_vomiting": "persistent vomiting",
    "dysphagia": "dysphagia",
    "nocturnal_symptoms": "nocturnal symptoms",
    "new_bowel_change_age_50": "new change in bowel habit at age >= 50",
    "family_history_crc_with_symptoms": "family history of colorectal cancer with GI symptoms",
    "family_history_ibd_celiac_with_symptoms": "family history of IBD or celiac disease with GI "
    "symptoms",
}


# The words for each entry of the alarm tuple built in facts_from_intake, in the same order.
_ALARM_TEXT = tuple(
    _ALARM_WORDS[name]
    for name in (
        "rectal_bleeding",
        "unintentional_weight_loss",
        "iron_deficiency_anemia",
        "persistent_vomiting",
        "dysphagia",
        "nocturnal_symptoms",
        "new_bowel_change_age_50",
        "family_history_crc_with_symptoms",
        "family_history_ibd_celiac_with_symptoms",
    )
)


def kleene_or(values: Sequence[bool | None]) -> bool | None:
    """Three-valued OR: True if any is True, False only if all are known False, else unknown.

    ``values`` hold only True, False and None (``in`` compares by equality, so 1 would count
    as True).
    """
    if True in values:
        return True
    return None if None in values else False


def kleene_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _num(x: float) -> float:
    # 4 decimals keeps every value printable without an exponent (the engine rejects 1e-05);
    # + 0.0 turns -0.0 (which validation lets through) into 0.0: a measurement has no sign
    # of zero, and one value then has one spelling everywhere.
    return float(round(x, 4)) + 0.0


_FACT_NAMES = tuple(VOCABULARY)
_RECORDED_INPUTS = tuple(s.name for s in _SPECS if not s.derived)


def facts_from_intake(intake: Intake | Mapping[str, Any]) -> dict[str, FactValue]:
    """The flat fact dict for one intake. Absent means not recorded (S8).

    ``intake`` is a validated ``Intake`` or a dict that ``gbrules.clinical.precheck``
    accepted: both are read as plain mappings (a section's ``__dict__`` holds its validated
    field values and nothing else, extra keys being forbidden), so the two paths share every
    line below.
    Validated values are already of their fact's type (bool, int, enum text) or None, except
    numbers, which go through ``_num``.
    """
    top = intake if type(intake) is dict else _as_dicts(intake)
    get_top = top.get
    age = top["age"]
    sex = get_top("sex")
    pregnant = get_top("pregnant")
    # Every vocabulary name up front, in vocabulary order, so the result keeps that order.
    raw: dict[str, Any] = _ALL_NONE.copy()  # a flat copy: far cheaper than dict.fromkeys
    raw["age"] = age
    raw["sex"] = sex
    raw["pregnant"] = pregnant

    gi = get_top("gi")
    if gi:
        raw.update(gi)
        raw["gi_symptom_weeks"] = raw.pop("symptom_weeks", None)
        pain = gi.get("abdominal_pain_score")
        change = gi.get("change_in_bowel_habit")
        pain_now = None if pain is None else pain >= 1
        gi_symptoms = kleene_or((gi.get("bloating"), gi.get("irregular_bowel"), pain_now, change))
    else:
        change = gi_symptoms = None
    raw["gi_symptoms"] = gi_symptoms
    raw["new_bowel_change_age_50"] = new_bowel = kleene_and(change, age >= 50)

    mood = get_top("mood")
    if mood:
        phq9 = mood.get("phq9")
        if phq9:
            items = phq9.get("items")
            total = sum(items) if items is not None else phq9["total"]
            raw["phq9_total"] = total
            raw["phq9_band"] = phq9_band(total)
            raw["phq9_item9"] = items[8] if items is not None else phq9.get("item9")
        gad7 = mood.get("gad7")
        if gad7:
            items = gad7.get("items")
            raw["gad7_total"] = total = sum(items) if items is not None else gad7["total"]
            raw["gad7_band"] = gad7_band(total)
        hamd17 = mood.get("hamd17")
        if hamd17:
            raw["hamd17_total"] = total = hamd17["total"]
            raw["hamd17_band"] = hamd17_band(total)
        raw["suicidal_ideation"] = mood.get("suicidal_ideation")
    raw["phq9_item9_recorded"] = raw["phq9_item9"] is not None

    labs = get_top("labs")
    if labs:
        crp = labs.get("crp")
        if crp:
            # The band is read from the value the rules see, so "CRP 10 (acute)" cannot happen
            # for 10.00004 mg/L (shown and compared as 10).
            raw["crp_mg_l"] = mg_l = _num(crp_to_mg_l(crp["value"], crp["unit"]))
            raw["crp_band"] = crp_band(mg_l)
        raw["celiac_serology"] = labs.get("celiac_serology")
        raw["iron_deficiency_anemia"] = labs.get("iron_deficiency_anemia")

    cond = get_top("conditions")
    if cond:
        raw.update(cond)

    alarms = (
        raw["rectal_bleeding"],
        raw["unintentional_weight_loss"],
        raw["iron_deficiency_anemia"],
        raw["persistent_vomiting"],
        raw["dysphagia"],
        raw["nocturnal_symptoms"],
        new_bowel,
        kleene_and(raw["family_history_colorectal_cancer"], gi_symptoms),
        kleene_and(raw["family_history_ibd_or_celiac"], gi_symptoms),
    )
    raw["gi_alarm"] = alarm = kleene_or(alarms)
    if alarm:
        present = [word for word, v in zip(_ALARM_TEXT, alarms, strict=True) if v is True]
        raw["gi_alarm_features"] = ", ".join(present)

    if pregnant is None and sex == "male":
        pregnant = False
    raw["probiotic_risk"] = kleene_or(
        (raw["immunocompromised"], raw["central_venous_catheter"], raw["critically_ill"], pregnant)
    )

    meds = get_top("medications")
    if meds:
        raw["on_ssri"] = meds.get("ssri")
        raw["recent_antibiotics"] = meds.get("recent_antibiotics")
        raw["taking_probiotic"] = meds.get("probiotic")

    life = get_top("lifestyle")
    if life:
        raw.update(life)
        for name in _NUMBER_INPUTS:
            v = raw[name]
            if v is not None:
                raw[name] = _num(v)

    return {k: v for k, v in raw.items() if v is not None}


# Lifestyle inputs that are numbers (pydantic gives floats; a pre-checked dict may hold ints).
_NUMBER_INPUTS = ("sleep_hours", "fiber_g_per_day", "caffeine_mg_per_day")
_ALL_NONE: dict[str, Any] = dict.fromkeys(_FACT_NAMES)


def _as_dicts(data: BaseModel | Mapping[str, Any]) -> Mapping[str, Any]:
    """A validated model as nested plain dicts (a model's ``__dict__`` holds its validated
    field values and nothing else, extra keys being forbidden), the shape a pre-checked dict
    already has."""
    if not isinstance(data, BaseModel):
        return data
    return {k: _as_dicts(v) if isinstance(v, BaseModel) else v for k, v in data.__dict__.items()}


def missing_facts(facts: dict[str, FactValue]) -> list[str]:
    """Recorded-input facts that are absent, in vocabulary order (for the 'not recorded' list)."""
    return list(_filterfalse(facts.__contains__, _RECORDED_INPUTS))  # the loop runs in C


def vocabulary_markdown() -> str:
    """The vocabulary as a Markdown table, for docs/FACTS.md."""
    rows = [
        "| fact | type | unit | range / values | derived | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for s in _SPECS:
        rng = "/".join(s.values) if s.values else ("" if s.lo is None else f"{s.lo:g}-{s.hi:g}")
        rows.append(
            f"| `{s.name}` | {s.type} | {s.unit} | {rng} | {'yes' if s.derived else ''} "
            f"| {s.meaning} |"
        )
    return "\n".join(rows) + "\n"
