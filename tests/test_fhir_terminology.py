"""Terminology of the FHIR mapping (issue 16, problem 3): value sets, medication classes by RxNorm
ingredient and product, numbers in valueString, LOINC answers, US Core sex extensions, dates from
the right element. First the tables themselves, then each gap as US Core data shows it.
"""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

import pytest

from gbrules.clinical.facts import facts_from_intake
from gbrules.io.fhir import intake_from_fhir
from gbrules.io.fhir import terminology as T
from gbrules.io.fhir.intake import intake_has_field
from tests.test_fhir_intake import (
    ATC,
    ICD,
    LA,
    LOINC,
    PHQ,
    RX,
    SCT,
    bundle,
    cond,
    mapped,
    med,
    obs,
    patient,
)

#: Intake v1.1 fields the tables already name (another branch adds them to the Intake model);
#: any other field a table names must exist in the model: a misspelt field is caught here.
V11_FIELDS = {
    "conditions.bipolar_disorder",
    "conditions.eating_disorder",
    "conditions.prosthetic_heart_valve",
    "conditions.short_bowel_syndrome",
    "conditions.acute_pancreatitis",
    "medications.maoi",
    "medications.st_johns_wort",
    "medications.other_serotonergic",
    "medications.nsaid",
    "medications.anticoagulant",
}


def data(name: str) -> dict[str, Any]:
    text = resources.files("gbrules.io.fhir").joinpath("data", name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


# --- the tables -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["conditions.json", "medications.json"])
def test_each_table_states_its_sources_and_date(name: str) -> None:
    table = data(name)
    assert table["sources"] and all(isinstance(v, str) and v for v in table["sources"].values())
    assert date.fromisoformat(table["checked"]) <= date.today()


def test_every_field_a_table_names_is_an_intake_field_or_a_known_v11_field() -> None:
    fields = [vs["field"] for vs in data("conditions.json")["value_sets"] if vs["field"]]
    fields += [c["field"] for c in data("medications.json")["classes"].values()]
    for fld in fields:
        assert intake_has_field(fld) or fld in V11_FIELDS, fld


def test_a_value_set_without_a_field_says_why() -> None:
    for vs in data("conditions.json")["value_sets"]:
        assert vs["field"] or vs["note"], vs["name"]


def test_every_listed_product_is_classified_through_a_listed_ingredient() -> None:
    meds = data("medications.json")
    for code, (name, ingredients) in meds["products"].items():
        assert ingredients and all(i in meds["ingredients"] for i in ingredients), code
        concept = T.classify_medication([(RX, code)], "")
        assert concept.classes and not concept.by_name, (code, name)


#: Combinations of classes one ingredient may have on purpose: linezolid is an antibiotic and a
#: reversible MAO inhibitor; aspirin is an NSAID and an antiplatelet. Any other ingredient in two
#: classes is a slip in the table (a product would set two intake fields).
INTENDED_MULTI_CLASS = {frozenset({"maoi", "antibiotic"}), frozenset({"nsaid", "anticoagulant"})}


def test_rxnorm_codes_are_unique_digit_strings_and_products_name_listed_ingredients() -> None:
    meds = data("medications.json")
    ingredient_codes = [r["rxcui"] for r in meds["ingredients"].values() if r["rxcui"]]
    assert len(ingredient_codes) == len(set(ingredient_codes))
    products = meds["products"]
    assert not set(products) & set(ingredient_codes)  # a code is an ingredient or a product
    for code in [*ingredient_codes, *products]:
        assert code.isdigit() and not code.startswith("0"), code
    for code, (name, parts) in products.items():
        assert parts and len(parts) == len(set(parts)), code
        assert all(p in meds["ingredients"] for p in parts), (code, parts)
        # the RxNorm name starts with (or, for a multi-ingredient drug, contains) each ingredient
        assert all(p.split()[0].lower() in name.lower() for p in parts), (code, name)


def test_no_ingredient_is_in_two_classes_unless_intended() -> None:
    for name, row in data("medications.json")["ingredients"].items():
        classes = frozenset(row["classes"])
        assert len(classes) <= 1 or classes in INTENDED_MULTI_CLASS, name


@pytest.mark.parametrize(
    ("system", "code", "field"),
    [
        (ICD, "O09.90", "pregnant"),  # supervision of high-risk pregnancy
        (ICD, "O9A.119", "pregnant"),  # the chapter's last category
        (ICD, "Z33.1", "pregnant"),
        (ICD, "Z34.90", "pregnant"),
        (ICD, "Z3A.20", "pregnant"),
        (ICD, "F33.1", "conditions.recurrent_depression"),
        (ICD, "F31.9", "conditions.bipolar_disorder"),
        (ICD, "F50.00", "conditions.eating_disorder"),
        (ICD, "K58.0", "conditions.ibs"),
        (ICD, "K90.0", "conditions.celiac_disease"),
        (ICD, "K90.82", "conditions.short_bowel_syndrome"),
        (ICD, "D83.9", "conditions.immunocompromised"),
        (ICD, "K62.5", "gi.rectal_bleeding"),
        (ICD, "R13.12", "gi.dysphagia"),
        (ICD, "D50.9", "labs.iron_deficiency_anemia"),
        (SCT, "72892002", "pregnant"),  # Normal pregnancy, a descendant of 77386006
        (SCT, "77386006", "pregnant"),
        (SCT, "66344007", "conditions.recurrent_depression"),
        (SCT, "13746004", "conditions.bipolar_disorder"),
        (SCT, "72366004", "conditions.eating_disorder"),
        (SCT, "10743008", "conditions.ibs"),
        (ICD, "R63.4", "gi.unintentional_weight_loss"),
    ],
)
def test_condition_value_sets(system: str, code: str, field: str) -> None:
    concept = T.classify_condition([(system, code)])
    assert concept is not None and concept.field == field


@pytest.mark.parametrize(
    ("system", "code"),
    [(ICD, "Z33.2"), (ICD, "Z39.2"), (ICD, "F34.1"), (ICD, "R13.0"), (SCT, "60001007")],
)
def test_codes_outside_the_value_sets_are_not_recognised(system: str, code: str) -> None:
    # elective termination, postpartum follow-up, dysthymia, aphagia, "not pregnant"
    assert T.classify_condition([(system, code)]) is None


def test_major_depressive_disorder_without_recurrence_is_recognised_but_sets_no_field() -> None:
    for system, code in ((SCT, "370143000"), (SCT, "36923009"), (ICD, "F32.9")):
        concept = T.classify_condition([(system, code)])
        assert concept is not None and concept.field is None
        assert concept.note and "not recorded" in concept.note


@pytest.mark.parametrize(
    ("codings", "classes"),
    [
        ([(RX, "312938")], ("ssri",)),  # sertraline 100 MG Oral Tablet, a product (SCD)
        ([(RX, "562508")], ("antibiotic",)),  # amoxicillin 875 MG / clavulanate 125 MG tablet
        ([(RX, "243670")], ("nsaid", "anticoagulant")),  # aspirin 81 MG Oral Tablet
        ([(RX, "36437")], ("ssri",)),  # sertraline (the ingredient)
        ([(RX, "723")], ("antibiotic",)),  # amoxicillin (the ingredient)
        ([(RX, "197807")], ("nsaid",)),  # ibuprofen 800 MG Oral Tablet: an NSAID, not antiplatelet
        ([(RX, "849574")], ("nsaid",)),  # naproxen sodium 220 MG Oral Tablet
        ([(RX, "835603")], ("other_serotonergic",)),  # tramadol hydrochloride 50 MG Oral Tablet
        ([(RX, "311347")], ("maoi", "antibiotic")),  # linezolid 600 MG Oral Tablet
        ([(RX, "613391")], ("anticoagulant",)),  # prasugrel (the ingredient, an antiplatelet)
        ([(RX, "21107")], ("anticoagulant",)),  # cilostazol (the ingredient)
        ([(ATC, "J01CR02")], ("antibiotic",)),  # amoxicillin / clavulanate
        ([(ATC, "B01AA03")], ("anticoagulant",)),  # warfarin
        ([(ATC, "B01AC04")], ("anticoagulant",)),  # clopidogrel (an antiplatelet)
        ([(ATC, "J01XX08")], ("maoi", "antibiotic")),  # linezolid
        ([(ATC, "N06AB06")], ("ssri",)),
        ([(ATC, "A07FC01")], ("probiotic",)),
    ],
)
def test_medication_classes(codings: list[tuple[str, str]], classes: tuple[str, ...]) -> None:
    concept = T.classify_medication(codings, "")
    assert set(concept.classes) == set(classes) and not concept.by_name


def test_an_unlisted_product_is_reported_and_a_name_is_only_a_fallback() -> None:
    unknown = T.classify_medication([(RX, "99999901")], "")
    assert unknown.classes == () and unknown.unlisted == ("99999901",)
    by_name = T.classify_medication([(RX, "99999901")], "sertraline 50 mg tablet")
    assert by_name.classes == ("ssri",) and by_name.by_name and by_name.unlisted == ("99999901",)


@pytest.mark.parametrize(("text", "value"), [("12", 12), (" 7 ", 7), ("0", 0)])
def test_whole_numbers_in_text(text: str, value: int) -> None:
    assert T.integer_text(text) == value


@pytest.mark.parametrize("text", ["12.5", "twelve", "12 points", "", "-3", "1e2"])
def test_other_text_is_not_a_number(text: str) -> None:
    assert T.integer_text(text) is None


# --- US Core data through the mapping ---------------------------------------------------------

SURVEY = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}
    ]
}


def test_phq9_total_as_value_string_is_read_and_noted() -> None:
    """US Core's PHQ-9 total example carries valueString "12": it used to be lost."""
    total = obs("44261-6", category=[SURVEY], valueString="12")
    intake, notes = mapped(total)
    assert intake.mood is not None and intake.mood.phq9 is not None
    assert intake.mood.phq9.total == 12
    assert any("valueString '12' as 12" in n.message for n in notes)


def test_a_text_score_that_is_not_a_number_is_noted_not_guessed() -> None:
    intake, notes = mapped(obs("44261-6", valueString="moderate"))
    assert intake.mood is None
    assert any("not a whole number" in n.message for n in notes)


def test_us_core_phq9_item_observations_with_loinc_answers_give_the_items() -> None:
    scores = (2, 2, 2, 2, 1, 1, 2, 0, 0)
    items = [
        obs(
            code,
            category=[SURVEY],
            valueCodeableConcept={"coding": [{"system": LOINC, "code": LA[s]}]},
        )
        for code, s in zip(PHQ, scores, strict=True)
    ]
    total = obs("44261-6", category=[SURVEY], valueString="12")
    intake, _ = mapped(*items, total)
    assert intake.mood is not None and intake.mood.phq9 is not None
    assert intake.mood.phq9.items == list(scores)
    assert intake.mood.phq9.item9_score == 0


def test_us_core_phq9_questionnaire_response_gives_the_items() -> None:
    scores = (3, 2, 2, 2, 1, 1, 2, 0, 1)
    qr = {
        "resourceType": "QuestionnaireResponse",
        "id": "phq-9",
        "questionnaire": "http://hl7.org/fhir/us/core/Questionnaire/phq-9-example",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "authored": "2025-05-20T10:00:00Z",
        "item": [
            {
                "linkId": f"/{code}",
                "answer": [{"valueCoding": {"system": LOINC, "code": LA[s]}}],
            }
            for code, s in zip(PHQ, scores, strict=True)
        ],
    }
    intake, _ = mapped(qr)
    assert intake.mood is not None and intake.mood.phq9 is not None
    assert intake.mood.phq9.items == list(scores)
    assert intake.mood.phq9.item9_score == 1


def test_observation_answer_with_an_ordinal_value_extension_is_a_score() -> None:
    answer = {
        "coding": [
            {
                "system": "http://example.org/answers",
                "code": "several-days",
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                        "valueDecimal": 1,
                    }
                ],
            }
        ]
    }
    total = obs("44261-6", valueInteger=9)
    item9 = obs("44260-8", valueCodeableConcept=answer)
    intake, _ = mapped(total, item9)
    assert intake.mood is not None and intake.mood.phq9 is not None
    assert intake.mood.phq9.item9 == 1


US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"


@pytest.mark.parametrize(
    ("extension", "sex"),
    [
        (
            {
                "url": f"{US_CORE}/us-core-individual-sex",
                "valueCoding": {"system": SCT, "code": "248152002"},
            },
            "female",
        ),
        ({"url": f"{US_CORE}/us-core-sex", "valueCode": "248153007"}, "male"),
        ({"url": f"{US_CORE}/us-core-birthsex", "valueCode": "F"}, "female"),
        ({"url": f"{US_CORE}/us-core-birthsex", "valueCode": "UNK"}, "unknown"),
    ],
)
def test_sex_from_us_core_extensions_without_gender_is_read_and_noted(
    extension: dict[str, Any], sex: str
) -> None:
    intake, notes = intake_from_fhir(bundle(patient(extension=[extension])), as_of=date(2025, 6, 1))
    assert intake.sex == sex
    note = next(n for n in notes if "no gender" in n.message)
    assert note.path == "entry[0].resource.extension[0]"


def test_gender_wins_over_the_extensions() -> None:
    ext = {"url": f"{US_CORE}/us-core-birthsex", "valueCode": "M"}
    intake, notes = intake_from_fhir(
        bundle(patient(gender="female", extension=[ext])), as_of=date(2025, 6, 1)
    )
    assert intake.sex == "female"
    assert not any("no gender" in n.message for n in notes)


def test_active_normal_pregnancy_by_snomed_descendant_sets_pregnant() -> None:
    intake, _ = mapped(cond(SCT, "72892002"))
    assert intake.pregnant is True


def test_major_depressive_disorder_is_noted_and_recurrence_stays_not_recorded() -> None:
    intake, notes = mapped(cond(SCT, "370143000"))
    assert intake.conditions is None or intake.conditions.recurrent_depression is None
    assert any("370143000" in n.message and "not recorded" in n.message for n in notes)


@pytest.mark.parametrize(
    ("code", "section", "field"),
    [
        ("K62.5", "gi", "rectal_bleeding"),
        ("R63.4", "gi", "unintentional_weight_loss"),
        ("D50.9", "labs", "iron_deficiency_anemia"),
    ],
)
def test_alarm_features_from_active_problem_list_codes(code: str, section: str, field: str) -> None:
    intake, _ = mapped(cond(ICD, code))
    assert getattr(getattr(intake, section), field) is True


def test_a_resolved_alarm_feature_is_noted_not_used() -> None:
    intake, notes = mapped(cond(ICD, "K62.5", clinical="resolved"))
    assert intake.gi is None
    assert any("resolved" in n.message for n in notes)


def test_a_v11_field_is_mapped_when_the_intake_has_it_and_noted_otherwise() -> None:
    intake, notes = mapped(cond(ICD, "F31.9"))
    if intake_has_field("conditions.bipolar_disorder"):
        assert getattr(intake.conditions, "bipolar_disorder", None) is True
    else:
        assert any("no field conditions.bipolar_disorder" in n.message for n in notes)


def test_an_unlisted_rxnorm_product_is_read_by_the_ingredient_its_text_names_with_a_note() -> None:
    concept = {
        "coding": [{"system": RX, "code": "99999902"}],
        "text": "sertraline 150 MG Oral Capsule",
    }
    m = med(RX, "99999902", kind="MedicationRequest", authoredOn="2025-05-01")
    m["medicationCodeableConcept"] = concept
    intake, notes = mapped(m)
    assert intake.medications is not None and intake.medications.ssri is True
    assert any("name" in n.message for n in notes)


def test_an_unlisted_product_code_is_a_note_never_a_silent_drop() -> None:
    m = med(RX, "99999901", kind="MedicationRequest", authoredOn="2025-05-01")
    intake, notes = mapped(m)
    assert intake.medications is None
    note = next(n for n in notes if n.reference == "MedicationRequest/m-99999901-active")
    assert "99999901" in note.message and "product table" in note.message


def test_an_old_prescription_is_said_to_be_prescribed_not_ended() -> None:
    m = med(ATC, "J01CA04", status="completed", kind="MedicationRequest", authoredOn="2024-11-02")
    intake, notes = mapped(m)
    assert intake.medications is None
    note = next(n for n in notes if "J01CA04" in n.message)
    assert "prescribed 2024-11-02 (authoredOn)" in note.message and "ended" not in note.message


def test_a_prescription_valid_until_recently_counts_as_recent() -> None:
    m = med(
        ATC,
        "J01CA04",
        status="completed",
        kind="MedicationRequest",
        authoredOn="2024-11-02",
        dispenseRequest={"validityPeriod": {"start": "2024-11-02", "end": "2025-04-30"}},
    )
    intake, _ = mapped(m)
    assert intake.medications is not None and intake.medications.recent_antibiotics is True


def test_a_statement_that_ended_long_ago_says_ended() -> None:
    m = med(ATC, "J01CA04", status="completed", effectivePeriod={"end": "2024-10-01"})
    _, notes = mapped(m)
    assert any("ended 2024-10-01 (effectivePeriod.end)" in n.message for n in notes)


def test_loinc_answer_codes_in_the_intake_form_and_for_coeliac_serology() -> None:
    form = {
        "resourceType": "QuestionnaireResponse",
        "id": "intake",
        "questionnaire": "https://gbrules.example.org/fhir/Questionnaire/gbrules-intake",
        "status": "completed",
        "authored": "2025-05-20",
        "item": [
            {
                "linkId": "gi.bloating",
                "answer": [{"valueCoding": {"system": LOINC, "code": "LA33-6"}}],
            },
            {
                "linkId": "gi.rectal_bleeding",
                "answer": [{"valueCoding": {"system": LOINC, "code": "LA32-8"}}],
            },
        ],
    }
    ttg = obs("31017-7", valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA6577-6"}]})
    intake, _ = mapped(form, ttg)
    assert intake.gi is not None
    assert intake.gi.bloating is True and intake.gi.rectal_bleeding is False
    assert intake.labs is not None and intake.labs.celiac_serology == "negative"


def test_choice_elements_given_twice_are_malformed() -> None:
    from gbrules.core.errors import IntakeError

    with pytest.raises(IntakeError) as exc:
        mapped(obs("1988-5", valueString="4", valueInteger=4))
    assert "value[x] given more than once" in exc.value.errors[0].message


# --- RxNorm products and SNOMED CT descendants, coded only (no text, no ATC) ----------------------


def only_code(kind: str, system: str, code: str, **kw: Any) -> dict[str, Any]:
    res = med(system, code, kind=kind, **kw)
    assert set(res["medicationCodeableConcept"]) == {"coding"}  # no text, no display
    return res


@pytest.mark.parametrize(
    ("code", "fields"),
    [
        ("312941", {"ssri"}),  # sertraline 50 MG Oral Tablet
        ("349332", {"ssri"}),  # escitalopram 10 MG Oral Tablet
        ("310385", {"ssri"}),  # fluoxetine 20 MG Oral Capsule
        ("312347", {"maoi"}),  # phenelzine 15 MG Oral Tablet
        ("313585", {"other_serotonergic"}),  # venlafaxine 75 MG extended-release capsule
        ("856377", {"other_serotonergic"}),  # trazodone 50 MG Oral Tablet
        ("855332", {"anticoagulant"}),  # warfarin sodium 5 MG Oral Tablet
        ("1364445", {"anticoagulant"}),  # apixaban 5 MG Oral Tablet
        ("309362", {"anticoagulant"}),  # clopidogrel 75 MG Oral Tablet (an antiplatelet)
        ("243670", {"nsaid", "anticoagulant"}),  # aspirin 81 MG: an NSAID and an antiplatelet
        ("212033", {"nsaid", "anticoagulant"}),  # aspirin 325 MG Oral Tablet, the same two
        ("311347", {"maoi", "recent_antibiotics"}),  # linezolid 600 MG: an MAOI and an antibiotic
        ("308191", {"recent_antibiotics"}),  # amoxicillin 500 MG Oral Capsule, taken now
    ],
)
def test_an_active_request_coded_only_with_a_product_code_sets_its_class(
    code: str, fields: set[str]
) -> None:
    intake, notes = mapped(only_code("MedicationRequest", RX, code, authoredOn="2025-05-20"))
    assert intake.medications is not None
    assert set(intake.medications.model_dump(exclude_none=True)) == fields
    assert not any("by name" in n.message or "product table" in n.message for n in notes)


@pytest.mark.parametrize(
    ("code", "authored", "recent"),
    [
        ("308191", "2025-05-01", True),  # amoxicillin 500 MG capsule, a month before as_of
        ("562508", "2025-04-10", True),  # amoxicillin / clavulanate 875/125, within 90 days
        ("198335", "2024-11-02", False),  # co-trimoxazole 800/160, seven months before
        ("1649988", "2024-12-01", False),  # doxycycline hyclate 100 MG, six months before
    ],
)
def test_a_completed_antibiotic_product_counts_only_when_recent(
    code: str, authored: str, recent: bool
) -> None:
    m = only_code("MedicationRequest", RX, code, status="completed", authoredOn=authored)
    intake, notes = mapped(m)
    if recent:
        assert intake.medications is not None and intake.medications.recent_antibiotics is True
    else:
        assert intake.medications is None
        assert any("more than 90 days" in n.message for n in notes)


@pytest.mark.parametrize(
    "nsaid_code",
    [
        "310965",  # ibuprofen 200 MG Oral Tablet
        "197806",  # ibuprofen 600 MG Oral Tablet
        "197807",  # ibuprofen 800 MG Oral Tablet
        "198014",  # naproxen 500 MG Oral Tablet
        "849574",  # naproxen sodium 220 MG Oral Tablet
    ],
)
def test_an_ssri_with_an_nsaid_product_is_a_bleeding_risk(nsaid_code: str) -> None:
    # Each request carries only its SCD code (no text): the classes come from the product table.
    intake, notes = mapped(
        only_code("MedicationRequest", RX, "312941", authoredOn="2025-05-20"),  # sertraline 50 MG
        only_code("MedicationRequest", RX, nsaid_code, authoredOn="2025-05-20"),
    )
    assert intake.medications is not None
    assert intake.medications.ssri is True and intake.medications.nsaid is True
    # An NSAID is not an anticoagulant or antiplatelet (unlike aspirin), nor serotonergic.
    assert intake.medications.anticoagulant is None
    assert intake.medications.other_serotonergic is None
    assert not any("by name" in n.message or "product table" in n.message for n in notes)
    facts = facts_from_intake(intake)
    assert facts["ssri_with_bleeding_risk"] is True


def test_an_ssri_with_a_tramadol_product_is_a_serotonergic_combination() -> None:
    intake, _ = mapped(
        only_code("MedicationRequest", RX, "312941", authoredOn="2025-05-20"),  # sertraline 50 MG
        only_code("MedicationRequest", RX, "835603", authoredOn="2025-05-20"),  # tramadol 50 MG
    )
    assert intake.medications is not None
    assert intake.medications.ssri is True and intake.medications.other_serotonergic is True
    assert intake.medications.nsaid is None
    assert facts_from_intake(intake)["ssri_with_serotonergic"] is True


def test_a_stopped_ssri_product_is_not_current() -> None:
    intake, notes = mapped(only_code("MedicationStatement", RX, "312941", status="stopped"))
    assert intake.medications is None
    assert any("not current" in n.message for n in notes)


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("65147003", "pregnant"),  # Twin pregnancy
        ("47200007", "pregnant"),  # High risk pregnancy
        ("56882008", "conditions.eating_disorder"),  # Anorexia nervosa
        ("78004001", "conditions.eating_disorder"),  # Bulimia nervosa
        ("439960005", "conditions.eating_disorder"),  # Binge eating disorder
        ("371596008", "conditions.bipolar_disorder"),  # Bipolar I disorder
        ("83225003", "conditions.bipolar_disorder"),  # Bipolar II disorder
        ("18818009", "conditions.recurrent_depression"),  # Moderate recurrent major depression
    ],
)
def test_an_active_condition_coded_only_with_a_snomed_descendant_sets_its_field(
    code: str, field: str
) -> None:
    intake, _ = mapped(cond(SCT, code))
    section, _, name = field.rpartition(".")
    value = getattr(getattr(intake, section), name) if section else getattr(intake, name)
    assert value is True


def test_a_single_episode_of_major_depression_leaves_recurrence_not_recorded() -> None:
    # Severe major depression, single episode, without psychotic features: one episode on
    # record does not show there was no earlier one, so the field stays not recorded
    intake, notes = mapped(cond(SCT, "76441001"))
    assert intake.conditions is None or intake.conditions.recurrent_depression is None
    assert any("76441001" in n.message and "not recorded" in n.message for n in notes)


def test_a_resolved_snomed_pregnancy_descendant_is_not_used() -> None:
    intake, notes = mapped(cond(SCT, "65147003", clinical="resolved"))
    assert intake.pregnant is None
    assert any("resolved" in n.message for n in notes)


def unlisted_condition(code: str, display: str) -> dict[str, Any]:
    c = cond(SCT, code)
    c["code"] = {"coding": [{"system": SCT, "code": code, "display": display}]}
    return c


def test_an_unlisted_snomed_code_whose_name_suggests_a_value_set_is_a_warning_note() -> None:
    intake, notes = mapped(unlisted_condition("99999903", "Triplet pregnancy"))
    assert intake.pregnant is None  # a name never sets a field
    note = next(n for n in notes if "99999903" in n.message)
    assert "not in gbrules' value sets" in note.message
    assert "suggests pregnancy" in note.message


def test_an_unlisted_snomed_code_with_an_unrelated_name_is_still_noted() -> None:
    _, notes = mapped(unlisted_condition("99999904", "Fracture of wrist"))
    note = next(n for n in notes if "99999904" in n.message)
    assert "not in gbrules' value sets; not mapped" in note.message
    assert "suggests" not in note.message


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("avoidant restrictive food intake disorder", ("eating disorder",)),
        ("irritable bowel syndrome with constipation", ("irritable bowel syndrome",)),
        ("bipolar affective disorder, currently manic", ("bipolar disorder",)),
        ("fracture of wrist", ()),
    ],
)
def test_name_hints(text: str, labels: tuple[str, ...]) -> None:
    assert T.suggested_value_sets(text) == labels
