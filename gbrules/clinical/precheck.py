"""A fast yes-or-don't-know check for raw intake dicts, compiled from the Intake models.

pydantic (``gbrules.clinical.intake``) is the door into gbrules, and on a clean intake it costs more
than the rule engine does. Most intakes in a batch or a CDS call are clean, so this module
answers one narrow question cheaply: is this dict *certainly* one that pydantic accepts as it
is? It never rejects anything. Whatever it is not sure of (an unknown key, a value of another
type or a subclass, a bound, NaN, invalid Unicode, a cross-field inconsistency, a constraint
it does not know) goes to pydantic, which builds the model or raises the IntakeError that
names every bad field. So error messages and the accepted language stay pydantic's alone.

There is one source of truth: the checks are compiled from each model's JSON schema (types,
bounds, literals, lengths, required fields) and config (extra=forbid), and the cross-field
rules are the models' own ``problem`` functions, which their validators call. A model with a
validator but no ``problem``, or with a construct not handled here, is never pre-checked.
Each model becomes a ``_Section`` that dispatches on each value's type, so a clean intake
costs about one lookup per value.
``tests/test_precheck.py`` keeps the two paths equal on valid, near-valid and hostile input.

The one conversion pydantic does on values this check accepts is int -> float for number
fields; the fact builder passes every number through ``float``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple, get_args

from pydantic import BaseModel

from gbrules.clinical.intake import Intake

Check = Callable[[dict[Any, Any]], bool]
_KNOWN = {"type", "title", "description", "default", "minimum", "maximum", "minLength"}
_KNOWN |= {"maxLength", "enum", "const", "items", "minItems", "maxItems", "$ref"}
# Documentation only (gbrules.clinical.intake._about): no bearing on what is accepted.
_NOTES = {"title", "default", "description", "examples", "unit"}
_KNOWN |= _NOTES


class _Unsupported(Exception):
    """A schema construct this compiler does not know: that model is never pre-checked."""


class _Field(NamedTuple):
    kind: str  # bool, int, number, str, enum, list, model
    nullable: bool
    lo: float
    hi: float
    extra: Any  # enum: frozenset of values; list: item _Field; model: its _Section


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _nested_models(arg)]


def _leaf(schema: Mapping[str, Any], model: type[BaseModel] | None, nullable: bool) -> _Field:
    if set(schema) - _KNOWN:
        raise _Unsupported(sorted(set(schema) - _KNOWN))
    inf = math.inf
    if "$ref" in schema:
        nested = compile_check(model) if model is not None else None
        if nested is None:
            raise _Unsupported("a nested model that cannot be pre-checked")
        return _Field("model", nullable, 0, 0, nested)
    kind = schema.get("type")
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        if kind != "string" or not all(type(v) is str for v in values):
            raise _Unsupported("a literal that is not a string")
        return _Field("enum", nullable, 0, 0, frozenset(values))
    lo, hi = schema.get("minimum", -inf), schema.get("maximum", inf)
    if kind == "boolean":
        return _Field("bool", nullable, 0, 0, None)
    if kind in ("integer", "number"):
        return _Field("int" if kind == "integer" else "number", nullable, lo, hi, None)
    if kind == "string":
        length = schema.get("minLength", 0), schema.get("maxLength", inf)
        return _Field("str", nullable, *length, None)
    if kind == "array":
        item = _leaf(schema["items"], None, False)
        if item.kind in ("model", "list"):
            raise _Unsupported("nested containers")
        length = schema.get("minItems", 0), schema.get("maxItems", inf)
        return _Field("list", nullable, *length, item)
    raise _Unsupported(kind)


def _field(schema: Mapping[str, Any], model: type[BaseModel] | None) -> _Field:
    options = schema.get("anyOf")
    if options is None:
        return _leaf(schema, model, False)
    rest = set(schema) - {"anyOf"} - _NOTES
    if rest or len(options) != 2 or {"type": "null"} not in options:
        raise _Unsupported("a union other than X | None")
    return _leaf(next(o for o in options if o != {"type": "null"}), model, True)


class _Section:
    """One model's check, dispatching on each value's type: bools, None, ints and nested
    sections inline (nearly every value), anything else through a small per-field test.
    """

    __slots__ = (
        "bools",
        "checks",
        "enums",
        "floats",
        "models",
        "names",
        "nullable",
        "problem",
        "ranges",
        "required",
    )

    def __init__(
        self,
        fields: dict[str, _Field],
        required: frozenset[str],
        problem: Callable[[Mapping[str, Any]], str | None] | None,
    ) -> None:
        self.names = frozenset(fields)
        self.required = required
        self.nullable = frozenset(name for name, f in fields.items() if f.nullable)
        self.bools = frozenset(name for name, f in fields.items() if f.kind == "bool")
        # An int is a valid number too (pydantic converts it); a float is never an int.
        self.ranges = {name: (f.lo, f.hi) for name, f in fields.items() if f.kind in _NUMERIC}
        # Number fields take finite floats: bounds are made finite so inf fails them (NaN
        # fails every comparison).
        self.floats = {
            name: (max(f.lo, -_BIG), min(f.hi, _BIG))
            for name, f in fields.items()
            if f.kind == "number"
        }
        self.enums = {name: f.extra for name, f in fields.items() if f.kind == "enum"}
        self.models: dict[str, _Section] = {
            name: f.extra for name, f in fields.items() if f.kind == "model"
        }
        self.checks = {name: _value_check(f) for name, f in fields.items()}
        self.problem = problem

    def check(self, d: dict[Any, Any]) -> bool:
        """Whether pydantic certainly accepts ``d`` for this model (False: not sure)."""
        if not d.keys() <= self.names or not self.required <= d.keys():
            return False
        bools, ranges, models = self.bools, self.ranges, self.models
        for k, v in d.items():
            t = type(v)
            if t is bool:
                if k not in bools:
                    return False
            elif t is int:
                r = ranges.get(k)
                if r is None or not r[0] <= v <= r[1]:
                    return False
            elif t is float:
                r = self.floats.get(k)
                if r is None or not r[0] <= v <= r[1]:
                    return False
            elif t is str and k in self.enums:
                if v not in self.enums[k]:
                    return False
            elif t is dict:
                section = models.get(k)
                if section is None or not section.check(v):
                    return False
            elif v is None:
                if k not in self.nullable:
                    return False
            elif not self.checks[k](v):
                return False
        return self.problem is None or self.problem(d) is None


_NUMERIC = ("int", "number")
_BIG = 1.7976931348623157e308  # the largest finite float


def _value_check(f: _Field) -> Callable[[Any], bool]:
    """A test for one non-None value of field ``f``."""
    lo, hi, extra = f.lo, f.hi, f.extra
    if f.kind == "int":
        return lambda v: type(v) is int and lo <= v <= hi
    if f.kind == "number":  # an int is a valid number: pydantic converts it
        return lambda v: (type(v) is int or (type(v) is float and v - v == 0.0)) and lo <= v <= hi
    if f.kind == "enum":
        return lambda v: type(v) is str and v in extra
    if f.kind == "str":
        return lambda v: type(v) is str and _str_ok(v, lo, hi)
    if f.kind == "list":
        item = _value_check(extra)
        return lambda v: type(v) is list and lo <= len(v) <= hi and all(map(item, v))
    if f.kind == "bool":  # list items
        return lambda v: type(v) is bool
    section: _Section = extra
    return lambda v: type(v) is dict and section.check(v)


def _str_ok(text: str, lo: float, hi: float) -> bool:
    return lo <= len(text) <= hi and (text.isascii() or _encodable(text))


def compile_check(model: type[BaseModel]) -> _Section | None:
    """The check for ``model``, or None when it cannot be checked exactly (then pydantic is)."""
    decorators = model.__pydantic_decorators__
    has_validator = any(
        (
            decorators.model_validators,
            decorators.field_validators,
            decorators.validators,
            decorators.root_validators,
        )
    )
    if has_validator and "problem" not in model.__dict__:
        return None
    if model.model_config.get("extra") != "forbid":
        return None
    schema = model.model_json_schema()
    try:
        fields: dict[str, _Field] = {}
        for name, info in model.model_fields.items():
            if info.alias not in (None, name) or info.validation_alias not in (None, name):
                return None
            nested = _nested_models(info.annotation)
            fields[name] = _field(schema["properties"][name], nested[0] if nested else None)
    except _Unsupported:
        return None
    # A model without a validator has no cross-field rule to mirror.
    problem = getattr(model, "problem", None) if has_validator else None
    return _Section(fields, frozenset(schema.get("required", ())), problem)


def _encodable(text: str) -> bool:
    """pydantic refuses strings that are not valid Unicode (lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_INTAKE: Final = compile_check(Intake)
INTAKE: Final[Check | None] = _INTAKE.check if _INTAKE is not None else None


def precheck(data: object) -> dict[str, Any] | None:
    """``data`` itself when pydantic certainly accepts it as an Intake, else None.

    The returned dict has pydantic's values except that numbers may still be ints; sections
    are dicts and may leave optional keys out. Only exact ``dict`` objects are pre-checked.
    """
    if _INTAKE is not None and type(data) is dict and _INTAKE.check(data):
        return data
    return None
