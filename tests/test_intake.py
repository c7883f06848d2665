from __future__ import annotations

import math

import pytest

from gbrules import Intake, IntakeError
from gbrules.clinical.intake import parse_intake


def paths(data: object) -> set[str]:
    with pytest.raises(IntakeError) as info:
        parse_intake(data)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    return {e.path for e in info.value.errors}


def test_minimal_intake_needs_only_age() -> None:
    intake = parse_intake({"age": 35})
    assert intake.age == 35
    assert intake.mood is None


def test_age_is_required() -> None:
    assert paths({}) == {"age"}


def test_every_bad_field_is_reported_at_once() -> None:
    bad = {
        "age": -1,
        "sex": "f",
        "gi": {"bloatng": True, "abdominal_pain_score": 11},
        "mood": {"phq9": {"items": [0, 0, 0, 0, 0, 0, 0, 0, 4]}, "gad7": {"total": 22}},
        "labs": {"crp": {"value": -2, "unit": "mg/L"}},
        "lifestyle": {"stress_score": 11},
    }
    assert paths(bad) == {
        "age",
        "sex",
        "gi.bloatng",
        "gi.abdominal_pain_score",
        "mood.phq9.items[8]",
        "mood.gad7.total",
        "labs.crp.value",
        "lifestyle.stress_score",
    }


def test_typo_is_named_as_unknown_field() -> None:
    with pytest.raises(IntakeError) as info:
        parse_intake({"age": 40, "conditions": {"ibss": True}})
    (err,) = info.value.errors
    assert err.path == "conditions.ibss"
    assert "unknown field" in err.message


@pytest.mark.parametrize("value", ["true", 1, 0, "yes"])
def test_booleans_must_be_json_booleans(value: object) -> None:
    assert paths({"age": 40, "conditions": {"ibs": value}}) == {"conditions.ibs"}


@pytest.mark.parametrize("age", [35.5, "35", True])
def test_age_must_be_a_whole_number(age: object) -> None:
    assert paths({"age": age}) == {"age"}


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, -0.1, 1001.0])
def test_crp_must_be_finite_non_negative_and_plausible(value: float) -> None:
    assert paths({"age": 40, "labs": {"crp": {"value": value, "unit": "mg/L"}}}) == {
        "labs.crp.value"
    }


def test_crp_in_mg_dl_is_normalised_to_mg_l() -> None:
    intake = parse_intake({"age": 40, "labs": {"crp": {"value": 0.42, "unit": "mg/dL"}}})
    assert intake.labs is not None and intake.labs.crp is not None
    assert intake.labs.crp.mg_l == pytest.approx(4.2)


def test_crp_unit_must_be_known() -> None:
    assert paths({"age": 40, "labs": {"crp": {"value": 1, "unit": "mmol/L"}}}) == {"labs.crp.unit"}


def test_phq9_items_and_disagreeing_total_is_an_error() -> None:
    data = {"age": 40, "mood": {"phq9": {"items": [1] * 9, "total": 10}}}
    with pytest.raises(IntakeError) as info:
        parse_intake(data)
    assert [e.path for e in info.value.errors] == ["mood.phq9"]
    assert "disagrees" in info.value.errors[0].message


def test_phq9_items_and_agreeing_total_is_fine() -> None:
    intake = parse_intake({"age": 40, "mood": {"phq9": {"items": [1] * 9, "total": 9}}})
    assert intake.mood is not None and intake.mood.phq9 is not None
    assert intake.mood.phq9.total_score == 9
    assert intake.mood.phq9.item9_score == 1


def test_phq9_total_without_item9_keeps_item9_missing() -> None:
    intake = parse_intake({"age": 40, "mood": {"phq9": {"total": 12}}})
    assert intake.mood is not None and intake.mood.phq9 is not None
    assert intake.mood.phq9.item9_score is None


@pytest.mark.parametrize(
    "phq9",
    [{}, {"items": [0] * 8}, {"items": [0] * 10}, {"total": 28}, {"total": 1, "item9": 2}],
)
def test_phq9_malformed(phq9: dict[str, object]) -> None:
    assert all(p.startswith("mood.phq9") for p in paths({"age": 40, "mood": {"phq9": phq9}}))


def test_gad7_items_are_summed() -> None:
    intake = parse_intake({"age": 40, "mood": {"gad7": {"items": [2, 2, 2, 2, 1, 1, 1]}}})
    assert intake.mood is not None and intake.mood.gad7 is not None
    assert intake.mood.gad7.total_score == 11


def test_hamd_range() -> None:
    assert paths({"age": 40, "mood": {"hamd17": {"total": 53}}}) == {"mood.hamd17.total"}


def test_pregnant_male_is_contradictory() -> None:
    assert paths({"age": 40, "sex": "male", "pregnant": True}) == {"$"}


@pytest.mark.parametrize("data", [[], "x", 3, None])
def test_non_object_intake(data: object) -> None:
    assert paths(data) == {"$"}


def test_model_instance_passes_through() -> None:
    intake = Intake(age=50)
    assert parse_intake(intake) is intake


# --- Intake v1.1 --------------------------------------------------------------------------


V11 = {
    "age": 30,
    "sex": "female",
    "breastfeeding": True,
    "weight_kg": 61.5,
    "gi": {
        "onset_age": 29,
        "symptom_onset": "gradual",
        "diarrhea": True,
        "fever": False,
        "abdominal_mass": False,
        "ibs_sss": 320,
        "ibs_subtype": "IBS-D",
    },
    "mood": {
        "phq9": {"total": 8, "date": "2025-03-01"},
        "gad7": {"total": 4, "date": "2025-03-01"},
    },
    "labs": {
        "crp": {"value": 2.0, "unit": "mg/L", "date": "2025-02-27"},
        "fecal_calprotectin": {"value": 40, "unit": "ug/g", "date": "2025-02-27"},
    },
    "conditions": {
        "bipolar_disorder": False,
        "eating_disorder": False,
        "prosthetic_heart_valve": False,
        "short_bowel_syndrome": False,
        "acute_pancreatitis": False,
    },
    "medications": {
        "maoi": False,
        "st_johns_wort": False,
        "other_serotonergic": False,
        "nsaid": True,
        "anticoagulant": False,
    },
    "lifestyle": {"gluten_free_diet": False, "wants_probiotic_trial": True},
}


def test_every_v1_1_field_is_accepted() -> None:
    intake = parse_intake(V11)
    assert intake.gi is not None and intake.gi.ibs_subtype == "IBS-D"
    assert intake.labs is not None and intake.labs.fecal_calprotectin is not None
    assert intake.labs.fecal_calprotectin.date is not None
    assert intake.labs.fecal_calprotectin.date.isoformat() == "2025-02-27"
    assert intake.medications is not None and intake.medications.nsaid is True


def test_bad_v1_1_fields_are_each_named() -> None:
    bad = {
        "age": 30,
        "breastfeeding": "yes",
        "weight_kg": 0.1,
        "gi": {"symptom_onset": "slow", "ibs_sss": 501, "ibs_subtype": "IBS-X", "fever": 1},
        "mood": {"phq9": {"total": 8, "date": "01/03/2025"}},
        "labs": {
            "crp": {"value": 2.0, "unit": "mg/L", "date": "2025-02-30"},
            "fecal_calprotectin": {"value": 40, "unit": "mg/L"},
        },
        "conditions": {"bipolar": True},
        "medications": {"maoi": "no"},
        "lifestyle": {"gluten_free_diet": None, "wants_probiotic_trial": 0},
    }
    assert paths(bad) == {
        "breastfeeding",
        "weight_kg",
        "gi.symptom_onset",
        "gi.ibs_sss",
        "gi.ibs_subtype",
        "gi.fever",
        "mood.phq9.date",
        "labs.crp.date",
        "labs.fecal_calprotectin.unit",
        "conditions.bipolar",
        "medications.maoi",
        "lifestyle.wants_probiotic_trial",
    }


def test_onset_age_cannot_exceed_age() -> None:
    with pytest.raises(IntakeError) as info:
        parse_intake({"age": 40, "gi": {"onset_age": 41}})
    assert "'gi.onset_age' 41 is greater than 'age' 40" in info.value.errors[0].message
    assert parse_intake({"age": 40, "gi": {"onset_age": 40}}).gi is not None


@pytest.mark.parametrize("day", ["2025-1-5", "20250105", "2025-01-05T10:00:00", "1899-12-31"])
def test_a_measurement_day_is_an_iso_calendar_day(day: str) -> None:
    assert paths({"age": 40, "mood": {"gad7": {"total": 3, "date": day}}}) == {"mood.gad7.date"}


def test_the_v1_examples_stay_valid() -> None:
    from gbrules.clinical.examples import load_example

    for name in ("case1", "case2", "crisis"):
        parse_intake(load_example(name))
