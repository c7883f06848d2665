"""The FHIR R4 elements the mapping reads, as small pydantic models: strict where gbrules reads a
value, and fast enough for a CDS Hooks answer and for population screens.

Why not the full fhir.resources models: validating every element of every resource cost 20 to 60
times the evaluation itself (about 0.1 ms a resource), almost all of it in elements gbrules never
reads. Here:

- every element gbrules reads is validated by type (a decimal must be a JSON number, a boolean a
  JSON boolean, a date a FHIR date), nested datatypes included, so a malformed value is an error
  at its element path (``valueQuantity.value``), never a silently dropped finding;
- every element *name* of a read resource, and of the datatypes read inside it, is checked
  against FHIR R4 (the element lists come from fhir.resources' R4B models, so they are the
  specification's): a misspelt element (``gendr``) is an error, because it would otherwise drop
  clinical data without a word;
- a choice element (``value[x]``, ``effective[x]``, ...) may be given one way only;
- the content of elements gbrules does not read (a name, an address, a reference range) is not
  validated: it cannot change the draft.

The models keep FHIR's JSON names as attribute names, so the mapping reads ``o.valueQuantity``
exactly as it would read a fhir.resources model. Needs the ``fhir`` extra (for the element
lists).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

# --- primitive types --------------------------------------------------------------------------

_PARTIAL = re.compile(r"\d{4}(-(0[1-9]|1[0-2]))?")
_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")


def _fhir_datetime(value: Any) -> datetime | date | str:
    """A FHIR date, dateTime or instant: a datetime (with its zone), a date, or a partial date
    ('2024', '2024-05') kept as text. A time without a zone is refused, as FHIR requires one."""
    if not isinstance(value, str):
        raise ValueError("a FHIR date/dateTime must be a JSON string")
    if _PARTIAL.fullmatch(value):
        return value
    if _DATE.fullmatch(value):
        return date.fromisoformat(value)
    if "T" in value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        if parsed is not None:
            raise ValueError(f"{value!r}: a dateTime with a time must have a time zone")
    raise ValueError(f"{value!r} is not a FHIR date or dateTime")


#: A FHIR decimal: a finite JSON number (an integer is read as a float).
Decimal = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Integer = StrictInt
String = StrictStr
Boolean = StrictBool
DateTime = Annotated[datetime | date | str, BeforeValidator(_fhir_datetime)]


# --- element names --------------------------------------------------------------------------


@cache
def element_names(fhir_class: str) -> frozenset[str]:
    """The R4 element names of a fhir.resources R4B class (``"observation.ObservationComponent"``
    or a resource type), without the ``_x`` primitive-extension twins."""
    if "." in fhir_class:
        import importlib

        module, name = fhir_class.rsplit(".", 1)
        cls = getattr(importlib.import_module(f"fhir.resources.R4B.{module}"), name)
    else:
        from fhir.resources.R4B import get_fhir_model_class

        cls = get_fhir_model_class(fhir_class)
    names = {(f.alias or n) for n, f in cls.model_fields.items()}
    return frozenset(n for n in names if not n.startswith("_")) - {"fhir_comments"}


#: The error type of a misspelt or foreign element name (its ``ctx["keys"]`` lists them).
UNKNOWN_ELEMENT = "fhir_unknown_element"

#: Choice elements the mapping reads: at most one form of each may be given.
_CHOICES = ("value", "effective", "onset", "medication", "deceased", "multipleBirth")


_ALLOWED: dict[str, tuple[frozenset[str], dict[str, str]]] = {}


def _allowed(fhir_class: str) -> tuple[frozenset[str], dict[str, str]]:
    """Every key a JSON object of this type may have, and the choice group of each choice key
    (computed once per type)."""
    names = element_names(fhir_class)
    keys = names | {f"_{n}" for n in names} | {"resourceType", "fhir_comments"}
    choice = {
        n: c
        for n in names
        for c in _CHOICES
        if n.startswith(c) and n[len(c) : len(c) + 1].isupper()
    }
    _ALLOWED[fhir_class] = (frozenset(keys), choice)
    return _ALLOWED[fhir_class]


def _check(data: Any, fhir_class: str) -> Any:
    if type(data) is not dict and not isinstance(data, Mapping):
        return data  # pydantic says "must be an object"
    keys, choice = _ALLOWED.get(fhir_class) or _allowed(fhir_class)
    if not keys.issuperset(data):
        bad = [k for k in data if k not in keys]
        raise PydanticCustomError(
            UNKNOWN_ELEMENT,
            "unknown element(s) {names} (not in FHIR R4)",
            {"keys": bad, "names": ", ".join(bad)},
        )
    if choice:
        given = [choice[k] for k in data if k in choice]
        if len(given) > 1 and len(given) != len(set(given)):
            dup = next(g for g in given if given.count(g) > 1)
            forms = ", ".join(k for k in data if choice.get(k) == dup)
            raise ValueError(f"{dup}[x] given more than once ({forms})")
    return data


class _Element(BaseModel):
    """A FHIR element: the elements gbrules reads are fields; every name is checked."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    fhir_class: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        return _check(data, cls.fhir_class)


# --- datatypes --------------------------------------------------------------------------------


class Extension(_Element):
    fhir_class = "extension.Extension"
    url: String
    valueCode: String | None = None
    valueCoding: Coding | None = None
    valueDecimal: Decimal | None = None
    valueString: String | None = None


class Coding(_Element):
    fhir_class = "coding.Coding"
    system: String | None = None
    code: String | None = None
    display: String | None = None
    extension: list[Extension] | None = None


class CodeableConcept(_Element):
    fhir_class = "codeableconcept.CodeableConcept"
    coding: list[Coding] | None = None
    text: String | None = None


class Quantity(_Element):
    fhir_class = "quantity.Quantity"
    value: Decimal | None = None
    comparator: String | None = None
    unit: String | None = None
    system: String | None = None
    code: String | None = None


class Period(_Element):
    fhir_class = "period.Period"
    start: DateTime | None = None
    end: DateTime | None = None


class Reference(_Element):
    fhir_class = "reference.Reference"
    reference: String | None = None
    display: String | None = None


# --- resources --------------------------------------------------------------------------------


class Resource(_Element):
    """A resource the mapping reads. ``get_resource_type`` as in fhir.resources."""

    resource_type: ClassVar[str]
    id: String | None = None

    def get_resource_type(self) -> str:
        return self.resource_type

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        return _check(data, cls.resource_type)


class Patient(Resource):
    resource_type = "Patient"
    birthDate: DateTime | None = None
    gender: String | None = None
    extension: list[Extension] | None = None


class ObservationComponent(_Element):
    fhir_class = "observation.ObservationComponent"
    code: CodeableConcept
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: String | None = None
    valueInteger: Integer | None = None
    dataAbsentReason: CodeableConcept | None = None


class Observation(Resource):
    resource_type = "Observation"
    status: String
    code: CodeableConcept
    effectiveDateTime: DateTime | None = None
    effectiveInstant: DateTime | None = None
    effectivePeriod: Period | None = None
    issued: DateTime | None = None
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: String | None = None
    valueInteger: Integer | None = None
    valueBoolean: Boolean | None = None
    interpretation: list[CodeableConcept] | None = None
    dataAbsentReason: CodeableConcept | None = None
    component: list[ObservationComponent] | None = None
    hasMember: list[Reference] | None = None
    subject: Reference | None = None


class QuestionnaireResponseAnswer(_Element):
    fhir_class = "questionnaireresponse.QuestionnaireResponseItemAnswer"
    valueBoolean: Boolean | None = None
    valueInteger: Integer | None = None
    valueDecimal: Decimal | None = None
    valueString: String | None = None
    valueDate: DateTime | None = None
    valueDateTime: DateTime | None = None
    valueCoding: Coding | None = None
    valueQuantity: Quantity | None = None
    item: list[QuestionnaireResponseItem] | None = None


class QuestionnaireResponseItem(_Element):
    fhir_class = "questionnaireresponse.QuestionnaireResponseItem"
    linkId: String
    answer: list[QuestionnaireResponseAnswer] | None = None
    item: list[QuestionnaireResponseItem] | None = None


class QuestionnaireResponse(Resource):
    resource_type = "QuestionnaireResponse"
    status: String
    questionnaire: String | None = None
    authored: DateTime | None = None
    item: list[QuestionnaireResponseItem] | None = None


class Condition(Resource):
    resource_type = "Condition"
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    code: CodeableConcept | None = None
    recordedDate: DateTime | None = None
    onsetDateTime: DateTime | None = None


class Medication(Resource):
    resource_type = "Medication"
    code: CodeableConcept | None = None


class _Contained(BaseModel):
    """A contained resource: Medications are read; anything else only by type and id."""

    model_config = ConfigDict(extra="allow", frozen=True)
    resourceType: String
    id: String | None = None

    def get_resource_type(self) -> str:
        return self.resourceType


def _contained(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [
        Medication.model_validate(v)
        if isinstance(v, Mapping) and v.get("resourceType") == "Medication"
        else _Contained.model_validate(v)
        for v in value
    ]


Contained = Annotated[list[Medication | _Contained], BeforeValidator(_contained)]


class DispenseRequest(_Element):
    fhir_class = "medicationrequest.MedicationRequestDispenseRequest"
    validityPeriod: Period | None = None


class _MedicationUse(Resource):
    status: String
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    contained: Contained | None = None
    subject: Reference | None = None


class MedicationStatement(_MedicationUse):
    resource_type = "MedicationStatement"
    effectiveDateTime: DateTime | None = None
    effectivePeriod: Period | None = None
    dateAsserted: DateTime | None = None


class MedicationRequest(_MedicationUse):
    resource_type = "MedicationRequest"
    intent: String | None = None
    authoredOn: DateTime | None = None
    dispenseRequest: DispenseRequest | None = None


MODELS: dict[str, type[Resource]] = {
    m.resource_type: m
    for m in (
        Patient,
        Observation,
        QuestionnaireResponse,
        Condition,
        MedicationStatement,
        MedicationRequest,
        Medication,
    )
}

for _model in (Extension, QuestionnaireResponseAnswer, QuestionnaireResponseItem):
    _model.model_rebuild()
