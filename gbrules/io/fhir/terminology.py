"""Terminology tables of the FHIR mapping, shipped as data: condition value sets (SNOMED CT and
ICD-10-CM), medication classes (ATC, RxNorm ingredients and products), the US Core sex
extensions and LOINC answer codes.

The tables are JSON files under ``gbrules/io/fhir/data/`` (shipped in the wheel), each stating
its sources and the date it was checked, so a reviewer can re-check a code against the
terminology's release without reading Python. This module only reads them and answers "which
intake field does this code feed, and why": the mapping (``gbrules.io.fhir.intake``) decides what
the resource's status, dates and verification allow.

Lookups are dictionary reads (the mapping runs for every patient of a population screen); the
tables are loaded once, on first use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from gbrules.io.fhir.codes import ATC, ICD10, ICD10CM, RXNORM, SNOMED


def _load(name: str) -> dict[str, Any]:
    text = resources.files("gbrules.io.fhir").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


# --- conditions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionConcept:
    """A Condition code recognised by a value set.

    ``field`` is the intake field it asserts (None: recognised, but no field follows; ``note``
    says why). ``provisional_counts``: an unconfirmed diagnosis still counts (a caution or an
    alarm feature, the cautious side). ``matched`` names the code for notes.
    """

    value_set: str
    label: str
    field: str | None
    note: str | None
    provisional_counts: bool
    matched: str


@dataclass(frozen=True)
class _ConditionSet:
    name: str
    label: str
    field: str | None
    note: str | None
    provisional_counts: bool
    snomed: Mapping[str, str]


@dataclass(frozen=True)
class _ConditionTables:
    snomed: dict[str, _ConditionSet]
    icd_prefixes: tuple[tuple[str, _ConditionSet], ...]  # longest prefix first
    icd_ranges: tuple[tuple[str, str, _ConditionSet], ...]  # 3-character categories, inclusive


def _flat_icd(code: str) -> str:
    return code.replace(".", "").strip().upper()


@cache
def _conditions() -> _ConditionTables:
    snomed: dict[str, _ConditionSet] = {}
    prefixes: list[tuple[str, _ConditionSet]] = []
    ranges: list[tuple[str, str, _ConditionSet]] = []
    for vs in _load("conditions.json")["value_sets"]:
        cs = _ConditionSet(
            vs["name"],
            vs["label"],
            vs["field"],
            vs.get("note"),
            bool(vs.get("provisional_counts", False)),
            vs.get("snomed", {}),
        )
        for code in cs.snomed:
            if code in snomed:
                raise ValueError(f"SNOMED CT {code} is in two condition value sets")
            snomed[code] = cs
        for pattern in vs.get("icd10cm", []):
            if "-" in pattern:
                lo, hi = (_flat_icd(p) for p in pattern.split("-"))
                ranges.append((lo, hi, cs))
            else:
                prefixes.append((_flat_icd(pattern), cs))
    prefixes.sort(key=lambda p: -len(p[0]))
    return _ConditionTables(snomed, tuple(prefixes), tuple(ranges))


def _icd_set(code: str) -> _ConditionSet | None:
    flat = _flat_icd(code)
    tables = _conditions()
    for prefix, cs in tables.icd_prefixes:
        if flat.startswith(prefix):
            return cs
    category = flat[:3]
    for lo, hi, cs in tables.icd_ranges:
        if len(category) == 3 and lo <= category <= hi:
            return cs
    return None


def classify_condition(codings: Iterable[tuple[str | None, str | None]]) -> ConditionConcept | None:
    """The first (system, code) pair that a value set recognises: ICD-10-CM (or ICD-10) by
    prefix or category range, SNOMED CT by exact code. None when no coding is recognised."""
    pairs = [(s, c) for s, c in codings if s and c]
    for system, code in pairs:
        if system in (ICD10CM, ICD10):
            cs = _icd_set(code)
            if cs is not None:
                return _concept(cs, f"ICD-10-CM {code}")
    for system, code in pairs:
        if system == SNOMED:
            cs = _conditions().snomed.get(code)
            if cs is not None:
                return _concept(cs, f"SNOMED CT {code} ({cs.snomed[code]})")
    return None


def _concept(cs: _ConditionSet, matched: str) -> ConditionConcept:
    return ConditionConcept(cs.name, cs.label, cs.field, cs.note, cs.provisional_counts, matched)


@cache
def _name_hints() -> tuple[tuple[str, str], ...]:
    """(lower-case fragment, value set label) from each value set's ``name_hints``."""
    return tuple(
        (hint.lower(), vs["label"])
        for vs in _load("conditions.json")["value_sets"]
        for hint in vs.get("name_hints", ())
    )


def suggested_value_sets(text: str) -> tuple[str, ...]:
    """Labels of the value sets whose name hints occur in ``text`` (a Condition's text and
    displays). The SNOMED CT tables are not full expansions, so a site's descendant that is not
    listed would otherwise be noted like any unrelated code; this lets the note say that its name
    suggests, say, pregnancy, so a clinician checks it. Only a warning: a name never sets a field
    (it could be negated, historical or about a relative)."""
    lowered = text.lower()
    return tuple(dict.fromkeys(label for hint, label in _name_hints() if hint in lowered))


def condition_value_sets() -> dict[str, str | None]:
    """Value set name -> the intake field it feeds (None: recognised, no field)."""
    return {vs["name"]: vs["field"] for vs in _load("conditions.json")["value_sets"]}


# --- medications ------------------------------------------------------------------------------

When = Literal["current", "recent"]


@dataclass(frozen=True)
class MedicationClass:
    """A class of medicines and the intake field it feeds: ``current`` classes count while the
    medicine is taken; ``recent`` ones (antibiotics) also when it ended recently."""

    name: str
    label: str
    field: str
    when: When


@dataclass(frozen=True)
class MedicationConcept:
    """How a medication was classified. ``classes`` may be empty (not a class gbrules reads).
    ``by_name``: recognised only by a name in its text (the mapping notes it). ``unlisted``:
    RxNorm codes that no table here holds (the mapping notes them, never drops them silently).
    """

    classes: tuple[str, ...]
    label: str
    by_name: bool
    unlisted: tuple[str, ...] = ()


@dataclass(frozen=True)
class _MedicationTables:
    classes: dict[str, MedicationClass]
    atc: tuple[tuple[str, tuple[str, ...]], ...]
    rxcui: dict[str, tuple[str, tuple[str, ...]]]  # code -> (label, classes)
    names: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...]  # (pattern, name, classes)


@cache
def _medications() -> _MedicationTables:
    data = _load("medications.json")
    classes = {
        name: MedicationClass(name, c["label"], c["field"], c["when"])
        for name, c in data["classes"].items()
    }
    atc = tuple((prefix.upper(), tuple(cls)) for prefix, cls, _ in data["atc"])
    ingredients: dict[str, tuple[str, ...]] = {}
    rxcui: dict[str, tuple[str, tuple[str, ...]]] = {}
    names: list[tuple[re.Pattern[str], str, tuple[str, ...]]] = []
    for name, row in data["ingredients"].items():
        cls = tuple(row["classes"])
        ingredients[name] = cls
        if row.get("rxcui"):
            rxcui[row["rxcui"]] = (f"RxNorm {row['rxcui']} ({name})", cls)
        if cls:
            for term in (name, *row.get("synonyms", ())):
                names.append((re.compile(rf"\b{re.escape(term.lower())}\b"), name, cls))
    for code, (product, parts) in data["products"].items():
        cls = tuple(dict.fromkeys(c for p in parts for c in ingredients[p]))
        label = f"RxNorm {code} ({product}; ingredient {' and '.join(parts)})"
        rxcui.setdefault(code, (label, cls))
    for cls_list in [c for _, c in atc] + [c for _, c in rxcui.values()]:
        unknown = set(cls_list) - set(classes)
        if unknown:
            raise ValueError(f"medication table names unknown classes {sorted(unknown)}")
    names.sort(key=lambda n: -len(n[1]))  # "penicillin G" before a shorter name it contains
    return _MedicationTables(classes, atc, rxcui, tuple(names))


def medication_classes() -> dict[str, MedicationClass]:
    return dict(_medications().classes)


def classify_medication(
    codings: Iterable[tuple[str | None, str | None]], text: str
) -> MedicationConcept:
    """Classify a medication concept: ATC first (every listed prefix that matches counts, so
    linezolid is an antibiotic and an MAO inhibitor), then RxNorm ingredient or product codes,
    then (noted by the caller) ingredient names in ``text`` (lower case)."""
    tables = _medications()
    pairs = [(s, c.strip()) for s, c in codings if s and c]
    for system, code in pairs:
        if system == ATC:
            found = [cls for prefix, cls in tables.atc if code.upper().startswith(prefix)]
            if found:
                return MedicationConcept(_unique(found), f"ATC {code}", False)
    unlisted: list[str] = []
    for system, code in pairs:
        if system == RXNORM:
            hit = tables.rxcui.get(code)
            if hit is not None:
                return MedicationConcept(hit[1], hit[0], False)
            unlisted.append(code)
    found_names = [(name, cls) for pattern, name, cls in tables.names if pattern.search(text)]
    if found_names:
        names = ", ".join(dict.fromkeys(n for n, _ in found_names))
        return MedicationConcept(_unique([c for _, c in found_names]), names, True, tuple(unlisted))
    shown = ", ".join(f"{s}|{c}" for s, c in pairs) or text or "(no code)"
    return MedicationConcept((), shown, False, tuple(unlisted))


def _unique(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c for g in groups for c in g))


# --- Patient sex ------------------------------------------------------------------------------

#: US Core's sex extensions, in the order they are read when ``Patient.gender`` is absent:
#: Individual Sex (US Core 9, valueCoding), Sex (US Core 6-8, valueCode), Birth Sex (valueCode).
SEX_EXTENSIONS: tuple[tuple[str, str], ...] = (
    (
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-individual-sex",
        "US Core Individual Sex",
    ),
    ("http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex", "US Core Sex"),
    ("http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex", "US Core Birth Sex"),
)
#: Codes of those extensions' value sets (SNOMED CT for Individual Sex and Sex, HL7 v3
#: AdministrativeGender / NullFlavor for Birth Sex) -> the intake's ``sex``.
SEX_CODES: dict[str, str] = {
    "248152002": "female",  # SNOMED CT Female (finding)
    "248153007": "male",  # SNOMED CT Male (finding)
    "32570681000036106": "other",  # SNOMED CT Indeterminate sex (finding)
    "F": "female",
    "M": "male",
    "UNK": "unknown",
    "ASKU": "unknown",
    "OTH": "other",
}


# --- LOINC answer codes -----------------------------------------------------------------------

# (The PHQ-9 / GAD-7 frequency answers, LL358-3, are ``codes.ANSWER_SCORES``.)
#: LOINC Yes / No answers (LL361-7), for yes/no questions of an intake questionnaire.
YES_NO_ANSWERS: dict[str, bool] = {"LA33-6": True, "LA32-8": False}
#: LOINC qualitative results: positive / negative (LL2009-2), detected / not detected (LL1972-2).
POSITIVE_ANSWERS = frozenset({"LA6576-8", "LA11882-0"})
NEGATIVE_ANSWERS = frozenset({"LA6577-6", "LA11883-8"})


def integer_text(value: str) -> int | None:
    """A whole number written as text (``"12"``, ``" 7 "``), else None. US Core's PHQ-9 total
    example carries ``valueString: "12"``; a score with a unit, a range or words is not read."""
    text = value.strip()
    return int(text) if re.fullmatch(r"\d{1,3}", text) else None
