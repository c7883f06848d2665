"""The result of one evaluation: a pydantic model, ordered and traceable.

Its JSON is part of gbrules' public contract (README "30 seconds in Python"): a Suggestion's
``category`` is the prefix of its code (a domain's code vocabulary may restrict the prefixes).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer

from gbrules.core.vocabulary import FactValue, Priority


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


_M = TypeVar("_M", bound=BaseModel)
_set = object.__setattr__
_new = object.__new__
# BaseModel's own slots, set through their descriptors (what object.__setattr__ ends up doing).
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def trusted(cls: type[_M], values: dict[str, Any]) -> _M:
    """An instance built from values gbrules itself produced and already checked.

    What ``model_construct`` does, without its per-field alias and default handling (about
    ten times cheaper): ``values`` must hold every field, in declaration order, with values of
    the declared types. Used only on the evaluation hot path; anything from outside is
    validated normally. Every field is set, so all instances of a class share one read-only
    ``model_fields_set`` (a copy, which pydantic takes in ``model_copy``, is a plain set).
    """
    m = _new(cls)
    _set(m, "__dict__", values)
    names = _ALL_FIELDS.get(cls)
    if names is None:
        names = _ALL_FIELDS[cls] = _FieldNames(cls.model_fields)
    _set_fields_set(m, names)
    _set_extra(m, None)
    _set_private(m, None)
    return m


def _read_only(self: object, *args: object, **kwargs: object) -> None:
    raise TypeError(f"{type(self).__name__} is read-only: change a copy (list, dict or set of it)")


class FrozenList(list[str]):
    """A list that refuses changes: a Suggestion's evidence.

    Suggestions are memoised and shared between evaluations (they are a pure function of the
    rule and a few fact values), so nothing inside one may change. It is still a ``list``
    (``isinstance``, JSON, pydantic) and compares equal to a list with the same items.
    """

    __slots__ = ()
    append = extend = insert = remove = pop = clear = sort = reverse = _read_only  # type: ignore[assignment]
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only  # type: ignore[assignment]

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenList:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))


class _FieldNames(set[str]):
    """The shared ``model_fields_set`` of trusted instances: read-only, copies are plain."""

    __slots__ = ()
    add = clear = discard = pop = remove = update = _read_only  # type: ignore[assignment]
    difference_update = intersection_update = symmetric_difference_update = _read_only
    __ior__ = __iand__ = __isub__ = __ixor__ = _read_only  # type: ignore[assignment]

    def __copy__(self) -> set[str]:
        return set(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> set[str]:
        return set(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (set, (list(self),))


_ALL_FIELDS: dict[type[BaseModel], _FieldNames] = {}


class FrozenDict(dict[str, FactValue]):
    """A dict that refuses changes: a Suggestion's ``triggered_by`` (see FrozenList)."""

    __slots__ = ()
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]
    __setitem__ = __delitem__ = __ior__ = _read_only  # type: ignore[assignment]

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


class Suggestion(_Frozen):
    """One item of the draft plan, phrased as advice to a clinician, with its basis."""

    code: str
    category: str
    priority: Priority
    title: str
    rationale: str
    rule_id: str
    evidence: list[str]
    triggered_by: dict[str, FactValue]


class Suppression(_Frozen):
    """A code an override took out of the plan: who proposed it, who removed it, and why."""

    code: str
    rule_id: str
    by_rule: str
    reason: str
    action: Literal["deferred", "suppressed"] = "suppressed"


class Evaluation(_Frozen):
    """A care-plan draft for one intake. Same intake, same rulebook: byte-identical JSON (S9)."""

    patient_id: str | None = None
    suggestions: list[Suggestion]
    suppressed: list[Suppression]
    codes: frozenset[str]
    fired_rules: list[str]
    facts: dict[str, FactValue]
    not_recorded: list[str] = Field(default_factory=list)
    rulebook_version: str
    #: Dated inputs older than their freshness window, by kind, with the day they were
    #: measured; they were treated as not recorded (``gbrules.clinical.site.freshen``).
    stale: dict[str, str] = Field(default_factory=dict)
    # The rulebook's site settings (e.g. crisis_country), so a draft says which configuration
    # produced it and renderers show the matching resources.
    settings: dict[str, str] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def requires_immediate_action(self) -> bool:
        return any(s.priority == "critical" for s in self.suggestions)

    @field_serializer("codes")
    def _sorted_codes(self, codes: frozenset[str]) -> list[str]:
        return sorted(codes)

    def suggestion(self, code: str) -> Suggestion | None:
        """The active suggestion with this code, if any."""
        return next((s for s in self.suggestions if s.code == code), None)

    def suppression(self, code: str) -> Suppression | None:
        return next((s for s in self.suppressed if s.code == code), None)


def _trusted_matches_pydantic() -> bool:
    """Whether ``trusted`` builds exactly what pydantic builds, on this pydantic version.

    ``trusted`` leans on BaseModel's private slots; if a pydantic release changes them, gbrules
    falls back to the public ``model_construct`` rather than hand out broken models.
    """
    values: dict[str, Any] = {
        "code": "diet.fiber",
        "category": "diet",
        "priority": "routine",
        "title": "t",
        "rationale": "r",
        "rule_id": "a.b",
        "evidence": ["e"],
        "triggered_by": {"fiber_g_per_day": 12.0},
    }
    try:
        fast = trusted(Suggestion, dict(values))
        slow = Suggestion.model_validate(values)
        return fast == slow and fast.model_dump_json() == slow.model_dump_json()
    except Exception:
        return False


if not _trusted_matches_pydantic():  # pragma: no cover - only on an incompatible pydantic

    def trusted(cls: type[_M], values: dict[str, Any]) -> _M:
        return cls.model_construct(**values)
