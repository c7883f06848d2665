from __future__ import annotations

import json

from hypothesis import given

from gbrules.clinical.facts import VOCABULARY, facts_from_intake, kleene_or, missing_facts
from gbrules.clinical.intake import parse_intake

from .strategies import ALARM_FREE, intakes


def facts(data: dict[str, object]) -> dict[str, object]:
    return dict(facts_from_intake(parse_intake(data)))


def test_unrecorded_facts_are_absent_not_false() -> None:
    f = facts({"age": 40})
    # Under 50 the age-gated alarm is known to be absent whatever the bowel habit.
    assert f == {"age": 40, "phq9_item9_recorded": False, "new_bowel_change_age_50": False}
    assert "ibs" not in f
    assert "gi_alarm" not in f
    assert "phq9_total" not in f
    assert "probiotic_risk" not in f
    assert "ibs" in missing_facts(f)  # type: ignore[arg-type]


def test_false_is_kept_when_recorded() -> None:
    f = facts({"age": 40, "conditions": {"ibs": False}})
    assert f["ibs"] is False


def test_phq9_derived_facts() -> None:
    f = facts({"age": 40, "mood": {"phq9": {"items": [2, 2, 2, 2, 2, 2, 2, 1, 1]}}})
    assert f["phq9_total"] == 16
    assert f["phq9_band"] == "moderately_severe"
    assert f["phq9_item9"] == 1
    assert f["phq9_item9_recorded"] is True


def test_phq9_total_only_leaves_item9_absent() -> None:
    f = facts({"age": 40, "mood": {"phq9": {"total": 12}}})
    assert "phq9_item9" not in f
    assert f["phq9_item9_recorded"] is False


def test_crp_normalised_and_banded() -> None:
    f = facts({"age": 40, "labs": {"crp": {"value": 1.2, "unit": "mg/dL"}}})
    assert f["crp_mg_l"] == 12.0
    assert f["crp_band"] == "acute"


def test_gi_alarm_true_when_any_feature_present_even_if_others_missing() -> None:
    f = facts({"age": 30, "gi": {"rectal_bleeding": True}})
    assert f["gi_alarm"] is True
    assert f["gi_alarm_features"] == "rectal bleeding"


def test_gi_alarm_false_only_when_every_feature_recorded_absent() -> None:
    base = json.loads(json.dumps({"age": 30, **ALARM_FREE}))
    base["gi"]["bloating"] = True
    assert facts(base)["gi_alarm"] is False
    partial = json.loads(json.dumps(base))
    del partial["gi"]["dysphagia"]
    assert "gi_alarm" not in facts(partial)


def test_new_bowel_change_alarm_starts_at_50() -> None:
    assert facts({"age": 49, "gi": {"change_in_bowel_habit": True}}).get("gi_alarm") is not True
    assert facts({"age": 50, "gi": {"change_in_bowel_habit": True}})["gi_alarm"] is True


def test_family_history_counts_only_with_gi_symptoms() -> None:
    with_symptoms = {
        "age": 30,
        "gi": {"bloating": True},
        "conditions": {"family_history_colorectal_cancer": True},
    }
    assert facts(with_symptoms)["gi_alarm"] is True
    no_symptoms = {
        "age": 30,
        "gi": {
            "bloating": False,
            "irregular_bowel": False,
            "abdominal_pain_score": 0,
            "change_in_bowel_habit": False,
        },
        "conditions": {"family_history_colorectal_cancer": True},
    }
    assert facts(no_symptoms).get("gi_alarm") is not True


def test_probiotic_risk_and_male_pregnancy() -> None:
    risk = {"age": 30, "conditions": {"immunocompromised": True}}
    assert facts(risk)["probiotic_risk"] is True
    clear_female = {
        "age": 30,
        "sex": "female",
        "conditions": {
            "immunocompromised": False,
            "central_venous_catheter": False,
            "critically_ill": False,
            "prosthetic_heart_valve": False,
            "short_bowel_syndrome": False,
            "acute_pancreatitis": False,
        },
    }
    assert "probiotic_risk" not in facts(clear_female)  # pregnancy not recorded
    assert facts(clear_female)["probiotic_serious_risk"] is False  # pregnancy is not in it
    clear_male = dict(clear_female, sex="male")
    assert facts(clear_male)["probiotic_risk"] is False


def test_the_v1_1_cautions_count_and_are_named() -> None:
    for caution in ("prosthetic_heart_valve", "short_bowel_syndrome", "acute_pancreatitis"):
        f = facts({"age": 30, "conditions": {caution: True}})
        assert f["probiotic_risk"] is True and f["probiotic_serious_risk"] is True
    f = facts({"age": 30, "pregnant": True, "conditions": {"acute_pancreatitis": True}})
    assert f["probiotic_cautions"] == "acute pancreatitis, pregnant"
    pregnant_only = facts({"age": 30, "pregnant": True})
    assert pregnant_only["probiotic_risk"] is True
    assert "probiotic_serious_risk" not in pregnant_only  # the other cautions not recorded
    # A v1 intake that recorded only the four v1 cautions absent: the new three are unknown.
    v1 = facts(
        {
            "age": 30,
            "pregnant": False,
            "conditions": {
                "immunocompromised": False,
                "central_venous_catheter": False,
                "critically_ill": False,
            },
        }
    )
    assert "probiotic_risk" not in v1


def test_onset_at_50_from_onset_age_or_from_weeks() -> None:
    # The recorded onset age wins over the estimate from weeks.
    f = facts({"age": 72, "gi": {"onset_age": 40, "symptom_weeks": 8}})
    assert f["gi_began_at_age"] == 40.0
    assert f["gi_recent"] is True
    # age - weeks / 52: 51 - 52/52 = 50 is "at 50"; 51 - 53/52 is just under.
    assert facts({"age": 51, "gi": {"symptom_weeks": 52}})["gi_began_at_age"] == 50.0
    assert facts({"age": 51, "gi": {"symptom_weeks": 53}})["gi_began_at_age"] < 50
    assert facts({"age": 51, "gi": {"symptom_weeks": 52}})["gi_recent"] is False
    # Neither recorded: unknown, not "under 50".
    f = facts({"age": 72, "gi": {"bloating": True}})
    assert "gi_began_at_age" not in f and "gi_recent" not in f


def test_acute_markers_are_three_valued() -> None:
    def acute(gi: dict[str, object], labs: dict[str, object]) -> object:
        return facts({"age": 30, "gi": gi, "labs": labs}).get("gi_acute")

    crp = {"crp": {"value": 10.0, "unit": "mg/L"}}
    calpro = {"fecal_calprotectin": {"value": 200.0, "unit": "ug/g"}}
    normal = {"fever": False, "abdominal_mass": False}
    assert acute(normal, {**crp, **calpro}) is False
    assert acute({"fever": False}, {**crp, **calpro}) is None  # mass not recorded
    assert acute(normal, {"crp": {"value": 10.1, "unit": "mg/L"}}) is True
    assert acute({}, {"fecal_calprotectin": {"value": 201.0, "unit": "ug/g"}}) is True
    assert acute({"fever": True}, {}) is True
    f = facts(
        {
            "age": 30,
            "gi": {"abdominal_mass": True},
            "labs": {"crp": {"value": 15, "unit": "mg/dL"}},
        }
    )
    assert f["gi_acute_findings"] == "CRP 150 mg/L (> 10), abdominal or rectal mass"


def test_diarrhoea_is_a_gi_symptom() -> None:
    assert facts({"age": 30, "gi": {"diarrhea": True}})["gi_symptoms"] is True
    quiet = {
        "bloating": False,
        "irregular_bowel": False,
        "abdominal_pain_score": 0,
        "change_in_bowel_habit": False,
    }
    assert "gi_symptoms" not in facts({"age": 30, "gi": quiet})  # diarrhoea not recorded
    assert facts({"age": 30, "gi": {**quiet, "diarrhea": False}})["gi_symptoms"] is False


def test_interaction_facts_are_three_valued() -> None:
    def med(**meds: bool) -> dict[str, object]:
        return facts({"age": 30, "medications": meds})

    assert med(ssri=True, maoi=True)["ssri_with_maoi"] is True
    assert "ssri_with_maoi" not in med(ssri=True)  # MAOI not recorded: unknown
    assert med(ssri=False)["ssri_with_maoi"] is False  # no SSRI: no combination
    assert med(ssri=True, st_johns_wort=True)["ssri_with_serotonergic"] is True
    assert med(ssri=True, other_serotonergic=True)["ssri_with_serotonergic"] is True
    assert med(ssri=True, nsaid=False, anticoagulant=True)["ssri_with_bleeding_risk"] is True
    assert med(ssri=True, nsaid=False, anticoagulant=False)["ssri_with_bleeding_risk"] is False


def test_ibs_sss_and_caffeine_per_kg() -> None:
    f = facts(
        {
            "age": 13,
            "weight_kg": 40,
            "gi": {"ibs_sss": 300},
            "lifestyle": {"caffeine_mg_per_day": 90},
        }
    )
    assert f["ibs_sss_total"] == 300 and f["ibs_sss_band"] == "severe"
    assert f["caffeine_mg_per_kg"] == 2.25
    assert "caffeine_mg_per_kg" not in facts({"age": 13, "lifestyle": {"caffeine_mg_per_day": 90}})


def test_kleene_or() -> None:
    assert kleene_or([None, True]) is True
    assert kleene_or([None, False]) is None
    assert kleene_or([False, False]) is False
    assert kleene_or([]) is False


@given(intakes())
def test_facts_are_in_the_vocabulary_and_well_typed(data: dict[str, object]) -> None:
    f = facts_from_intake(parse_intake(data))
    for name, value in f.items():
        spec = VOCABULARY[name]
        assert value is not None
        if spec.type == "bool":
            assert isinstance(value, bool)
        elif spec.type == "int":
            assert isinstance(value, int) and not isinstance(value, bool)
        elif spec.type == "number":
            assert isinstance(value, float) and "e" not in repr(value)
            assert spec.lo is not None and spec.hi is not None
            assert spec.lo <= value <= spec.hi, (name, value)
        elif spec.type == "enum":
            assert value in spec.values
    # Whatever a section leaves out stays out (S8): no recorded-input fact is invented.
    assert ("ibs" in f) == ("ibs" in (data.get("conditions") or {}))  # type: ignore[operator]


def test_docs_fact_table_is_current() -> None:
    from pathlib import Path

    from gbrules.clinical.facts import vocabulary_markdown

    doc = (Path(__file__).resolve().parent.parent / "docs" / "FACTS.md").read_text()
    assert vocabulary_markdown() in doc, "regenerate docs/FACTS.md (see its header)"
