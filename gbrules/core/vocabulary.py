"""What rules may talk about: a fact vocabulary and a code vocabulary, both passed in.

The rule core knows no domain. A ``Vocabulary`` names the facts a rule may compare (each with a
type, and optionally a unit, a valid range, enum values, a label and a "band" fact that
qualifies it in explanations); a ``CodeVocabulary`` names the suggestion codes rules may
emit, their default priority and title, and the *protected* codes no override may touch.
``gbrules.clinical`` builds the clinical pair; anyone else builds their own::

    Vocabulary({"age": "number", "smoker": "bool", "stage": ["I", "II", "III"]})

Facts reach the engine only as finite ints, floats rounded to 4 decimals, bools and short
strings (the C engine mis-parses exponent floats and compares mixed types as text), so
``Vocabulary.read`` is the door for facts given directly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import filterfalse
from typing import Literal, get_args

from gbrules.core.errors import FieldError, IntakeError

FactType = Literal["bool", "int", "number", "enum", "text"]
FactValue = bool | int | float | str
Priority = Literal["critical", "urgent", "routine"]

FACT_TYPES: tuple[str, ...] = get_args(FactType)
PRIORITY_RANK: dict[str, int] = {"critical": 0, "urgent": 1, "routine": 2}
FACT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # what a condition can spell (language._LEAF)
CODE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")  # a dotted code: category.name[.more]
RESERVED_FACTS = ("id", "sid")  # the engine's own field names


@dataclass(frozen=True)
class FactSpec:
    """One fact name: its type, unit, valid range or values, and plain meaning.

    ``label`` is how the fact is named to a reader ("PHQ-9 total"; default: the name with
    spaces). ``band`` names another fact that qualifies this one in an explanation ("PHQ-9
    total 16 (moderately severe; >= 10)"); ``derived`` facts are computed, never entered, so
    they are left out of the "not recorded" list.
    """

    name: str
    type: FactType
    meaning: str = ""
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    values: tuple[str, ...] = ()
    derived: bool = False
    label: str = ""
    band: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " "))


FactShort = str | Sequence[str] | FactSpec


class Vocabulary(Mapping[str, FactSpec]):
    """The facts rules may use, by name, in declaration order (immutable).

    Built from FactSpec objects, or from the short form ``{name: type}`` where a type is one of
    bool, int, number, text, or a list of enum values. Bad declarations raise ``ValueError``
    naming every problem.
    """

    __slots__ = ("_recorded", "_specs")

    def __init__(self, facts: Mapping[str, FactShort] | Iterable[FactSpec]) -> None:
        problems: list[str] = []
        specs: dict[str, FactSpec] = {}
        items: Iterable[tuple[str, FactShort]] = (
            facts.items() if isinstance(facts, Mapping) else ((s.name, s) for s in facts)
        )
        for name, declared in items:
            spec = _spec(name, declared, problems)
            if spec is None:
                continue
            if spec.name in specs:
                problems.append(f"fact {spec.name!r} is declared twice")
            specs[spec.name] = spec
        for spec in specs.values():
            if spec.band and spec.band not in specs:
                problems.append(f"fact {spec.name!r}: its band {spec.band!r} is not a fact")
        if problems:
            raise ValueError("invalid vocabulary:\n" + "\n".join(f"  - {p}" for p in problems))
        self._specs = specs
        self._recorded = tuple(s.name for s in specs.values() if not s.derived)

    def __getitem__(self, name: str) -> FactSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __repr__(self) -> str:
        return f"Vocabulary({', '.join(self._specs)})"

    def missing(self, facts: Mapping[str, FactValue]) -> list[str]:
        """Entered (not derived) facts absent from ``facts``, in vocabulary order."""
        return list(filterfalse(facts.__contains__, self._recorded))  # the loop runs in C

    def read(self, data: object, *, ranges: bool = True) -> dict[str, FactValue]:
        """Facts given directly, checked against the vocabulary and made engine-safe.

        ``None`` means not recorded (left out). Raises ``IntakeError`` naming every bad fact:
        an unknown name, a value of the wrong type or not finite, or (with ``ranges``) outside
        the fact's lo-hi range.
        """
        if not isinstance(data, Mapping):
            kind = type(data).__name__
            raise IntakeError([FieldError("$", f"facts must be an object, not {kind}")])
        out: dict[str, FactValue] = {}
        errors: list[FieldError] = []
        for name, value in data.items():
            spec = self._specs.get(name) if isinstance(name, str) else None
            if spec is None:
                errors.append(FieldError(str(name), "unknown fact"))
            elif value is not None:
                checked = _fact_value(spec, value, ranges)
                if isinstance(checked, _Bad):
                    errors.append(FieldError(name, checked.message))
                else:
                    out[name] = checked
        if errors:
            raise IntakeError(errors)
        return {name: out[name] for name in self._specs if name in out}

    def markdown(self) -> str:
        """The vocabulary as a Markdown table (for a FACTS.md page)."""
        rows = [
            "| fact | type | unit | range / values | derived | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for s in self._specs.values():
            rng = "/".join(s.values) if s.values else _range_text(s)
            rows.append(
                f"| `{s.name}` | {s.type} | {s.unit} | {rng} | {'yes' if s.derived else ''} "
                f"| {s.meaning} |"
            )
        return "\n".join(rows) + "\n"


def _range_text(s: FactSpec) -> str:
    if s.lo is None and s.hi is None:
        return ""
    lo = "" if s.lo is None else f"{s.lo:g}"
    hi = "" if s.hi is None else f"{s.hi:g}"
    return f"{lo}-{hi}"


def _spec(name: str, declared: FactShort, problems: list[str]) -> FactSpec | None:
    if isinstance(declared, FactSpec):
        spec = declared
        if spec.name != name:
            problems.append(f"fact {name!r} is declared with a spec named {spec.name!r}")
            return None
    elif isinstance(declared, str):
        if declared == "enum":
            problems.append(f"fact {name!r}: give an enum as the list of its values")
            return None
        if declared not in FACT_TYPES:
            problems.append(f"fact {name!r}: type {declared!r} is not one of {FACT_TYPES}")
            return None
        spec = FactSpec(name, declared)  # type: ignore[arg-type]
    elif isinstance(declared, Sequence):
        spec = FactSpec(name, "enum", values=tuple(declared))
    else:
        problems.append(f"fact {name!r}: cannot read the declaration {declared!r}")
        return None
    if not isinstance(name, str) or not FACT_NAME.match(name):
        problems.append(f"fact name {name!r}: use lower-case letters, digits and _")
        return None
    if name in RESERVED_FACTS:
        problems.append(f"fact name {name!r} is reserved by the engine")
        return None
    if spec.type not in FACT_TYPES:
        problems.append(f"fact {name!r}: type {spec.type!r} is not one of {FACT_TYPES}")
        return None
    if spec.type == "enum" and (
        not spec.values or not all(isinstance(v, str) and v for v in spec.values)
    ):
        problems.append(f"fact {name!r}: an enum needs a non-empty list of non-empty strings")
        return None
    return spec


@dataclass(frozen=True)
class _Bad:
    message: str


def _fact_value(spec: FactSpec, value: object, ranges: bool) -> FactValue | _Bad:
    """``value`` as the engine may see it for this fact, or why it cannot be."""
    if spec.type == "bool":
        return value if isinstance(value, bool) else _Bad("expected true or false")
    if spec.type == "enum":
        if isinstance(value, str) and value in spec.values:
            return value
        return _Bad(f"expected one of {', '.join(spec.values)}")
    if spec.type == "text":
        return value if isinstance(value, str) else _Bad("expected text")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _Bad("expected a number")
    if not math.isfinite(value):
        return _Bad("expected a finite number")
    if spec.type == "int":
        if isinstance(value, float) and not value.is_integer():
            return _Bad("expected a whole number")
        number: float = int(value)
    else:
        number = float(round(float(value), 4)) + 0.0  # no exponent, no -0.0 (see module doc)
    if ranges and (
        (spec.lo is not None and number < spec.lo) or (spec.hi is not None and number > spec.hi)
    ):
        return _Bad(f"outside {_range_text(spec)}")
    return int(number) if spec.type == "int" else number


# ---------------------------------------------------------------- codes


@dataclass(frozen=True)
class CodeSpec:
    """One suggestion code, its default priority and its title for a reader."""

    code: str
    priority: Priority
    title: str

    @property
    def category(self) -> str:
        return category_of(self.code)


def category_of(code: str) -> str:
    """A code's category: its prefix before the first dot."""
    return code.split(".", 1)[0]


def matches(pattern: str, code: str) -> bool:
    """Override and protection patterns: an exact code, or ``prefix.*`` for a whole category."""
    if pattern.endswith(".*"):
        return code.startswith(pattern[:-1])
    return pattern == code


@dataclass(frozen=True)
class CodeVocabulary:
    """The suggestion codes rules may emit, and which of them nothing may override.

    ``codes`` given: a rule may emit only those (and codes a rulebook manifest declares, in
    ``categories`` when that is given). No codes given (``CodeVocabulary()``): any dotted code
    is accepted, at priority routine unless the rule says otherwise. ``protected`` patterns
    (codes or ``category.*``) are the safety net: no override may suppress or defer them, a
    rule may not emit them below their declared priority, and a manifest may not add new ones.
    """

    codes: Mapping[str, CodeSpec] = field(default_factory=dict)
    categories: tuple[str, ...] | None = None
    protected: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        codes: Iterable[CodeSpec],
        categories: Iterable[str] | None = None,
        protected: Iterable[str] = (),
    ) -> CodeVocabulary:
        return cls(
            {c.code: c for c in codes},
            None if categories is None else tuple(categories),
            tuple(protected),
        )

    @property
    def open(self) -> bool:
        """True when no codes were declared: any dotted code is accepted."""
        return not self.codes

    def get(self, code: str) -> CodeSpec | None:
        return self.codes.get(code)

    def is_protected(self, code: str) -> bool:
        return any(matches(p, code) for p in self.protected)

    def category_allowed(self, category: str) -> bool:
        return self.categories is None or category in self.categories

    def pattern_can_touch_protected(self, pattern: str) -> bool:
        """Whether an override pattern could take out a protected code, known or future."""
        if not pattern.endswith(".*"):
            return self.is_protected(pattern)
        stem = pattern[:-1]
        return any(matches(pattern, c) for c in self.codes if self.is_protected(c)) or any(
            p.startswith(stem) or (p.endswith(".*") and stem.startswith(p[:-1]))
            for p in self.protected
        )

    def protected_text(self) -> str:
        return ", ".join(self.protected)


def well_formed_code(code: str) -> bool:
    return CODE.match(code) is not None
