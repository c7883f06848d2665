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

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from gbrules.intake import Intake
from gbrules.scoring import crp_band, gad7_band, hamd17_band, phq9_band

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


def kleene_or(values: Iterable[bool | None]) -> bool | None:
    """Three-valued OR: True if any is True, False only if all are known False, else unknown."""
    unknown = False
    for v in values:
        if v is True:
            return True
        if v is None:
            unknown = True
    return None if unknown else False


def kleene_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _num(x: float) -> float:
    # 4 decimals keeps every value printable without an exponent (the engine rejects 1e-05).
    return float(round(x, 4))


_FACT_NAMES = tuple(VOCABULARY)
_RECORDED_INPUTS = tuple(s.name for s in _SPECS if not s.derived)


def facts_from_intake(intake: Intake) -> dict[str, FactValue]:
    """The flat fact dict for one intake. Absent means not recorded (S8)."""
    # Sections are read through their __dict__ (the validated field values, nothing else:
    # extra keys are forbidden), which is what model_dump() returns for these flat sections.
    age = intake.age
    raw: dict[str, FactValue | None] = {"age": age, "sex": intake.sex, "pregnant": intake.pregnant}

    gi = intake.gi
    if gi is not None:
        raw.update(gi.__dict__)
        raw["gi_symptom_weeks"] = raw.pop("symptom_weeks")
        pain = gi.abdominal_pain_score
        change = _opt_bool(gi.change_in_bowel_habit)
        gi_symptoms = kleene_or(
            (
                _opt_bool(gi.bloating),
                _opt_bool(gi.irregular_bowel),
                None if not isinstance(pain, int) else pain >= 1,
                change,
            )
        )
    else:
        change = gi_symptoms = None
    raw["gi_symptoms"] = gi_symptoms
    raw["new_bowel_change_age_50"] = new_bowel = kleene_and(change, age >= 50)

    mood = intake.mood
    if mood is not None:
        if mood.phq9 is not None:
            total = mood.phq9.total_score
            raw["phq9_total"] = total
            raw["phq9_band"] = phq9_band(total)
            raw["phq9_item9"] = mood.phq9.item9_score
        if mood.gad7 is not None:
            raw["gad7_total"] = total = mood.gad7.total_score
            raw["gad7_band"] = gad7_band(total)
        if mood.hamd17 is not None:
            raw["hamd17_total"] = total = mood.hamd17.total
            raw["hamd17_band"] = hamd17_band(total)
        raw["suicidal_ideation"] = mood.suicidal_ideation
    raw["phq9_item9_recorded"] = raw.get("phq9_item9") is not None

    labs = intake.labs
    if labs is not None:
        if labs.crp is not None:
            mg_l = labs.crp.mg_l
            raw["crp_mg_l"] = _num(mg_l)
            raw["crp_band"] = crp_band(mg_l)
        raw["celiac_serology"] = labs.celiac_serology
        raw["iron_deficiency_anemia"] = labs.iron_deficiency_anemia

    cond = intake.conditions
    if cond is not None:
        raw.update(cond.__dict__)

    get = raw.get
    fh_crc = kleene_and(_opt_bool(get("family_history_colorectal_cancer")), gi_symptoms)
    fh_ibd = kleene_and(_opt_bool(get("family_history_ibd_or_celiac")), gi_symptoms)
    alarms = (
        _opt_bool(get("rectal_bleeding")),
        _opt_bool(get("unintentional_weight_loss")),
        _opt_bool(get("iron_deficiency_anemia")),
        _opt_bool(get("persistent_vomiting")),
        _opt_bool(get("dysphagia")),
        _opt_bool(get("nocturnal_symptoms")),
        new_bowel,
        fh_crc,
        fh_ibd,
    )
    raw["gi_alarm"] = kleene_or(alarms)
    present = [word for word, v in zip(_ALARM_TEXT, alarms, strict=True) if v is True]
    if present:
        raw["gi_alarm_features"] = ", ".join(present)

    pregnant: bool | None = intake.pregnant
    if pregnant is None and intake.sex == "male":
        pregnant = False
    raw["probiotic_risk"] = kleene_or(
        (
            _opt_bool(get("immunocompromised")),
            _opt_bool(get("central_venous_catheter")),
            _opt_bool(get("critically_ill")),
            pregnant,
        )
    )

    meds = intake.medications
    if meds is not None:
        raw["on_ssri"] = meds.ssri
        raw["recent_antibiotics"] = meds.recent_antibiotics
        raw["taking_probiotic"] = meds.probiotic

    life = intake.lifestyle
    if life is not None:
        raw.update(life.__dict__)
        for name in ("sleep_hours", "fiber_g_per_day", "caffeine_mg_per_day"):
            v = raw[name]
            if v is not None:
                raw[name] = _num(v)  # type: ignore[arg-type]

    return {k: v for k in _FACT_NAMES if (v := get(k)) is not None}


def _opt_bool(v: FactValue | None) -> bool | None:
    return v if isinstance(v, bool) else None


def missing_facts(facts: dict[str, FactValue]) -> list[str]:
    """Recorded-input facts that are absent, in vocabulary order (for the 'not recorded' list)."""
    return [name for name in _RECORDED_INPUTS if name not in facts]


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
