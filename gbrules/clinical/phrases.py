"""The clinical step vocabulary of ``features/``: the words a clinician writes, as intake fields.

One table for both directions: the BDD step definitions (``gbrules.io.scenarios.steps``) read a
phrase into an intake field, and the verifier writes a counterexample intake back as steps
(``given_steps``), so a scenario it prints runs as written. features/README.md lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Words a clinician writes -> (section, field) in Intake JSON. Top-level fields use "".
# When two phrases name one field, the first is the one written back.
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
    "a severe change in mood": ("mood", "severe_mood_change"),
    "supplements": ("medications", "supplements"),
    "melatonin": ("medications", "melatonin"),
    "diagnostic doubt": ("gi", "diagnostic_doubt"),
}
# Measures written "NAME is VALUE" -> (section, field); GAD-7 and HAM-D 17 are totals.
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
    "weeks of first-line care": ("gi", "first_line_care_weeks"),
}
# The verb a yes/no phrase reads best with ("has" when not listed); any verb is accepted.
_VERBS: dict[str, tuple[str, str]] = {
    "pregnant": ("is", "is not"),
    "immunocompromised": ("is", "is not"),
    "critically ill": ("is", "is not"),
    "suicidal ideation": ("reports", "does not report"),
    "an SSRI": ("takes", "does not take"),
    "recent antibiotics": ("takes", "does not take"),
    "a probiotic": ("takes", "does not take"),
    "breastfeeding": ("is", "is not"),
    "an MAOI": ("takes", "does not take"),
    "St John's wort": ("takes", "does not take"),
    "another serotonergic medicine": ("takes", "does not take"),
    "an NSAID": ("takes", "does not take"),
    "an anticoagulant": ("takes", "does not take"),
    "on a gluten-free diet": ("is", "is not"),
    "a probiotic trial": ("wants", "does not want"),
    "supplements": ("takes", "does not take"),
    "melatonin": ("takes", "does not take"),
    "a severe change in mood": ("reports", "does not report"),
}
_YES_NO = ("has", "does not have")


def _number(value: object) -> str:
    """A number as the steps read it back: a float keeps its decimal point."""
    return repr(float(value)) if isinstance(value, float) else str(value)


def given_steps(intake: Mapping[str, Any]) -> list[str]:
    """An intake as Given steps (without the keyword), in the order a clinician reads it.

    Raises KeyError for a field no step can record (a test keeps every field covered).
    """
    phrase_of: dict[tuple[str, str], str] = {}
    for phrase, place in PHRASES.items():
        phrase_of.setdefault(place, phrase)
    number_of = {place: name for name, place in NUMBERS.items()}
    steps = [f"a patient aged {intake['age']}"]
    if "sex" in intake:
        steps.append(f"the patient is {intake['sex']}")
    places: list[tuple[str, str, object]] = [
        ("", k, v) for k, v in intake.items() if k not in ("age", "sex", "patient_id")
    ]
    for section, body in intake.items():
        if isinstance(body, Mapping):
            places += [(section, k, v) for k, v in body.items()]
    for section, key, value in places:
        if isinstance(value, Mapping) and section == "" and key in intake:
            continue  # a section: its fields are listed one by one
        place = (section, key)
        if isinstance(value, bool):
            phrase = phrase_of[place]
            yes, no = _VERBS.get(phrase, _YES_NO)
            steps.append(f"the patient {yes if value else no} {phrase}")
        elif place == ("mood", "phq9"):
            assert isinstance(value, Mapping)
            total = sum(value["items"]) if "items" in value else value["total"]
            item9 = value["items"][8] if "items" in value else value.get("item9")
            steps.append(
                f"PHQ-9 total {total}" + ("" if item9 is None else f" with item 9 {item9}")
            )
        elif place in (("mood", "gad7"), ("mood", "hamd17")):
            assert isinstance(value, Mapping)
            total = sum(value["items"]) if "items" in value else value["total"]
            steps.append(f"{number_of[place]} is {total}")
        elif place == ("labs", "crp"):
            assert isinstance(value, Mapping)
            steps.append(f"CRP {_number(float(value['value']))} {value['unit']}")
        elif place == ("labs", "fecal_calprotectin"):
            assert isinstance(value, Mapping)
            steps.append(f"faecal calprotectin {_number(value['value'])} ug/g")
        elif place == ("gi", "symptom_onset"):
            steps.append(f"the symptoms began {value}ly")  # sudden -> suddenly
        elif place == ("gi", "ibs_subtype"):
            steps.append(f"IBS subtype {value}")
        elif place == ("labs", "celiac_serology"):
            steps.append(f"celiac serology {str(value).replace('_', ' ')}")
        else:
            steps.append(f"{number_of[place]} is {_number(value)}")
    return steps
