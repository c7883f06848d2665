"""The rule condition language: parse, check, evaluate (reference) and compile (durable_rules).

A condition is ``all: [...]``, ``any: [...]``, ``not: ...`` or one comparison written the way a
clinician reads it: ``"phq9_total >= 10"``, ``"ibs == true"``, ``"celiac_serology in [negative,
positive]"``, ``"phq9_item9 is missing"``, ``"crp_mg_l is recorded"``.

Logic is three-valued (Kleene): a comparison on a fact that was not recorded is *unknown*, and a
rule fires only when its condition is *true*. So ``not: "phq9_total >= 10"`` does not fire for a
patient whose PHQ-9 was never taken (invariant S8). The compiler pushes every ``not`` down to the
leaves (De Morgan holds in Kleene logic), which is what lets durable_rules, whose missing fields
simply never match, compute exactly the same answer as the reference evaluator.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from gbrules.core.vocabulary import FactSpec, FactValue, Vocabulary

CMP_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
_NEGATE = {
    "==": "!=",
    "!=": "==",
    "<": ">=",
    ">=": "<",
    ">": "<=",
    "<=": ">",
    "in": "not in",
    "not in": "in",
}
_DURABLE_OP = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
_LEAF = re.compile(
    r"^\s*(?P<fact>[a-z][a-z0-9_]*)\s*"
    r"(?:(?P<op>not in|==|!=|<=|>=|<|>|in)\s*(?P<value>.+?)|is\s+(?P<state>missing|recorded))\s*$"
)


class ConditionError(ValueError):
    """A malformed condition; the message says what and where."""


@dataclass(frozen=True)
class Cmp:
    fact: str
    op: str
    value: Any  # bool | int | float | str | tuple[...] for in / not in

    def text(self) -> str:
        v = self.value
        shown = "[" + ", ".join(_show(x) for x in v) + "]" if isinstance(v, tuple) else _show(v)
        return f"{self.fact} {self.op} {shown}"


@dataclass(frozen=True)
class Recorded:
    fact: str
    recorded: bool

    def text(self) -> str:
        return f"{self.fact} is {'recorded' if self.recorded else 'missing'}"


@dataclass(frozen=True)
class All:
    items: tuple[Condition, ...]

    def text(self) -> str:
        return "(" + " and ".join(i.text() for i in self.items) + ")"


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]

    def text(self) -> str:
        return "(" + " or ".join(i.text() for i in self.items) + ")"


@dataclass(frozen=True)
class Not:
    item: Condition

    def text(self) -> str:
        return f"not {self.item.text()}"


Condition = Cmp | Recorded | All | AnyOf | Not


def _show(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# ---------------------------------------------------------------- parsing and checking


MAX_DEPTH = 32  # all/any/not inside each other; clinical rules use a handful


def parse_condition(
    node: object, vocabulary: Vocabulary, where: str = "when", depth: int = 0
) -> Condition:
    """Parse YAML data into a Condition, checking facts, operators and value types against
    ``vocabulary``."""
    if depth > MAX_DEPTH:
        raise ConditionError(f"{where}: conditions nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, str):
        return _parse_leaf(node, vocabulary, where)
    if isinstance(node, Mapping):
        if len(node) != 1:
            raise ConditionError(
                f"{where}: a condition is one of all/any/not or a comparison string, "
                f"got keys {sorted(map(str, node))}"
            )
        ((key, val),) = node.items()
        if key in ("all", "any"):
            if not isinstance(val, list) or not val:
                raise ConditionError(f"{where}.{key}: needs a non-empty list of conditions")
            items = tuple(
                parse_condition(v, vocabulary, f"{where}.{key}[{i}]", depth + 1)
                for i, v in enumerate(val)
            )
            return All(items) if key == "all" else AnyOf(items)
        if key == "not":
            return Not(parse_condition(val, vocabulary, f"{where}.not", depth + 1))
        raise ConditionError(f"{where}: unknown condition key {key!r} (use all, any or not)")
    raise ConditionError(f"{where}: expected a comparison string or all/any/not, got {node!r}")


def _parse_leaf(text: str, vocabulary: Vocabulary, where: str) -> Condition:
    m = _LEAF.match(text)
    if not m:
        raise ConditionError(
            f"{where}: cannot read {text!r}; write 'fact OP value' (OP: == != < <= > >= in, "
            f"not in) or 'fact is missing' / 'fact is recorded'"
        )
    fact = m["fact"]
    spec = vocabulary.get(fact)
    if spec is None:
        close = difflib.get_close_matches(fact, list(vocabulary), n=3, cutoff=0.75)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        raise ConditionError(f"{where}: unknown fact {fact!r} in {text!r}{hint}")
    if spec.type == "text":
        raise ConditionError(f"{where}: {fact!r} is descriptive text and cannot be compared")
    if m["state"]:
        return Recorded(fact, m["state"] == "recorded")
    op = m["op"]
    value = _read_value(m["value"], where, text)
    if op in ("in", "not in"):
        if not isinstance(value, list) or not value:
            raise ConditionError(f"{where}: {op!r} needs a non-empty list, e.g. [a, b]")
        return Cmp(fact, op, tuple(_check_value(spec, v, where, text) for v in value))
    value = _check_value(spec, value, where, text)
    if spec.type in ("bool", "enum") and op not in ("==", "!="):
        raise ConditionError(f"{where}: {fact!r} is {spec.type}; only == and != apply, not {op!r}")
    return Cmp(fact, op, value)


_VALUE_TOKENS = (
    yaml.StreamStartToken,
    yaml.StreamEndToken,
    yaml.ScalarToken,
    yaml.FlowSequenceStartToken,
    yaml.FlowSequenceEndToken,
    yaml.FlowEntryToken,
)


def _read_value(raw: str, where: str, text: str) -> object:
    """A comparison value: one YAML scalar or a flat [a, b] list, nothing else.

    Anchors, aliases, tags and nesting are refused before the value is built (an alias tree
    is cheap to build but exponential to print in an error message).
    """
    try:
        depth = 0
        for tok in yaml.scan(raw, Loader=yaml.SafeLoader):
            if not isinstance(tok, _VALUE_TOKENS):
                raise ConditionError(
                    f"{where}: the value in {text!r} must be a plain value or a flat [a, b] list"
                )
            depth += isinstance(tok, yaml.FlowSequenceStartToken)
            depth -= isinstance(tok, yaml.FlowSequenceEndToken)
            if depth > 1:
                raise ConditionError(f"{where}: nested lists are not allowed in {text!r}")
        return yaml.safe_load(raw)
    except (yaml.YAMLError, ValueError) as exc:
        if isinstance(exc, ConditionError):
            raise
        raise ConditionError(f"{where}: cannot read the value in {text!r}: {exc}") from None


def _check_value(spec: FactSpec, value: object, where: str, text: str) -> FactValue:
    fact = spec.name
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise ConditionError(f"{where}: {fact!r} is true/false, got {value!r} in {text!r}")
        return value
    if spec.type == "enum":
        if value not in spec.values:
            raise ConditionError(
                f"{where}: {fact!r} takes one of {', '.join(spec.values)}; got {value!r}"
            )
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConditionError(f"{where}: {fact!r} is a number, got {value!r} in {text!r}")
    if spec.type == "int":
        if not isinstance(value, int) and not float(value).is_integer():
            raise ConditionError(f"{where}: {fact!r} is a whole number, got {value!r}")
        return int(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ConditionError(f"{where}: threshold must be finite in {text!r}")
    return float(round(float(value), 4))


def facts_in(cond: Condition) -> list[str]:
    """Fact names a condition mentions, in first-seen order."""
    out: list[str] = []

    def walk(c: Condition) -> None:
        if isinstance(c, Cmp | Recorded):
            if c.fact not in out:
                out.append(c.fact)
        elif isinstance(c, All | AnyOf):
            for i in c.items:
                walk(i)
        else:
            walk(c.item)

    walk(cond)
    return out


def leaves(cond: Condition) -> list[Cmp | Recorded]:
    if isinstance(cond, Cmp | Recorded):
        return [cond]
    if isinstance(cond, Not):
        return leaves(cond.item)
    return [leaf for i in cond.items for leaf in leaves(i)]


# ---------------------------------------------------------------- reference evaluation


def evaluate(cond: Condition, facts: Mapping[str, FactValue]) -> bool | None:
    """Kleene evaluation: True, False, or None (unknown because a fact was not recorded)."""
    if isinstance(cond, Recorded):
        return (cond.fact in facts) == cond.recorded
    if isinstance(cond, Cmp):
        if cond.fact not in facts:
            return None
        return _compare(facts[cond.fact], cond.op, cond.value)
    if isinstance(cond, Not):
        v = evaluate(cond.item, facts)
        return None if v is None else not v
    if isinstance(cond, All):
        unknown = False
        for item in cond.items:
            v = evaluate(item, facts)
            if v is False:
                return False
            unknown |= v is None
        return None if unknown else True
    unknown = False
    for item in cond.items:
        v = evaluate(item, facts)
        if v is True:
            return True
        unknown |= v is None
    return None if unknown else False


def _compare(a: Any, op: str, b: Any) -> bool:
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "in":
        return a in b
    if op == "not in":
        return a not in b
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def basis(cond: Condition, facts: Mapping[str, FactValue]) -> list[Cmp | Recorded]:
    """The leaves that made a true condition true, as positive statements.

    Under ``not`` a leaf contributes when it is false, so it is returned negated. Used to
    show a clinician exactly which values crossed which thresholds (FDA CDS criterion 4).
    """
    out: list[Cmp | Recorded] = []
    for c, negated in signed_leaves(cond):
        if evaluate(c, facts) is (not negated):
            leaf = c if not negated else negate_leaf(c)
            if leaf not in out:
                out.append(leaf)
    return out


def signed_leaves(cond: Condition) -> list[tuple[Cmp | Recorded, bool]]:
    """Every leaf of a condition, depth first, with whether an odd number of ``not`` is above it."""
    out: list[tuple[Cmp | Recorded, bool]] = []

    def walk(c: Condition, negated: bool) -> None:
        if isinstance(c, Not):
            walk(c.item, not negated)
        elif isinstance(c, All | AnyOf):
            for i in c.items:
                walk(i, negated)
        else:
            out.append((c, negated))

    walk(cond, False)
    return out


def negate_leaf(c: Cmp | Recorded) -> Cmp | Recorded:
    """The positive statement of a leaf that holds because it is false ("x >= 10" -> "x < 10")."""
    if isinstance(c, Recorded):
        return Recorded(c.fact, not c.recorded)
    return Cmp(c.fact, _NEGATE[c.op], c.value)


# ---------------------------------------------------------------- compilation


def to_durable(cond: Condition, negate: bool = False) -> dict[str, Any]:
    """Compile to a durable_rules expression in negation normal form."""
    if isinstance(cond, Not):
        return to_durable(cond.item, not negate)
    if isinstance(cond, Recorded):
        present = cond.recorded != negate
        return {"$ex" if present else "$nex": {cond.fact: 1}}
    if isinstance(cond, All | AnyOf):
        conj = isinstance(cond, All) != negate
        parts = [to_durable(i, negate) for i in cond.items]
        if len(parts) == 1:
            return parts[0]
        return {"$and" if conj else "$or": parts}
    op = _NEGATE[cond.op] if negate else cond.op
    if op == "in":
        parts = [{cond.fact: v} for v in cond.value]
        return parts[0] if len(parts) == 1 else {"$or": parts}
    if op == "not in":
        parts = [{"$neq": {cond.fact: v}} for v in cond.value]
        return parts[0] if len(parts) == 1 else {"$and": parts}
    if op == "==":
        return {cond.fact: cond.value}
    return {_DURABLE_OP[op]: {cond.fact: cond.value}}
