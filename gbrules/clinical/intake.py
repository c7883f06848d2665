"""Intake JSON v1 as pydantic models: the only definition of a valid intake.

Everything is validated here so that nothing downstream has to doubt a value: unknown keys are
errors (a typo must not silently drop clinical data), booleans must be JSON booleans, numbers
must be finite and inside the instrument's range, and an instrument given two ways must agree
with itself. Missing stays missing (``None``): "not recorded" is never turned into false or 0.

Building the models costs more than the rule engine does, so a dict is validated by
``INTAKE_DICT``, a pydantic ``TypeAdapter`` over TypedDicts *derived* from these models (same
fields, same constraints, same cross-field ``problem`` functions) that returns plain dicts.
It is one validator, not two: the derivation refuses any model feature it cannot carry over
(a field or before/wrap validator, an alias, lax extra keys), and when a dict fails, the models
themselves run so the error messages are theirs (``read_intake``).
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, NotRequired, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from typing_extensions import TypedDict

from gbrules.clinical.scoring import crp_to_mg_l
from gbrules.core.errors import FieldError, IntakeError

StrictBool = Annotated[bool, Field(strict=True)]


def _int(lo: int, hi: int) -> Any:
    return Annotated[int, Field(strict=True, ge=lo, le=hi)]


def _num(lo: float, hi: float) -> Any:
    return Annotated[float, Field(strict=True, ge=lo, le=hi, allow_inf_nan=False)]


Item = _int(0, 3)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """A cross-field inconsistency in a section's (type-checked) values, or None.

        The only place for cross-field rules: a plain function of the field values, so the
        model and its derived TypedDict ask exactly the same question.
        """
        return None

    @model_validator(mode="after")
    def _consistent(self) -> _Section:
        message = self.problem(self.__dict__)
        if message is not None:
            raise ValueError(message)
        return self


class GI(_Section):
    bloating: StrictBool | None = None
    irregular_bowel: StrictBool | None = None
    abdominal_pain_score: _int(0, 10) | None = None  # type: ignore[valid-type]
    rectal_bleeding: StrictBool | None = None
    unintentional_weight_loss: StrictBool | None = None
    nocturnal_symptoms: StrictBool | None = None
    persistent_vomiting: StrictBool | None = None
    dysphagia: StrictBool | None = None
    symptom_weeks: _int(0, 5200) | None = None  # type: ignore[valid-type]
    change_in_bowel_habit: StrictBool | None = None


class PHQ9(_Section):
    """PHQ-9 as nine item scores, or as a total with item 9 when it was recorded."""

    items: list[Item] | None = Field(default=None, min_length=9, max_length=9)  # type: ignore[valid-type]
    total: _int(0, 27) | None = None  # type: ignore[valid-type]
    item9: Item | None = None  # type: ignore[valid-type]

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """What is inconsistent in these (type-checked) values, if anything."""
        items, total, item9 = v.get("items"), v.get("total"), v.get("item9")
        if items is None and total is None:
            return "give either 'items' (9 scores) or 'total'"
        if items is not None:
            if total is not None and total != sum(items):
                return f"'total' {total} disagrees with the sum of 'items' {sum(items)}"
            if item9 is not None and item9 != items[8]:
                return f"'item9' {item9} disagrees with items[8] {items[8]}"
        elif item9 is not None and total is not None and item9 > total:
            return f"'item9' {item9} is larger than 'total' {total}"
        return None

    @property
    def total_score(self) -> int:
        return sum(self.items) if self.items is not None else int(self.total or 0)

    @property
    def item9_score(self) -> int | None:
        return self.items[8] if self.items is not None else self.item9


class GAD7(_Section):
    items: list[Item] | None = Field(default=None, min_length=7, max_length=7)  # type: ignore[valid-type]
    total: _int(0, 21) | None = None  # type: ignore[valid-type]

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """What is inconsistent in these (type-checked) values, if anything."""
        items, total = v.get("items"), v.get("total")
        if items is None and total is None:
            return "give either 'items' (7 scores) or 'total'"
        if items is not None and total is not None and total != sum(items):
            return f"'total' {total} disagrees with the sum of 'items' {sum(items)}"
        return None

    @property
    def total_score(self) -> int:
        return sum(self.items) if self.items is not None else int(self.total or 0)


class HAMD17(_Section):
    total: _int(0, 52)  # type: ignore[valid-type]


class Mood(_Section):
    phq9: PHQ9 | None = None
    gad7: GAD7 | None = None
    hamd17: HAMD17 | None = None
    suicidal_ideation: StrictBool | None = None


class CRP(_Section):
    value: _num(0, 1000)  # type: ignore[valid-type]
    unit: Literal["mg/L", "mg/dL"]

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """What is implausible in these (type-checked) values, if anything."""
        if crp_to_mg_l(v["value"], v["unit"]) > 1000:
            return "CRP above 1000 mg/L is not a plausible result; check the unit"
        return None

    @property
    def mg_l(self) -> float:
        return crp_to_mg_l(self.value, self.unit)


class Labs(_Section):
    crp: CRP | None = None
    celiac_serology: Literal["negative", "positive", "not_done"] | None = None
    iron_deficiency_anemia: StrictBool | None = None


class Conditions(_Section):
    ibs: StrictBool | None = None
    recurrent_depression: StrictBool | None = None
    anxiety_disorder: StrictBool | None = None
    inflammatory_bowel_disease: StrictBool | None = None
    celiac_disease: StrictBool | None = None
    immunocompromised: StrictBool | None = None
    central_venous_catheter: StrictBool | None = None
    critically_ill: StrictBool | None = None
    family_history_colorectal_cancer: StrictBool | None = None
    family_history_ibd_or_celiac: StrictBool | None = None


class Medications(_Section):
    ssri: StrictBool | None = None
    recent_antibiotics: StrictBool | None = None
    probiotic: StrictBool | None = None


class Lifestyle(_Section):
    sleep_hours: _num(0, 24) | None = None  # type: ignore[valid-type]
    sleep_quality_poor: StrictBool | None = None
    stress_score: _int(0, 10) | None = None  # type: ignore[valid-type]
    exercise_minutes_per_week: _int(0, 10080) | None = None  # type: ignore[valid-type]
    fiber_g_per_day: _num(0, 500) | None = None  # type: ignore[valid-type]
    ultra_processed_food_high: StrictBool | None = None
    caffeine_mg_per_day: _num(0, 10000) | None = None  # type: ignore[valid-type]


class Intake(_Section):
    """One patient's intake (Intake JSON v1). Only ``age`` is required."""

    patient_id: Annotated[str, Field(strict=True, min_length=1, max_length=128)] | None = None
    age: _int(0, 130)  # type: ignore[valid-type]
    sex: Literal["female", "male", "other", "unknown"] | None = None
    pregnant: StrictBool | None = None
    gi: GI | None = None
    mood: Mood | None = None
    labs: Labs | None = None
    conditions: Conditions | None = None
    medications: Medications | None = None
    lifestyle: Lifestyle | None = None

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """What contradicts itself in these (type-checked) values, if anything."""
        if v.get("pregnant") is True and v.get("sex") == "male":
            return "'pregnant' is true but 'sex' is 'male'; check the record"
        return None


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(loc: tuple[str | int, ...]) -> str:
    """A pydantic location as a JSON path: ('mood', 'phq9', 'items', 8) -> mood.phq9.items[8]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _NAME.match(part):
            out += f".{part}" if out else part
        else:  # "", "\r", "a.b", "x y": quoted, so the path stays visible and unambiguous
            out += f"{'' if out else '$'}[{json.dumps(str(part), ensure_ascii=False)}]"
    return out or "$"


def errors_from_validation(exc: ValidationError) -> list[FieldError]:
    """Every pydantic error as a FieldError, with union branches folded into one message."""
    seen: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; unknown keys are rejected)"
        seen.setdefault(json_path(loc), [])
        if msg not in seen[json_path(loc)]:
            seen[json_path(loc)].append(msg)
    return [FieldError(path, "; ".join(msgs)) for path, msgs in seen.items()]


def parse_intake(data: object) -> Intake:
    """Validate raw Intake JSON (a dict) into an ``Intake``, or raise ``IntakeError``."""
    if isinstance(data, Intake):
        return data
    if not isinstance(data, Mapping):
        raise IntakeError(
            [FieldError("$", f"an intake must be a JSON object, not {type(data).__name__}")]
        )
    try:
        # A plain dict is validated as it is (pydantic never mutates its input).
        return Intake.model_validate(data if type(data) is dict else dict(data))
    except ValidationError as exc:
        raise IntakeError(errors_from_validation(exc)) from None


# ---------------------------------------------------------------- the derived dict validator


def _problem_check(model: type[_Section]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    problem = model.problem

    def check(values: dict[str, Any]) -> dict[str, Any]:
        message = problem(values)
        if message is not None:
            raise ValueError(message)
        return values

    return check


def _as_typed_dict(model: type[_Section]) -> Any:
    """``model`` as a TypedDict with the same fields, constraints and ``problem`` check.

    Raises TypeError for anything the TypedDict would not carry over, so a validator added to
    a model can never be skipped silently on the dict path.
    """
    d = model.__pydantic_decorators__
    carried = set(d.model_validators) == {"_consistent"} and not (
        d.field_validators or d.validators or d.root_validators
    )
    if not carried or model.model_config.get("extra") != "forbid":
        raise TypeError(
            f"{model.__name__}: write cross-field rules as problem(), not validators, and keep "
            "extra='forbid' (the dict validator is derived from the model)"
        )
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.alias not in (None, name) or info.validation_alias not in (None, name):
            raise TypeError(f"{model.__name__}.{name}: aliases are not carried to dicts")
        annotation = _dict_annotation(info.annotation)
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        fields[name] = annotation if info.is_required() else NotRequired[annotation]
    typed = _TYPED_DICT(f"{model.__name__}Dict", fields)
    typed.__pydantic_config__ = ConfigDict(extra="forbid")
    if model.problem is _Section.problem:  # no cross-field rule: nothing to call
        return typed
    return Annotated[typed, AfterValidator(_problem_check(model))]


_TYPED_DICT: Any = TypedDict  # called with fields known only at run time


def _dict_annotation(annotation: Any) -> Any:
    """An annotation with every section model in it replaced by its TypedDict."""
    if isinstance(annotation, type) and issubclass(annotation, _Section):
        return _as_typed_dict(annotation)
    args = get_args(annotation)
    origin = get_origin(annotation)
    if not args:
        return annotation
    if origin is Annotated:
        return Annotated[(_dict_annotation(args[0]), *annotation.__metadata__)]
    if origin in (Union, types.UnionType):
        return Union[tuple(_dict_annotation(a) for a in args)]  # noqa: UP007
    if origin is list:
        return list[_dict_annotation(args[0])]  # type: ignore[misc]
    if origin is Literal:
        return annotation
    raise TypeError(f"{annotation!r}: not carried to dicts")


#: Validates Intake JSON as plain dicts (no models built); see the module docstring.
INTAKE_DICT: TypeAdapter[dict[str, Any]] = TypeAdapter(_as_typed_dict(Intake))


def validate_intake(data: object) -> Intake | dict[str, Any]:
    """A valid intake: ``data`` validated as a plain dict (the fast path) or as the model.

    A dict that fails is validated again by the models, so an error names every bad field in
    the models' own words (IntakeError); anything else goes to the models directly.
    """
    if type(data) is dict:
        try:
            return INTAKE_DICT.validate_python(data)
        except ValidationError:
            pass
    return parse_intake(data)
