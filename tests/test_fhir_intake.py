from __future__ import annotations

from datetime import date
from typing import Any

import pytest

import gbrules
from gbrules.clinical.examples import load_example
from gbrules.core.errors import IntakeError
from gbrules.io.fhir import MappingNote, intake_from_fhir
from tests.conftest import AS_OF, load_bundle

LOINC = "http://loinc.org"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"


def patient(**kw: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "birthDate": "1980-06-15", **kw}


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def obs(code: str, when: str = "2025-05-01T10:00:00Z", status: str = "final", **value: Any):
    return {
        "resourceType": "Observation",
        "id": f"o-{code}-{when[:10]}-{status}",
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": when,
        **value,
    }


def qty(value: float, unit: str) -> dict[str, Any]:
    return {
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        }
    }


def cond(system: str, code: str, clinical: str = "active", verification: str = "confirmed"):
    return {
        "resourceType": "Condition",
        "id": f"c-{code}-{clinical}-{verification}",
        "clinicalStatus": {"coding": [{"code": clinical}]},
        "verificationStatus": {"coding": [{"code": verification}]},
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p1"},
    }


def med(
    system: str, code: str, status: str = "active", kind: str = "MedicationStatement", **kw: Any
):
    res = {
        "resourceType": kind,
        "id": f"m-{code}-{status}",
        "status": status,
        "medicationCodeableConcept": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        **kw,
    }
    if kind == "MedicationRequest":
        res["intent"] = "order"
    return res


def mapped(*resources: dict[str, Any]) -> tuple[gbrules.Intake, list[MappingNote]]:
    return intake_from_fhir(bundle(patient(), *resources), as_of=AS_OF)


# --- the example bundles mirror examples/*.json ---------------------------------------------


@pytest.mark.parametrize("name", ["case1", "case2", "crisis"])
def test_example_bundle_mirrors_json_example(name: str) -> None:
    intake, _ = intake_from_fhir(load_bundle(name), as_of=AS_OF)
    ev = gbrules.evaluate(intake)
    example = load_example(name)
    # A patient's wish to try a probiotic is asked at the visit; the EHR does not carry it.
    (example.get("lifestyle") or {}).pop("wants_probiotic_trial", None)
    ref = gbrules.evaluate(example)
    assert ev.facts == ref.facts
    assert ev.codes == ref.codes
    assert intake.patient_id == f"example-{name}"


def test_case2_crp_in_mg_dl_is_converted_and_most_recent_wins() -> None:
    intake, notes = intake_from_fhir(load_bundle("case2"), as_of=AS_OF)
    assert intake.labs is not None and intake.labs.crp is not None
    assert intake.labs.crp.mg_l == pytest.approx(4.2)
    text = "\n".join(map(str, notes))
    assert "0.42 mg/dL converted to 4.2 mg/L" in text
    assert "Observation/crp-2023" in text and "superseded" in text
    assert "I10" in text  # unmapped condition reported, not dropped
    assert "Encounter" not in text


def test_case1_notes_ignored_and_unmapped_resources() -> None:
    _, notes = intake_from_fhir(load_bundle("case1"), as_of=AS_OF)
    by_ref = {n.reference: n for n in notes}
    assert "entered-in-error" in by_ref["Observation/gad7-total-eie"].message
    assert "Observation/weight" not in by_ref  # body weight is mapped (v1.1)
    assert by_ref["Encounter/enc-case1"].path == "entry[1].resource"


# --- Patient --------------------------------------------------------------------------------


def test_age_from_birth_date_at_as_of_and_sex() -> None:
    b = bundle(patient(birthDate="1980-06-02", gender="female"))
    intake, _ = intake_from_fhir(b, as_of=date(2025, 6, 1))
    assert intake.age == 44 and intake.sex == "female"
    intake, _ = intake_from_fhir(b, as_of=date(2025, 6, 2))
    assert intake.age == 45


def test_partial_birth_date_is_noted() -> None:
    intake, notes = intake_from_fhir(bundle(patient(birthDate="1975")), as_of=AS_OF)
    assert intake.age == 50
    assert any("partial birthDate" in n.message for n in notes)


def test_missing_patient_or_birth_date_is_an_error() -> None:
    with pytest.raises(IntakeError) as exc:
        intake_from_fhir(bundle(), as_of=AS_OF)
    assert exc.value.errors[0].path == "Patient.birthDate"
    with pytest.raises(IntakeError) as exc:
        intake_from_fhir(bundle({"resourceType": "Patient", "id": "x"}), as_of=AS_OF)
    assert exc.value.errors[0].path == "entry[0].resource.birthDate"
    with pytest.raises(IntakeError):
        intake_from_fhir(bundle(patient(birthDate="2030-01-01")), as_of=AS_OF)


# --- Observations ---------------------------------------------------------------------------


def test_phq9_total_and_item9_same_administration() -> None:
    intake, _ = mapped(obs("44261-6", valueInteger=12), obs("44260-8", valueInteger=1))
    assert intake.mood is not None and intake.mood.phq9 is not None
    assert intake.mood.phq9.total == 12 and intake.mood.phq9.item9 == 1
    assert "safety.crisis" in gbrules.evaluate(intake).codes


def test_phq9_item9_as_loinc_answer_code() -> None:
    item9 = obs("44260-8", valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA6571-9"}]})
    intake, _ = mapped(obs("44261-6", valueInteger=20), item9)
    assert intake.mood and intake.mood.phq9 and intake.mood.phq9.item9 == 3


def test_most_recent_value_wins_and_old_one_is_noted() -> None:
    intake, notes = mapped(
        obs("44261-6", "2025-05-20T10:00:00Z", valueInteger=4),
        obs("44261-6", "2024-01-01T10:00:00Z", valueInteger=22),
    )
    assert intake.mood and intake.mood.phq9 and intake.mood.phq9.total == 4
    assert any("superseded" in n.message for n in notes)


def test_entered_in_error_cancelled_and_preliminary_are_not_used() -> None:
    intake, notes = mapped(
        obs("70274-6", status="entered-in-error", valueInteger=20),
        obs("70274-6", "2025-05-02T00:00:00Z", status="cancelled", valueInteger=20),
        obs("70274-6", "2025-05-03T00:00:00Z", status="preliminary", valueInteger=20),
    )
    assert intake.mood is None
    assert len(notes) == 3


def test_item9_alone_positive_becomes_suicidal_ideation() -> None:
    intake, notes = mapped(obs("44260-8", valueInteger=2))
    assert intake.mood and intake.mood.suicidal_ideation is True
    assert any("suicidal ideation" in n.message for n in notes)


@pytest.mark.parametrize(
    ("code", "value", "unit", "mg_l"),
    [
        ("1988-5", 4.2, "mg/L", 4.2),
        ("1988-5", 0.42, "mg/dL", 4.2),
        ("1988-5", 1.5, "mg/dl", 15.0),
        ("30522-7", 2.1, "mg/L", 2.1),
        ("30522-7", 0.8, "ug/mL", 0.8),
    ],
)
def test_crp_units(code: str, value: float, unit: str, mg_l: float) -> None:
    intake, _ = mapped(obs(code, **qty(value, unit)))
    assert intake.labs and intake.labs.crp and intake.labs.crp.mg_l == pytest.approx(mg_l)


def test_crp_unknown_unit_is_noted_not_guessed() -> None:
    intake, notes = mapped(obs("1988-5", **qty(40, "nmol/L")))
    assert intake.labs is None
    assert any("nmol/L" in n.message and n.path.endswith("valueQuantity.code") for n in notes)


def test_hs_crp_and_crp_most_recent_across_codes() -> None:
    intake, _ = mapped(
        obs("30522-7", "2025-05-10T00:00:00Z", **qty(2.0, "mg/L")),
        obs("1988-5", "2025-04-10T00:00:00Z", **qty(3.0, "mg/dL")),
    )
    assert intake.labs and intake.labs.crp and intake.labs.crp.mg_l == pytest.approx(2.0)


def test_out_of_range_score_is_reported_at_the_fhir_element() -> None:
    with pytest.raises(IntakeError) as exc:
        mapped(obs("44261-6", valueInteger=30))
    err = exc.value.errors[0]
    assert err.path == "entry[1].resource"
    assert "Observation/" in err.message and "mood.phq9.total" in err.message


# --- QuestionnaireResponse ------------------------------------------------------------------

PHQ = [
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
]
GAD = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]
LA = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]


def qr(codes: list[str], scores: list[int], status: str = "completed") -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{codes[0]}-{status}",
        "status": status,
        "authored": "2025-05-15T09:00:00Z",
        "item": [
            {"linkId": f"/{c}", "answer": [{"valueCoding": {"system": LOINC, "code": LA[s]}}]}
            for c, s in zip(codes, scores, strict=True)
        ],
    }


def test_questionnaire_response_phq9_and_gad7_items() -> None:
    intake, _ = mapped(qr(PHQ, [1, 1, 1, 1, 1, 1, 1, 1, 0]), qr(GAD, [2, 2, 2, 2, 1, 1, 1]))
    assert intake.mood and intake.mood.phq9 and intake.mood.phq9.items == [1] * 8 + [0]
    assert intake.mood.gad7 and intake.mood.gad7.total_score == 11


def test_questionnaire_response_in_progress_is_not_used() -> None:
    intake, notes = mapped(qr(PHQ, [1] * 9, status="in-progress"))
    assert intake.mood is None and "in-progress" in notes[0].message


# --- Conditions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "code", "field"),
    [
        (ICD, "K58.0", "ibs"),
        (ICD, "K58.9", "ibs"),
        (SCT, "10743008", "ibs"),
        (ICD, "F33.1", "recurrent_depression"),
        (ICD, "F41.1", "anxiety_disorder"),
        (ICD, "K90.0", "celiac_disease"),
        (ICD, "K50.90", "inflammatory_bowel_disease"),
        (ICD, "K51.30", "inflammatory_bowel_disease"),
        (ICD, "D80.1", "immunocompromised"),
        (ICD, "D84.9", "immunocompromised"),
    ],
)
def test_condition_codes(system: str, code: str, field: str) -> None:
    intake, _ = mapped(cond(system, code))
    assert intake.conditions is not None and getattr(intake.conditions, field) is True


@pytest.mark.parametrize("code", ["Z33.1", "O26.891", "O09.90", "O9A.111"])
def test_pregnancy_codes(code: str) -> None:
    intake, _ = mapped(cond(ICD, code))
    assert intake.pregnant is True


def test_condition_statuses() -> None:
    intake, notes = mapped(
        cond(ICD, "K58.9", clinical="resolved"),
        cond(ICD, "F41.1", verification="entered-in-error"),
        cond(ICD, "K90.0", verification="refuted"),
        cond(ICD, "K50.90", verification="provisional"),
        cond(ICD, "D84.9", verification="provisional"),
        cond(ICD, "F32.A"),
    )
    assert intake.conditions is not None
    assert intake.conditions.model_dump(exclude_none=True) == {"immunocompromised": True}
    assert len(notes) == 6


# --- Medications ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "code"),
    [(RX, "36437"), (RX, "321988"), (RX, "4493"), (ATC, "N06AB06"), (ATC, "N06AB10")],
)
def test_ssri_codes(system: str, code: str) -> None:
    intake, _ = mapped(med(system, code))
    assert intake.medications and intake.medications.ssri is True


def test_ssri_request_and_completed_statement() -> None:
    intake, _ = mapped(med(RX, "36437", kind="MedicationRequest"))
    assert intake.medications and intake.medications.ssri is True
    intake, notes = mapped(med(RX, "36437", status="completed"))
    assert intake.medications is None and "not current" in notes[0].message
    intake, notes = mapped(med(RX, "36437", status="cancelled", kind="MedicationRequest"))
    assert intake.medications is None and "cancelled" in notes[0].message


def test_recent_and_old_antibiotics() -> None:
    recent = med(ATC, "J01CA04", status="completed", effectiveDateTime="2025-05-01")
    intake, _ = mapped(recent)
    assert intake.medications and intake.medications.recent_antibiotics is True
    old = med(ATC, "J01CA04", status="completed", effectiveDateTime="2024-01-01")
    intake, notes = mapped(old)
    assert intake.medications is None and "more than 90 days" in notes[0].message


def test_medication_reference_to_bundle_medication() -> None:
    m = {
        "resourceType": "Medication",
        "id": "sert",
        "code": {"coding": [{"system": RX, "code": "36437"}]},
    }
    ms = {
        "resourceType": "MedicationStatement",
        "id": "ms1",
        "status": "active",
        "medicationReference": {"reference": "Medication/sert"},
        "subject": {"reference": "Patient/p1"},
    }
    intake, _ = mapped(m, ms)
    assert intake.medications and intake.medications.ssri is True


# --- malformed FHIR -------------------------------------------------------------------------


def test_malformed_resource_raises_with_resource_and_element_path() -> None:
    bad = obs("1988-5", valueQuantity={"value": "abc", "unit": "mg/L"})
    with pytest.raises(IntakeError) as exc:
        mapped(bad)
    err = exc.value.errors[0]
    assert err.path == "entry[1].resource.valueQuantity.value"
    assert err.message.startswith("Observation/o-1988-5")


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"resourceType": "Patient"},
        {"resourceType": "Bundle", "entry": {}},
        {"resourceType": "Bundle", "entry": [{}]},
    ],
)
def test_not_a_bundle(data: Any) -> None:
    with pytest.raises(IntakeError):
        intake_from_fhir(data, as_of=AS_OF)


def test_unknown_element_is_an_error() -> None:
    with pytest.raises(IntakeError) as exc:
        intake_from_fhir(bundle(patient(gendr="female")), as_of=AS_OF)
    assert exc.value.errors[0].path == "entry[0].resource.gendr"


V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"interpretation": [{"coding": [{"system": V3, "code": "NEG"}]}]}, "negative"),
        ({"interpretation": [{"coding": [{"system": V3, "code": "H"}]}]}, "positive"),
        ({"valueCodeableConcept": {"coding": [{"system": SCT, "code": "10828004"}]}}, "positive"),
        ({"valueString": "Negative"}, "negative"),
    ],
)
def test_celiac_serology_from_ttg_iga(extra: dict[str, Any], expected: str) -> None:
    intake, _ = intake_from_fhir(bundle(patient(), obs("31017-7", **extra)), as_of=AS_OF)
    assert intake.labs is not None and intake.labs.celiac_serology == expected


def test_bare_ttg_number_is_noted_not_interpreted() -> None:
    o = obs("31017-7", **qty(3.1, "U/mL"))
    intake, notes = intake_from_fhir(bundle(patient(), o), as_of=AS_OF)
    assert intake.labs is None or intake.labs.celiac_serology is None
    assert any("assay-specific" in n.message for n in notes)


# --- v1.1: weight, calprotectin, dates, new conditions and medicine classes -----------------


def test_body_weight_is_mapped_in_kg() -> None:
    intake, _ = intake_from_fhir(load_bundle("case1"), as_of=AS_OF)
    assert intake.weight_kg == 64.2
    intake, notes = mapped(obs("29463-7", **qty(154, "[lb_av]")))
    assert intake.weight_kg == pytest.approx(69.8532)
    assert "converted to 69.8532 kg" in "\n".join(map(str, notes))


@pytest.mark.parametrize(
    ("value", "unit", "ug_g"), [(250, "ug/g", 250.0), (250, "mg/kg", 250.0), (0.3, "mg/g", 300.0)]
)
def test_faecal_calprotectin(value: float, unit: str, ug_g: float) -> None:
    intake, _ = mapped(obs("38445-3", when="2025-05-02T08:00:00Z", **qty(value, unit)))
    assert intake.labs is not None and intake.labs.fecal_calprotectin is not None
    assert intake.labs.fecal_calprotectin.value == ug_g
    assert intake.labs.fecal_calprotectin.unit == "ug/g"
    assert intake.labs.fecal_calprotectin.date == date(2025, 5, 2)


def test_faecal_calprotectin_unknown_unit_is_noted() -> None:
    intake, notes = mapped(obs("38445-3", **qty(250, "ng/mL")))
    assert intake.labs is None
    assert "cannot be converted to ug/g" in notes[0].message


def test_lab_and_score_dates_come_from_the_observation() -> None:
    intake, _ = mapped(
        obs("1988-5", when="2025-04-03T10:00:00Z", **qty(4.0, "mg/L")),
        obs("44261-6", when="2025-04-04T10:00:00Z", valueInteger=7),
    )
    assert intake.labs is not None and intake.labs.crp is not None
    assert intake.labs.crp.date == date(2025, 4, 3)
    assert intake.mood is not None and intake.mood.phq9 is not None
    assert intake.mood.phq9.date == date(2025, 4, 4)


@pytest.mark.parametrize(
    ("system", "code", "field"),
    [
        (ICD, "F31.9", "bipolar_disorder"),
        (SCT, "13746004", "bipolar_disorder"),
        (ICD, "F50.00", "eating_disorder"),
        (SCT, "72366004", "eating_disorder"),
        (ICD, "Z95.2", "prosthetic_heart_valve"),
        (ICD, "I33.0", "prosthetic_heart_valve"),
        (ICD, "K90.82", "short_bowel_syndrome"),
        (ICD, "K85.90", "acute_pancreatitis"),
    ],
)
def test_v1_1_condition_codes(system: str, code: str, field: str) -> None:
    intake, _ = mapped(cond(system, code))
    assert intake.conditions is not None and getattr(intake.conditions, field) is True


@pytest.mark.parametrize(("system", "code"), [(ICD, "Z34.00"), (SCT, "72892002")])
def test_v1_1_pregnancy_codes(system: str, code: str) -> None:
    intake, _ = mapped(cond(system, code))
    assert intake.pregnant is True


def test_a_provisional_probiotic_caution_counts_a_single_episode_code_does_not() -> None:
    intake, notes = mapped(cond(ICD, "K85.90", verification="provisional"), cond(ICD, "F32.9"))
    assert intake.conditions is not None
    assert intake.conditions.model_dump(exclude_none=True) == {"acute_pancreatitis": True}
    assert any("F32.9" in n.message for n in notes)  # noted, never "not recurrent"


@pytest.mark.parametrize(
    ("system", "code", "fields"),
    [
        (ATC, "N06AF03", {"maoi"}),  # phenelzine
        (ATC, "N04BD01", {"maoi"}),  # selegiline
        (ATC, "J01XX08", {"maoi", "recent_antibiotics"}),  # linezolid
        (ATC, "N06AX25", {"st_johns_wort"}),
        (ATC, "N02AX02", {"other_serotonergic"}),  # tramadol
        (ATC, "N05AN01", {"other_serotonergic"}),  # lithium
        (ATC, "M01AE01", {"nsaid"}),  # ibuprofen
        (ATC, "B01AC06", {"nsaid", "anticoagulant"}),  # aspirin as an antiplatelet
        (ATC, "B01AF01", {"anticoagulant"}),  # rivaroxaban
        (RX, "10689", {"other_serotonergic"}),  # tramadol
        (RX, "1191", {"nsaid", "anticoagulant"}),  # aspirin
        (RX, "11289", {"anticoagulant"}),  # warfarin
        (RX, "190376", {"maoi", "recent_antibiotics"}),  # linezolid
    ],
)
def test_v1_1_medication_classes(system: str, code: str, fields: set[str]) -> None:
    intake, _ = mapped(med(system, code))
    assert intake.medications is not None
    assert set(intake.medications.model_dump(exclude_none=True)) == fields


def test_medicine_by_name_is_noted_and_an_unknown_class_is_not_guessed() -> None:
    named = med(RX, "0", medicationCodeableConcept={"text": "Ibuprofen 400 mg tablet"})
    intake, notes = mapped(named)
    assert intake.medications is not None and intake.medications.nsaid is True
    assert "by name" in notes[0].message
    intake, notes = mapped(med(ATC, "N06AX11"))  # mirtazapine: no v1.1 class
    assert intake.medications is None
    assert "no intake field" in notes[0].message


def test_a_stopped_maoi_is_not_current() -> None:
    intake, notes = mapped(med(ATC, "N06AF03", status="stopped"))
    assert intake.medications is None
    assert "not current" in notes[0].message
