"""The clinical domain as the verifier needs it: fact model, facts -> intake, intake -> steps.

``fact_model.yaml`` (beside this file) declares every derived fact of ``facts.VOCABULARY``;
``intake_from_facts`` is the inverse of ``facts.facts_from_intake`` on recorded input facts,
so a counterexample the solver finds becomes an Intake JSON the engine can re-run.
``tests/test_fact_model.py`` checks both against the fact builder on random intakes.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from gbrules.clinical.facts import VOCABULARY, FactValue
from gbrules.clinical.intake import Intake
from gbrules.clinical.phrases import given_steps
from gbrules.core.verify.domain import ProofDomain
from gbrules.core.verify.factmodel import FactModel, load_fact_model

FACT_MODEL = Path(__file__).with_name("fact_model.yaml")

# Facts whose intake field has another name, or lives inside an instrument.
_RENAMED: dict[str, tuple[str, str]] = {
    "gi_symptom_weeks": ("gi", "symptom_weeks"),
    "on_ssri": ("medications", "ssri"),
    "taking_probiotic": ("medications", "probiotic"),
    "celiac_serology": ("labs", "celiac_serology"),
    "iron_deficiency_anemia": ("labs", "iron_deficiency_anemia"),
    "suicidal_ideation": ("mood", "suicidal_ideation"),
    "gi_onset_age": ("gi", "onset_age"),
    "ibs_sss_total": ("gi", "ibs_sss"),
    "on_maoi": ("medications", "maoi"),
    "on_st_johns_wort": ("medications", "st_johns_wort"),
    "on_other_serotonergic": ("medications", "other_serotonergic"),
    "on_nsaid": ("medications", "nsaid"),
    "on_anticoagulant": ("medications", "anticoagulant"),
    "taking_supplements": ("medications", "supplements"),
    "taking_melatonin": ("medications", "melatonin"),
}
_INSTRUMENTS = (
    "phq9_total",
    "phq9_item9",
    "gad7_total",
    "hamd17_total",
    "crp_mg_l",
    "fecal_calprotectin_ug_g",
)


def _places() -> dict[str, tuple[str, str]]:
    """Input fact -> (section, field) of Intake JSON: same-named fields found in the models."""
    out: dict[str, tuple[str, str]] = {}
    for name, info in Intake.model_fields.items():
        section = info.annotation
        fields = getattr(section, "model_fields", None)
        for arg in getattr(section, "__args__", ()):  # Optional[Section]
            fields = getattr(arg, "model_fields", None) or fields
        if fields is None:
            out[name] = ("", name)
        else:
            out.update({f: (name, f) for f in fields})
    out.update(_RENAMED)
    return out


PLACES = _places()


def intake_from_facts(facts: Mapping[str, FactValue]) -> dict[str, Any]:
    """An Intake JSON document whose recorded input facts are ``facts`` (derived ones are
    recomputed by the engine). Raises KeyError for a fact no intake field records."""
    out: dict[str, Any] = {}

    def put(section: str, key: str, value: object) -> None:
        (out.setdefault(section, {}) if section else out)[key] = value

    for name, value in facts.items():
        if name in _INSTRUMENTS:
            continue
        section, key = PLACES[name]
        put(section, key, value)
    if "phq9_total" in facts:
        phq9: dict[str, Any] = {"total": facts["phq9_total"]}
        if "phq9_item9" in facts:
            phq9["item9"] = facts["phq9_item9"]
        put("mood", "phq9", phq9)
    if "gad7_total" in facts:
        put("mood", "gad7", {"total": facts["gad7_total"]})
    if "hamd17_total" in facts:
        put("mood", "hamd17", {"total": facts["hamd17_total"]})
    if "crp_mg_l" in facts:
        put("labs", "crp", {"value": float(facts["crp_mg_l"]), "unit": "mg/L"})
    if "fecal_calprotectin_ug_g" in facts:
        value = float(facts["fecal_calprotectin_ug_g"])
        put("labs", "fecal_calprotectin", {"value": value, "unit": "ug/g"})
    order = ["patient_id", "age", "sex", "pregnant", *Intake.model_fields]
    return {k: out[k] for k in dict.fromkeys(order) if k in out}


@cache
def clinical_fact_model() -> FactModel:
    return load_fact_model(FACT_MODEL, VOCABULARY)


@cache
def clinical_proof_domain() -> ProofDomain:
    """The clinical vocabulary, fact model, intake builder and step writer for the verifier."""
    return ProofDomain(
        model=clinical_fact_model(),
        to_input=intake_from_facts,
        given_steps=given_steps,
        required=("age",),
        typical={"age": 40},
    )
