"""The clinical fact vocabulary, and the one flat dict of facts that rules see.

An Intake becomes a dict ``{fact name: value}``. A fact that was not recorded is *absent* from
the dict, never ``False`` or ``0`` (invariant S8), so no rule can mistake "not asked" for "no".
Derived facts (bands, ``gi_alarm``, ``crp_mg_l``, ...) are computed here, once. The list
``_SPECS`` (with ``LABELS``) is the single documentation of every name: its type, unit, range
and meaning; ``VOCABULARY`` is it as the rule core's ``Vocabulary``.

Values are only finite ints, floats rounded to 4 decimals, bools and short enum strings: the
rule engine mis-parses exponent floats and compares mixed types as text, so nothing else may
reach it.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from gbrules.clinical.intake import Intake
from gbrules.clinical.scoring import (
    crp_band,
    crp_to_mg_l,
    gad7_band,
    hamd17_band,
    ibs_sss_band,
    phq9_band,
)
from gbrules.core.vocabulary import FactSpec, Vocabulary
from gbrules.core.vocabulary import FactValue as FactValue  # re-exported for the surfaces

# How a fact is named to a clinician ("PHQ-9 total"); default: its name with spaces.
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
    "weight_kg": "body weight (kg)",
    "gi_onset_age": "age at GI symptom onset (recorded)",
    "gi_began_at_age": "age when the GI symptoms began",
    "gi_recent": "GI symptoms began under 52 weeks ago",
    "symptom_onset": "symptom onset",
    "diarrhea": "diarrhoea",
    "abdominal_mass": "abdominal or rectal mass",
    "ibs_sss_total": "IBS-SSS total",
    "ibs_sss_band": "IBS-SSS band",
    "ibs_subtype": "IBS subtype",
    "gi_acute": "acute or inflammatory GI finding",
    "fecal_calprotectin_ug_g": "faecal calprotectin (ug/g)",
    "probiotic_serious_risk": "probiotic caution (other than pregnancy)",
    "on_maoi": "taking an MAOI",
    "on_st_johns_wort": "taking St John's wort",
    "on_other_serotonergic": "taking another serotonergic medicine",
    "on_nsaid": "taking an NSAID or aspirin",
    "on_anticoagulant": "taking an anticoagulant or antiplatelet",
    "ssri_with_maoi": "SSRI with an MAOI",
    "ssri_with_serotonergic": "SSRI with another serotonergic medicine",
    "ssri_with_bleeding_risk": "SSRI with an NSAID, aspirin or anticoagulant",
    "caffeine_mg_per_kg": "caffeine (mg/kg/day)",
    "gluten_free_diet": "gluten-free diet",
    "wants_probiotic_trial": "wants a probiotic trial",
    "first_line_care_weeks": "weeks of first-line care, symptoms still present",
    "diagnostic_doubt": "doubt about the IBS diagnosis",
    "severe_mood_change": "severe change in mood or behaviour",
    "taking_supplements": "taking or planning supplements",
    "taking_melatonin": "taking or planning melatonin",
    "supplement_in_question": "a supplement or melatonin taken or planned",
}


def _b(name: str, meaning: str, derived: bool = False) -> FactSpec:
    return FactSpec(name, "bool", meaning, derived=derived)


_SPECS: list[FactSpec] = [
    FactSpec("age", "int", "age in whole years", "years", 0, 130),
    FactSpec("sex", "enum", "recorded sex", values=("female", "male", "other", "unknown")),
    _b("pregnant", "currently pregnant"),
    _b("breastfeeding", "currently breastfeeding"),
    FactSpec("weight_kg", "number", "body weight", "kg", 0.3, 400),
    _b("bloating", "bloating reported"),
    _b("irregular_bowel", "irregular bowel movements reported"),
    FactSpec("abdominal_pain_score", "int", "abdominal pain, 0-10 numeric rating", "0-10", 0, 10),
    _b("rectal_bleeding", "rectal bleeding or blood in the stool (alarm feature)"),
    _b("unintentional_weight_loss", "unintentional weight loss (alarm feature)"),
    _b("nocturnal_symptoms", "GI symptoms waking the patient at night (alarm feature)"),
    _b("persistent_vomiting", "persistent vomiting (alarm feature)"),
    _b("dysphagia", "difficulty swallowing (alarm feature)"),
    FactSpec("gi_symptom_weeks", "int", "how long GI symptoms have lasted", "weeks", 0, 5200),
    FactSpec(
        "first_line_care_weeks",
        "int",
        "weeks of documented first-line IBS care with the symptoms still present",
        "weeks",
        0,
        5200,
    ),
    _b("diagnostic_doubt", "the clinician doubts the IBS diagnosis"),
    _b("change_in_bowel_habit", "a new change in bowel habit"),
    FactSpec(
        "gi_onset_age",
        "int",
        "age when these GI symptoms first began, as recorded",
        "years",
        0,
        130,
    ),
    FactSpec(
        "symptom_onset", "enum", "how the current GI symptoms began", values=("sudden", "gradual")
    ),
    _b("diarrhea", "new or worse loose or frequent stools"),
    _b("fever", "fever"),
    _b("abdominal_mass", "abdominal or rectal mass on examination"),
    FactSpec("ibs_sss_total", "int", "IBS Severity Scoring System total", "points", 0, 500),
    FactSpec(
        "ibs_sss_band",
        "enum",
        "IBS-SSS band: < 75 remission, 75-174 mild, 175-299 moderate, >= 300 severe (Francis 1997)",
        values=("remission", "mild", "moderate", "severe"),
        derived=True,
    ),
    FactSpec(
        "ibs_subtype", "enum", "Rome IV IBS subtype", values=("IBS-C", "IBS-D", "IBS-M", "IBS-U")
    ),
    _b(
        "gi_symptoms",
        "any GI symptom recorded as present (bloating, irregular bowel, pain >= 1, change in "
        "bowel habit, diarrhoea); false only if every one was recorded absent",
        derived=True,
    ),
    FactSpec(
        "gi_began_at_age",
        "number",
        "age when the GI symptoms began: the recorded onset age, else age - symptom weeks / 52 "
        "(symptom weeks count from the first onset)",
        "years",
        -100,
        130,
        derived=True,
    ),
    _b("gi_recent", "GI symptoms began less than 52 weeks ago (symptom weeks < 52)", True),
    _b(
        "new_bowel_change_age_50",
        "new change in bowel habit at age >= 50 (alarm feature; NICE says > 60, ACG 45-50: the "
        "more cautious 50 is used)",
        derived=True,
    ),
    _b(
        "gi_alarm",
        "any GI alarm feature present (rectal bleeding, unintentional weight loss, iron-deficiency "
        "anaemia, persistent vomiting, dysphagia, nocturnal symptoms, a new change in bowel "
        "habit at >= 50, family history of colorectal cancer with GI symptoms); false only if "
        "every one was recorded absent",
        derived=True,
    ),
    FactSpec("gi_alarm_features", "text", "the alarm features present, in words", derived=True),
    _b(
        "gi_acute",
        "an acute or inflammatory finding: CRP > 10 mg/L, faecal calprotectin > 200 ug/g, fever "
        "or an abdominal mass; false only if each was recorded absent or normal",
        derived=True,
    ),
    FactSpec("gi_acute_findings", "text", "the acute findings present, in words", derived=True),
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
    _b(
        "severe_mood_change",
        "a severe or rapid change in mood or behaviour (agitation, psychotic or manic symptoms, "
        "severe self-neglect)",
    ),
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
    FactSpec(
        "fecal_calprotectin_ug_g",
        "number",
        "faecal calprotectin: < 50 normal, 50-200 repeat or review, > 200 refer (NICE DG11)",
        "ug/g",
        0,
        10000,
    ),
    _b("ibs", "irritable bowel syndrome diagnosed"),
    _b("recurrent_depression", "recurrent depressive disorder"),
    _b("anxiety_disorder", "an anxiety disorder diagnosed"),
    _b("inflammatory_bowel_disease", "inflammatory bowel disease diagnosed"),
    _b("celiac_disease", "celiac disease diagnosed"),
    _b("immunocompromised", "immunocompromised (probiotic caution)"),
    _b("central_venous_catheter", "central venous catheter in place (probiotic caution)"),
    _b("critically_ill", "critically ill (probiotic caution)"),
    _b("family_history_colorectal_cancer", "first-degree family history of colorectal cancer"),
    _b(
        "family_history_ibd_or_celiac",
        "family history of IBD or celiac disease (calls for calprotectin and celiac serology, "
        "not an urgent referral: NICE CG61's red flags name a family history of bowel or "
        "ovarian cancer)",
    ),
    _b("bipolar_disorder", "bipolar disorder diagnosed"),
    _b("eating_disorder", "a current or past eating disorder"),
    _b(
        "prosthetic_heart_valve", "prosthetic heart valve or prior endocarditis (probiotic caution)"
    ),
    _b("short_bowel_syndrome", "short bowel syndrome (probiotic caution)"),
    _b("acute_pancreatitis", "acute pancreatitis, current or predicted severe (probiotic caution)"),
    _b(
        "probiotic_risk",
        "any probiotic caution present (immunocompromised, central venous catheter, critically "
        "ill, prosthetic heart valve, short bowel syndrome, acute pancreatitis, pregnant); false "
        "only if each was recorded absent (pregnancy: or sex male, or age 55 or over)",
        derived=True,
    ),
    _b(
        "probiotic_serious_risk",
        "a probiotic caution other than pregnancy present (immunocompromised, central venous "
        "catheter, critically ill, prosthetic heart valve, short bowel syndrome, acute "
        "pancreatitis): a probiotic already taken needs an urgent review",
        derived=True,
    ),
    FactSpec(
        "probiotic_cautions", "text", "the probiotic cautions present, in words", derived=True
    ),
    _b("on_ssri", "currently taking an SSRI"),
    _b("taking_supplements", "taking or planning a dietary or herbal supplement"),
    _b("taking_melatonin", "taking or planning melatonin"),
    _b(
        "supplement_in_question",
        "a supplement or melatonin is taken or planned (false only if both were recorded no)",
        derived=True,
    ),
    _b("recent_antibiotics", "antibiotics in the recent past"),
    _b("taking_probiotic", "currently taking a probiotic"),
    _b("on_maoi", "taking a monoamine oxidase inhibitor (incl. linezolid, selegiline)"),
    _b("on_st_johns_wort", "taking St John's wort"),
    _b(
        "on_other_serotonergic",
        "taking another serotonergic medicine (tramadol, triptans, lithium, SNRIs, TCAs, ...)",
    ),
    _b("on_nsaid", "taking a regular NSAID or aspirin"),
    _b("on_anticoagulant", "taking an anticoagulant or antiplatelet"),
    _b("ssri_with_maoi", "SSRI and MAOI both taken (contraindicated combination)", True),
    _b(
        "ssri_with_serotonergic",
        "SSRI with St John's wort or another serotonergic medicine (serotonin syndrome risk)",
        True,
    ),
    _b(
        "ssri_with_bleeding_risk",
        "SSRI with an NSAID, aspirin, anticoagulant or antiplatelet (GI bleeding risk)",
        True,
    ),
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
    FactSpec(
        "caffeine_mg_per_kg",
        "number",
        "caffeine per kg of body weight (for children's and adolescents' limits)",
        "mg/kg/day",
        0,
        40000,
        derived=True,
    ),
    _b("gluten_free_diet", "already avoiding gluten (celiac serology then unreliable)"),
    _b("wants_probiotic_trial", "the patient is interested in trying a probiotic"),
]


def _for_clinicians(specs: Sequence[FactSpec]) -> list[FactSpec]:
    """Each spec with its clinician's label, and each instrument total (``x_total``) with its
    severity band (``x_band``), which explanations show beside it."""
    names = {s.name for s in specs}
    out = []
    for s in specs:
        band = s.name.removesuffix("_total") + "_band" if s.name.endswith("_total") else ""
        out.append(replace(s, label=LABELS.get(s.name, ""), band=band if band in names else ""))
    return out


VOCABULARY = Vocabulary(_for_clinicians(_SPECS))

_ALARM_WORDS = {
    "rectal_bleeding": "rectal bleeding",
    "unintentional_weight_loss": "unintentional weight loss",
    "iron_deficiency_anemia": "iron-deficiency anaemia",
    "persistent_vomiting": "persistent vomiting",
    "dysphagia": "dysphagia",
    "nocturnal_symptoms": "nocturnal symptoms",
    "new_bowel_change_age_50": "new change in bowel habit at age >= 50",
    "family_history_crc_with_symptoms": "family history of colorectal cancer with GI symptoms",
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


def facts_from_intake(intake: Intake | Mapping[str, Any]) -> dict[str, FactValue]:
    """The flat fact dict for one intake. Absent means not recorded (S8).

    ``intake`` is a validated ``Intake`` or a dict that ``intake.INTAKE_DICT`` validated:
    both are read as plain mappings (a section's ``__dict__`` holds its validated field values
    and nothing else, extra keys being forbidden), so the two share every line below.
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
    raw["breastfeeding"] = get_top("breastfeeding")
    weight = get_top("weight_kg")
    if weight is not None:
        raw["weight_kg"] = weight = _num(weight)

    gi = get_top("gi")
    fever = mass = None
    if gi:
        raw.update(gi)
        weeks = raw["gi_symptom_weeks"] = raw.pop("symptom_weeks", None)
        onset_age = raw["gi_onset_age"] = raw.pop("onset_age", None)
        sss = raw["ibs_sss_total"] = raw.pop("ibs_sss", None)
        if sss is not None:
            raw["ibs_sss_band"] = ibs_sss_band(sss)
        pain = gi.get("abdominal_pain_score")
        change = gi.get("change_in_bowel_habit")
        pain_now = None if pain is None else pain >= 1
        gi_symptoms = kleene_or(
            (gi.get("bloating"), gi.get("irregular_bowel"), pain_now, change, gi.get("diarrhea"))
        )
        # symptom_weeks counts from the first onset (docs/INTAKE.md), so it dates the onset.
        if onset_age is not None:
            raw["gi_began_at_age"] = _num(onset_age)
        elif weeks is not None:
            raw["gi_began_at_age"] = _num(age - weeks / 52)
        if weeks is not None:
            raw["gi_recent"] = weeks < 52
        fever = gi.get("fever")
        mass = gi.get("abdominal_mass")
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
        raw["severe_mood_change"] = mood.get("severe_mood_change")
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
        calprotectin = labs.get("fecal_calprotectin")
        if calprotectin:
            raw["fecal_calprotectin_ug_g"] = _num(calprotectin["value"])

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
    )
    raw["gi_alarm"] = alarm = kleene_or(alarms)
    if alarm:
        present = [word for word, v in zip(_ALARM_TEXT, alarms, strict=True) if v is True]
        raw["gi_alarm_features"] = ", ".join(present)

    crp = raw["crp_mg_l"]
    calprotectin = raw["fecal_calprotectin_ug_g"]
    acute = (
        None if crp is None else crp > 10,
        None if calprotectin is None else calprotectin > 200,
        fever,
        mass,
    )
    raw["gi_acute"] = kleene_or(acute)
    if raw["gi_acute"]:
        raw["gi_acute_findings"] = ", ".join(
            text.format(crp=crp, calprotectin=calprotectin)
            for text, v in zip(_ACUTE_TEXT, acute, strict=True)
            if v is True
        )

    # Pregnancy is a caution only where it can apply: not asked of a male patient or from
    # PREGNANCY_NOT_APPLICABLE_AGE (WHO counts 15-49 as reproductive age; 55 leaves a margin),
    # so "not recorded" there does not call for a provider review.
    if pregnant is None and (sex == "male" or age >= PREGNANCY_NOT_APPLICABLE_AGE):
        pregnant = False
    serious = _serious_cautions(raw)
    raw["probiotic_serious_risk"] = kleene_or(serious)
    raw["probiotic_risk"] = kleene_or((*serious, pregnant))
    if raw["probiotic_risk"]:
        present = [
            word for word, v in zip(_CAUTION_TEXT, (*serious, pregnant), strict=True) if v is True
        ]
        raw["probiotic_cautions"] = ", ".join(present)

    meds = get_top("medications")
    if meds:
        ssri = raw["on_ssri"] = meds.get("ssri")
        raw["recent_antibiotics"] = meds.get("recent_antibiotics")
        raw["taking_probiotic"] = meds.get("probiotic")
        raw["on_maoi"] = maoi = meds.get("maoi")
        raw["on_st_johns_wort"] = sjw = meds.get("st_johns_wort")
        raw["on_other_serotonergic"] = other = meds.get("other_serotonergic")
        raw["on_nsaid"] = nsaid = meds.get("nsaid")
        raw["on_anticoagulant"] = anticoagulant = meds.get("anticoagulant")
        raw["taking_supplements"] = supplements = meds.get("supplements")
        raw["taking_melatonin"] = melatonin = meds.get("melatonin")
        raw["supplement_in_question"] = kleene_or((supplements, melatonin))
        raw["ssri_with_maoi"] = kleene_and(ssri, maoi)
        raw["ssri_with_serotonergic"] = kleene_and(ssri, kleene_or((sjw, other)))
        raw["ssri_with_bleeding_risk"] = kleene_and(ssri, kleene_or((nsaid, anticoagulant)))

    life = get_top("lifestyle")
    if life:
        raw.update(life)
        for name in _NUMBER_INPUTS:
            v = raw[name]
            if v is not None:
                raw[name] = _num(v)
        caffeine = raw["caffeine_mg_per_day"]
        if caffeine is not None and weight is not None:
            raw["caffeine_mg_per_kg"] = _num(caffeine / weight)

    return {k: v for k, v in raw.items() if v is not None}


#: From this age an unrecorded pregnancy is taken as not applicable (probiotic cautions only).
PREGNANCY_NOT_APPLICABLE_AGE = 55

# The cautions that make a probiotic already being taken an urgent review (S15); pregnancy is
# a caution too, but one for a routine discussion with the provider.
_SERIOUS_CAUTIONS = (
    "immunocompromised",
    "central_venous_catheter",
    "critically_ill",
    "prosthetic_heart_valve",
    "short_bowel_syndrome",
    "acute_pancreatitis",
)
_serious_cautions = operator.itemgetter(*_SERIOUS_CAUTIONS)  # a tuple of their values
_CAUTION_TEXT = (
    "immunocompromised",
    "central venous catheter",
    "critically ill",
    "prosthetic heart valve or prior endocarditis",
    "short bowel syndrome",
    "acute pancreatitis",
    "pregnant",
)
# The words for each entry of the acute tuple built in facts_from_intake, in the same order.
_ACUTE_TEXT = (
    "CRP {crp:g} mg/L (> 10)",
    "faecal calprotectin {calprotectin:g} ug/g (> 200)",
    "fever",
    "abdominal or rectal mass",
)


# Lifestyle inputs that are numbers (the model path gives floats; the dict path may hold ints).
_NUMBER_INPUTS = ("sleep_hours", "fiber_g_per_day", "caffeine_mg_per_day")
_ALL_NONE: dict[str, Any] = dict.fromkeys(VOCABULARY)


def _as_dicts(data: BaseModel | Mapping[str, Any]) -> Mapping[str, Any]:
    """A validated model as nested plain dicts (a model's ``__dict__`` holds its validated
    field values and nothing else, extra keys being forbidden), the shape a validated dict
    already has."""
    if not isinstance(data, BaseModel):
        return data
    return {k: _as_dicts(v) if isinstance(v, BaseModel) else v for k, v in data.__dict__.items()}


def missing_facts(facts: dict[str, FactValue]) -> list[str]:
    """Recorded-input facts that are absent, in vocabulary order (for the 'not recorded' list)."""
    return VOCABULARY.missing(facts)


def vocabulary_markdown() -> str:
    """The vocabulary as a Markdown table, for docs/FACTS.md."""
    return VOCABULARY.markdown()
