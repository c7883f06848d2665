"""Terminology the FHIR mapping recognises: LOINC, ICD-10-CM, SNOMED CT, ATC, RxNorm, UCUM.

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

# Condition -> intake field. ICD-10-CM by prefix (dots ignored), SNOMED CT by exact code.
ICD_PREFIXES: tuple[tuple[str, str], ...] = (
    ("K58", "conditions.ibs"),
    ("F33", "conditions.recurrent_depression"),
    ("F411", "conditions.anxiety_disorder"),
    ("K900", "conditions.celiac_disease"),
    ("K50", "conditions.inflammatory_bowel_disease"),
    ("K51", "conditions.inflammatory_bowel_disease"),
    ("D80", "conditions.immunocompromised"),
    ("D81", "conditions.immunocompromised"),
    ("D82", "conditions.immunocompromised"),
    ("D83", "conditions.immunocompromised"),
    ("D84", "conditions.immunocompromised"),
    ("Z331", "pregnant"),
    ("Z34", "pregnant"),  # supervision of normal pregnancy
    ("O", "pregnant"),  # O00-O9A: the whole chapter is pregnancy, childbirth and puerperium
    ("F31", "conditions.bipolar_disorder"),
    ("F50", "conditions.eating_disorder"),
    ("Z952", "conditions.prosthetic_heart_valve"),  # presence of prosthetic heart valve
    ("I33", "conditions.prosthetic_heart_valve"),  # (infective) endocarditis
    ("K9082", "conditions.short_bowel_syndrome"),
    ("K85", "conditions.acute_pancreatitis"),
)
SNOMED_CONDITIONS: dict[str, str] = {
    "10743008": "conditions.ibs",
    "66344007": "conditions.recurrent_depression",
    "21897009": "conditions.anxiety_disorder",
    "396331005": "conditions.celiac_disease",
    "24526004": "conditions.inflammatory_bowel_disease",
    "34000006": "conditions.inflammatory_bowel_disease",
    "64766004": "conditions.inflammatory_bowel_disease",
    "234532001": "conditions.immunocompromised",
    "77386006": "pregnant",
    "72892002": "pregnant",  # normal pregnancy
    "13746004": "conditions.bipolar_disorder",
    "72366004": "conditions.eating_disorder",
}
# Not mapped on purpose: a single-episode depression code (ICD-10-CM F32.x, SNOMED 36923009)
# cannot show that there was no earlier episode, so it never sets recurrent_depression false.

# Fields where a provisional/unconfirmed diagnosis still counts (cautions, the cautious side).
CAUTION_FIELDS = frozenset(
    {
        "conditions.immunocompromised",
        "conditions.prosthetic_heart_valve",
        "conditions.short_bowel_syndrome",
        "conditions.acute_pancreatitis",
        "conditions.bipolar_disorder",
        "conditions.eating_disorder",
        "pregnant",
    }
)

# Medications. ATC by prefix (every matching class counts: linezolid is an antibiotic and an
# MAOI, aspirin an NSAID and an antiplatelet); RxNorm ingredient RXCUIs; names as a last resort
# (noted). WHO ATC index, checked 2025; re-check before shipping an integration.
ATC_CLASSES: tuple[tuple[str, str], ...] = (
    ("N06AB", "ssri"),
    ("J01XX08", "maoi"),  # linezolid
    ("J01", "antibiotic"),
    ("A07FC", "probiotic"),
    ("N06AF", "maoi"),  # non-selective MAOIs (phenelzine, tranylcypromine, isocarboxazid)
    ("N06AG", "maoi"),  # MAO-A inhibitors (moclobemide)
    ("N04BD", "maoi"),  # MAO-B inhibitors (selegiline, rasagiline, safinamide)
    ("N06AX25", "st_johns_wort"),  # Hyperici herba
    ("N06AX16", "other_serotonergic"),  # venlafaxine
    ("N06AX21", "other_serotonergic"),  # duloxetine
    ("N06AX23", "other_serotonergic"),  # desvenlafaxine
    ("N06AA", "other_serotonergic"),  # tricyclic antidepressants
    ("N02AX02", "other_serotonergic"),  # tramadol
    ("N02CC", "other_serotonergic"),  # triptans
    ("N05AN01", "other_serotonergic"),  # lithium
    ("M01AB", "nsaid"),  # acetic acid derivatives (diclofenac, indometacin)
    ("M01AC", "nsaid"),  # oxicams
    ("M01AE", "nsaid"),  # propionic acid derivatives (ibuprofen, naproxen)
    ("M01AG", "nsaid"),  # fenamates
    ("M01AH", "nsaid"),  # coxibs
    ("N02BA01", "nsaid"),  # aspirin (analgesic)
    ("B01AC06", "nsaid"),  # aspirin (antiplatelet), also an antiplatelet below
    ("B01A", "anticoagulant"),  # antithrombotic agents: anticoagulants and antiplatelets
)
RXNORM_INGREDIENTS: dict[str, str] = {
    "4493": "ssri",  # fluoxetine
    "36437": "ssri",  # sertraline
    "2556": "ssri",  # citalopram
    "321988": "ssri",  # escitalopram
    "32937": "ssri",  # paroxetine
    "42355": "ssri",  # fluvoxamine
    "723": "antibiotic",  # amoxicillin
    "18631": "antibiotic",  # azithromycin
    "2551": "antibiotic",  # ciprofloxacin
    "3640": "antibiotic",  # doxycycline
    "2231": "antibiotic",  # cephalexin
    "21212": "antibiotic",  # clarithromycin
    "82122": "antibiotic",  # levofloxacin
    "7454": "antibiotic",  # nitrofurantoin
    "2582": "antibiotic",  # clindamycin
    "8123": "maoi",  # phenelzine
    "10734": "maoi",  # tranylcypromine
    "9639": "maoi",  # selegiline
    "190376": "maoi",  # linezolid (also an antibiotic; see MEDICATION_NAMES)
    "10689": "other_serotonergic",  # tramadol
    "37418": "other_serotonergic",  # sumatriptan
    "39786": "other_serotonergic",  # venlafaxine
    "72625": "other_serotonergic",  # duloxetine
    "704": "other_serotonergic",  # amitriptyline
    "1191": "nsaid",  # aspirin
    "5640": "nsaid",  # ibuprofen
    "7258": "nsaid",  # naproxen
    "3355": "nsaid",  # diclofenac
    "11289": "anticoagulant",  # warfarin
    "1364430": "anticoagulant",  # apixaban
    "1114195": "anticoagulant",  # rivaroxaban
    "32968": "anticoagulant",  # clopidogrel
}
MEDICATION_NAMES: dict[str, str] = {
    "fluoxetine": "ssri",
    "sertraline": "ssri",
    "escitalopram": "ssri",
    "citalopram": "ssri",
    "paroxetine": "ssri",
    "fluvoxamine": "ssri",
    "amoxicillin": "antibiotic",
    "azithromycin": "antibiotic",
    "ciprofloxacin": "antibiotic",
    "doxycycline": "antibiotic",
    "cephalexin": "antibiotic",
    "clarithromycin": "antibiotic",
    "levofloxacin": "antibiotic",
    "nitrofurantoin": "antibiotic",
    "clindamycin": "antibiotic",
    "phenelzine": "maoi",
    "tranylcypromine": "maoi",
    "isocarboxazid": "maoi",
    "moclobemide": "maoi",
    "selegiline": "maoi",
    "rasagiline": "maoi",
    "linezolid": "maoi",
    "st john's wort": "st_johns_wort",
    "st. john's wort": "st_johns_wort",
    "hypericum": "st_johns_wort",
    "tramadol": "other_serotonergic",
    "sumatriptan": "other_serotonergic",
    "rizatriptan": "other_serotonergic",
    "zolmitriptan": "other_serotonergic",
    "lithium": "other_serotonergic",
    "venlafaxine": "other_serotonergic",
    "duloxetine": "other_serotonergic",
    "amitriptyline": "other_serotonergic",
    "nortriptyline": "other_serotonergic",
    "aspirin": "nsaid",
    "ibuprofen": "nsaid",
    "naproxen": "nsaid",
    "diclofenac": "nsaid",
    "celecoxib": "nsaid",
    "warfarin": "anticoagulant",
    "apixaban": "anticoagulant",
    "rivaroxaban": "anticoagulant",
    "edoxaban": "anticoagulant",
    "dabigatran": "anticoagulant",
    "clopidogrel": "anticoagulant",
    "heparin": "anticoagulant",
}
# Ingredients with a second class that their code alone does not give.
ALSO: dict[str, tuple[str, ...]] = {
    "190376": ("antibiotic",),  # linezolid
    "linezolid": ("antibiotic",),
    "1191": ("anticoagulant",),  # aspirin is an antiplatelet too
    "aspirin": ("anticoagulant",),
}
# Medication class -> intake field, for the classes recorded only while current.
CURRENT_CLASS_FIELDS: dict[str, str] = {
    "ssri": "medications.ssri",
    "probiotic": "medications.probiotic",
    "maoi": "medications.maoi",
    "st_johns_wort": "medications.st_johns_wort",
    "other_serotonergic": "medications.other_serotonergic",
    "nsaid": "medications.nsaid",
    "anticoagulant": "medications.anticoagulant",
}
# "Recent" antibiotics: within this many days of the evaluation date.
RECENT_ANTIBIOTIC_DAYS = 90
