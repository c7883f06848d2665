"""Codes the FHIR mapping reads directly: LOINC (instruments, labs, answers), UCUM, systems.

Value sets (conditions) and medication classes are data: ``gbrules.io.fhir.terminology``.
docs/EHR.md lists them with the intake field each one feeds; re-check them against the
terminology's current release before shipping a new integration.
"""

from __future__ import annotations

LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"

# Our own intake questionnaire: linkIds are Intake JSON paths ("gi.bloating").
INTAKE_QUESTIONNAIRE = "https://gbrules.example.org/fhir/Questionnaire/gbrules-intake"

PHQ9_TOTAL = "44261-6"
PHQ9_ITEM9 = "44260-8"
PHQ9_PANEL = "44249-1"
GAD7_TOTAL = "70274-6"
GAD7_PANEL = "69737-5"
CRP = "1988-5"
HS_CRP = "30522-7"
FECAL_CALPROTECTIN = "38445-3"  # Calprotectin [Mass/mass] in Stool
BODY_WEIGHT = "29463-7"
# Tissue transglutaminase IgA Ab in serum (units/volume): the celiac screening test. Re-check
# against LOINC before shipping, like every code here.
TTG_IGA = "31017-7"
# v3 ObservationInterpretation and SNOMED CT qualifiers that say positive or negative. "H"/"A"
# (high/abnormal) count as positive; only an explicit negative/normal counts as negative, since
# a negative result is what allows a gluten or FODMAP restriction to be drafted.
POSITIVE_RESULTS = frozenset({"POS", "H", "HH", "A", "AA", "DET", "10828004", "positive"})
NEGATIVE_RESULTS = frozenset({"NEG", "N", "ND", "260385009", "negative"})

# PHQ-9 items 1..9 and GAD-7 items 1..7 (LOINC panels 44249-1 and 69737-5), in form order.
PHQ9_ITEMS: tuple[str, ...] = (
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
)
GAD7_ITEMS: tuple[str, ...] = (
    "69725-0",
    "68509-9",
    "69733-4",
    "69734-2",
    "69735-9",
    "69689-8",
    "69736-7",
)
# LOINC answer list LL358-3 (PHQ/GAD frequency): not at all .. nearly every day.
ANSWER_SCORES: dict[str, int] = {"LA6568-5": 0, "LA6569-3": 1, "LA6570-1": 2, "LA6571-9": 3}

# CRP units (UCUM; "l" and "L" are both litre in UCUM). Factor to mg/L.
CRP_UNITS: dict[str, float] = {
    "mg/L": 1.0,
    "mg/l": 1.0,
    "mg/dL": 10.0,
    "mg/dl": 10.0,
    "ug/mL": 1.0,
    "ug/ml": 1.0,
    "g/L": 1000.0,
    "g/l": 1000.0,
}

# Faecal calprotectin units (UCUM) to ug/g (1 ug/g = 1 mg/kg).
CALPROTECTIN_UNITS: dict[str, float] = {
    "ug/g": 1.0,
    "µg/g": 1.0,
    "mg/kg": 1.0,
    "mg/g": 1000.0,
}
# Body weight units (UCUM) to kg.
WEIGHT_UNITS: dict[str, float] = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237}

# Conditions and medications are classified by value set, not by tables here: SNOMED CT and
# ICD-10-CM value sets, ATC classes and RxNorm ingredients and products are data files read by
# gbrules.io.fhir.terminology (gbrules/io/fhir/data/*.json, each with its sources and date).

# "Recent" antibiotics: within this many days of the evaluation date.
RECENT_ANTIBIOTIC_DAYS = 90
