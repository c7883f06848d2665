"""From fired rules to the final plan: proposals, then the declarative overrides, then order.

Overrides always run after every proposal exists, so no rule can "talk past" them by firing
later. They run most-critical rule first, so a safety rule's reason is the one recorded.
Protected codes (safety.*, referral.urgent_gi) are refused at load time and skipped here too.
"""

from __future__ import annotations

import operator
import string
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from gbrules.clinical.codes import PRIORITY_RANK, is_protected, matches
from gbrules.clinical.facts import VOCABULARY, FactValue
from gbrules.core.language import Cmp, Condition, Recorded, negate_leaf, signed_leaves
from gbrules.core.memo import Memo
from gbrules.core.result import FrozenDict, FrozenList, Suggestion, Suppression, trusted
from gbrules.core.rulebook import Override, Rule


class _Shown(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "not recorded"


def show(value: FactValue) -> str:
    """A fact value in plain words for a rationale."""
    if type(value) is bool:  # first: a bool is also an int
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value.replace("_", " ")
    return str(value)


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, str) or not format_spec:
            return value if isinstance(value, str) else show(value)
        return format(value, format_spec)


_FMT = _Formatter()


@lru_cache(maxsize=4096)
def _template(template: str) -> tuple[tuple[str, ...], str | None]:
    """The fact names a rationale template refers to, and its text when it refers to none.

    Computed once per template: formatting then looks up only those facts, not every fact.
    """
    names: list[str] = []
    for _, field, _, _ in _FMT.parse(template):
        if field is not None:
            name = field.split(".", 1)[0].split("[", 1)[0]
            if name not in names:
                names.append(name)
    constant = _FMT.vformat(template, (), _Shown()) if not names else None
    return tuple(names), constant


def rationale(rule: Rule, facts: Mapping[str, FactValue]) -> str:
    """The rationale template filled in with the facts it names ("not recorded" if absent)."""
    names, constant = _template(rule.rationale)
    if constant is not None:
        return constant
    values: dict[str, Any] = _Shown()
    for name in names:
        if name in facts:
            v = facts[name]
            values[name] = v if isinstance(v, int | float) and not isinstance(v, bool) else show(v)
    return _FMT.vformat(rule.rationale, (), values)


def describe(leaves: Sequence[Cmp | Recorded], facts: Mapping[str, FactValue]) -> str:
    """The basis in words, one entry per fact: "PHQ-9 total 16 (moderately severe; >= 10)".

    Thresholds on the same fact are merged ("CRP (mg/L) 4.2 (> 3, <= 10)"), and instrument
    totals carry their severity band.
    """
    return _say(_pieces(_wording(leaves)), facts)


# Per fact of a basis: (fact, label, its band fact or "", thresholds in words).
_Wording = tuple[tuple[str, str, str, str], ...]


def _wording(leaves: Sequence[Cmp | Recorded]) -> _Wording:
    """What ``describe`` says about these leaves, before any fact value is known."""
    parts: dict[str, list[str]] = {}
    for leaf in leaves:
        parts.setdefault(leaf.fact, [])
        if isinstance(leaf, Recorded):
            parts[leaf.fact].append("recorded" if leaf.recorded else "not recorded")
        elif leaf.op not in ("==", "!=", "in", "not in") and not isinstance(leaf.value, tuple):
            parts[leaf.fact].append(f"{leaf.op} {show(leaf.value)}")
    return tuple(
        (
            fact,
            VOCABULARY[fact].label,
            fact.replace("_total", "_band") if fact.endswith("_total") else "",
            ", ".join(thresholds),
        )
        for fact, thresholds in parts.items()
    )


# The same, ready to fill in: (fact, text when absent, head, band fact, tail, thresholds).
_Pieces = tuple[tuple[str, str, str, str, str, str], ...]


def _pieces(wording: _Wording) -> _Pieces:
    return tuple(
        (
            fact,
            f"{label} {thresholds or 'not recorded'}",
            f"{label} " if thresholds else f"{label}: ",
            band_fact,
            f" ({thresholds})" if thresholds else "",
            thresholds,
        )
        for fact, label, band_fact, thresholds in wording
    )


def _say(pieces: _Pieces, facts: Mapping[str, FactValue]) -> str:
    out = []
    for fact, absent, head, band_fact, tail, thresholds in pieces:
        if fact not in facts:
            out.append(absent)
            continue
        value = show(facts[fact])
        band = facts.get(band_fact) if band_fact else None
        if band is None:
            out.append(head + value + tail)
        elif thresholds:
            out.append(f"{head}{value} ({show(band)}; {thresholds})")
        else:
            out.append(f"{head}{value} ({show(band)})")
    return "; ".join(out)


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}


class _Explainer:
    """One rule's explanation, compiled: ``conditions.basis`` and ``describe`` for it.

    The condition's leaves are flattened once (with the negations above them), so finding
    the basis is one pass over a list; the wording of each distinct basis (which leaves held)
    is prepared once. Facts here are as ``facts_from_intake`` builds them (absent, never
    None). ``tests/test_explain.py`` checks it against the reference functions.
    """

    __slots__ = ("shown", "tests", "wordings")

    def __init__(self, condition: Condition) -> None:
        pairs = signed_leaves(condition)
        self.shown: list[Cmp | Recorded] = []
        self.tests: list[tuple[str, Callable[[Any, Any], Any] | None, Any, bool, int]] = []
        for leaf, negated in pairs:
            positive = negate_leaf(leaf) if negated else leaf
            if positive not in self.shown:
                self.shown.append(positive)
            index = self.shown.index(positive)
            if isinstance(leaf, Recorded):
                self.tests.append((leaf.fact, None, leaf.recorded, not negated, index))
            else:
                self.tests.append((leaf.fact, _OPS[leaf.op], leaf.value, not negated, index))
        self.wordings: dict[tuple[int, ...], tuple[_Pieces, tuple[str, ...]]] = {}

    def explain(self, facts: Mapping[str, FactValue]) -> tuple[str, dict[str, FactValue]]:
        """The basis in words, and the values that triggered the rule."""
        held: list[int] = []
        for fact, op, value, want, index in self.tests:
            if op is None:
                truth = (fact in facts) == value
            else:
                x = facts.get(fact)
                if x is None:
                    continue  # unknown: never part of the basis
                truth = op(x, value)  # a bool: facts are bools, numbers and strings
            if truth is want and index not in held:
                held.append(index)
        key = tuple(held)
        prepared = self.wordings.get(key)
        if prepared is None:
            leaves = [self.shown[i] for i in key]
            names = tuple(dict.fromkeys(leaf.fact for leaf in leaves))
            prepared = self.wordings[key] = (_pieces(_wording(leaves)), names)
        pieces, names = prepared
        triggered = {name: facts[name] for name in names if name in facts}
        return _say(pieces, facts), triggered


def propose(rule: Rule, facts: Mapping[str, FactValue]) -> Suggestion:
    """One rule's suggestion: the values that triggered it, then the rule's own explanation."""
    return _suggestions((memo_for(rule),), facts)[0]


def _suggestions(entries: Sequence[_RuleMemo], facts: Mapping[str, FactValue]) -> list[Suggestion]:
    """Each rule's memoised Suggestion for the values of the facts it depends on.

    A Suggestion is immutable all the way down (frozen model, FrozenList evidence, FrozenDict
    ``triggered_by``), so one instance is safely shared by every evaluation that needs it.
    """
    get = facts.get
    out = []
    for entry in entries:
        key = tuple(map(get, entry.deps))
        memo = entry.memo
        hit = memo.store.get(key)  # Memo.get, inline
        memo.calls += 1
        if hit is None:
            text, triggered = _explain_uncached(entry, facts)
            # Every value here comes from a validated rule and validated facts: no re-validation.
            values = entry.fields.copy()
            values["rationale"] = text
            values["triggered_by"] = FrozenDict(triggered)
            hit = trusted(Suggestion, values)
            memo.put(key, hit)
        out.append(hit)
    return out


def _explain_uncached(
    entry: _RuleMemo, facts: Mapping[str, FactValue]
) -> tuple[str, dict[str, FactValue]]:
    because, triggered = entry.explainer.explain(facts)
    text = entry.constant_rationale or rationale(entry.rule, facts)
    return (f"{because}. {text}" if because else text), triggered


class _RuleMemo:
    """Per rule: its static plan data, the facts its explanation can depend on, and the
    Suggestions already built.

    A rule's rationale and ``triggered_by`` are a pure function of the values of a few facts
    (the ones its condition and template name, plus the band of each instrument total), so
    they are computed once per distinct combination. The key is the tuple of those values
    (None when absent). That is exact for facts built by ``facts_from_intake``, the only
    facts the plan is built from: no value is None, each fact has one type (so True and 1
    never meet in one position) and numbers carry no -0.0. The memo holds whole Suggestions,
    which are immutable and so shared.
    """

    __slots__ = (
        "category",
        "code",
        "constant_rationale",
        "deps",
        "evidence",
        "explainer",
        "fields",
        "memo",
        "overriding",
        "plan_order",
        "priority",
        "rank",
        "rule",
        "rule_id",
        "title",
    )

    def __init__(self, rule: Rule) -> None:
        names = list(rule.facts)
        names += [n for n in _template(rule.rationale)[0] if n not in names]
        names += [
            band
            for n in rule.facts
            if n.endswith("_total") and (band := n.replace("_total", "_band")) not in names
        ]
        self.rule = rule
        self.deps = tuple(names)
        self.code = rule.code
        self.category = rule.category
        self.priority = rule.priority
        self.rank = PRIORITY_RANK[rule.priority]
        self.plan_order = (self.rank, rule.order)  # most critical first, then rulebook order
        self.overriding = _Overriding(rule.id, rule.overrides) if rule.overrides else None
        self.title = rule.suggestion_title
        self.rule_id = rule.id
        self.evidence = FrozenList(rule.evidence)  # immutable, so shared by its Suggestions
        self.explainer = _Explainer(rule.condition)
        self.constant_rationale = _template(rule.rationale)[1]
        # A Suggestion's fields in declaration order; rationale and triggered_by vary.
        self.fields: dict[str, Any] = {
            "code": self.code,
            "category": self.category,
            "priority": self.priority,
            "title": self.title,
            "rationale": "",
            "rule_id": self.rule_id,
            "evidence": self.evidence,
            "triggered_by": None,
        }
        self.memo: Memo[Suggestion] = Memo()


_MEMOS: dict[int, _RuleMemo] = {}


def memo_for(rule: Rule) -> _RuleMemo:
    """The plan data and memoised Suggestions of a rule (one entry per Rule object)."""
    entry = _MEMOS.get(id(rule))
    if entry is None or entry.rule is not rule:
        if len(_MEMOS) > 65536:
            _MEMOS.clear()
        entry = _MEMOS[id(rule)] = _RuleMemo(rule)
    return entry


class _Takes(dict[str, bool]):
    """For one override: whether it takes each code out (never a protected code).

    Filled on first use of each code: a screen of distinct patients builds thousands of
    distinct plans, and there are only as many (override, code) pairs as the rulebook has
    overrides times codes, so the pattern matching runs once per pair.
    """

    __slots__ = ("patterns",)

    def __init__(self, patterns: tuple[str, ...]) -> None:
        super().__init__()
        self.patterns = patterns

    def __missing__(self, code: str) -> bool:
        out = self[code] = not is_protected(code) and any(matches(p, code) for p in self.patterns)
        return out


_ACTION_SHOWN = {"defer": "deferred", "suppress": "suppressed"}


class _Overriding:
    """A rule's overrides, prepared for plans: per override, the codes it takes out, and the
    Suppression records it has made (immutable, so one serves every plan that needs it)."""

    __slots__ = ("by_rule", "overrides", "records")

    def __init__(self, rule_id: str, overrides: Sequence[Override]) -> None:
        self.by_rule = rule_id
        self.overrides = tuple(
            (_Takes(tuple(ov.patterns)), ov.reason, _ACTION_SHOWN[ov.action]) for ov in overrides
        )
        self.records: dict[tuple[int, str, str], Suppression] = {}

    def record(self, index: int, code: str, proposer: str) -> Suppression:
        key = (index, code, proposer)
        hit = self.records.get(key)
        if hit is None:
            _, reason, action = self.overrides[index]
            values = {
                "code": code,
                "rule_id": proposer,
                "by_rule": self.by_rule,
                "reason": reason,
                "action": action,
            }
            hit = self.records[key] = trusted(Suppression, values)
        return hit


class Plan:
    """What overrides make of one set of fired rules; facts do not enter into it.

    The proposals that survive (in plan order), the suppressions, the active codes and the
    fired rule ids. Kept per distinct set of fired rules (a few hundred
    in practice), which also keeps those rules alive, so their ids in the key stay theirs.
    """

    __slots__ = ("codes", "fired", "fired_ids", "suppressed", "survivors")

    def __init__(self, entries: Sequence[_RuleMemo]) -> None:
        """``entries``: the fired rules' memo entries (``memo_for``), in rulebook order."""
        best: dict[str, _RuleMemo] = {}
        overriding: list[tuple[tuple[int, int], _Overriding]] = []
        for entry in entries:
            current = best.get(entry.code)
            if current is None or entry.rank < current.rank:
                best[entry.code] = entry
            if entry.overriding is not None:
                overriding.append((entry.plan_order, entry.overriding))

        suppressed: list[Suppression] = []
        if len(overriding) > 1:
            overriding.sort(key=_FIRST)  # plan order: most critical first (orders are unique)
        for _, prepared in overriding:
            for index, (takes, _, _) in enumerate(prepared.overrides):
                for code in [c for c in best if takes[c]]:
                    suppressed.append(prepared.record(index, code, best.pop(code).rule_id))

        self.fired = tuple(entries)  # keeps the rules (entry.rule) alive
        self.fired_ids = tuple([e.rule_id for e in entries])
        self.survivors = tuple(sorted(best.values(), key=_PLAN_ORDER))
        self.codes = frozenset(best)
        self.suppressed = tuple(suppressed)


_PLAN_ORDER = operator.attrgetter("plan_order")
_FIRST = operator.itemgetter(0)


_PLANS: Memo[Plan] = Memo(limit=16384)


def plan_for(fired: Sequence[Rule]) -> Plan:
    """The (memoised) override plan for these fired rules, in rulebook order."""
    key = tuple(map(id, fired))
    plan = _PLANS.get(key)
    if plan is None:
        plan = Plan(list(map(memo_for, fired)))
        _PLANS.put(key, plan)
    return plan


def clear_caches() -> None:
    """Forget every memoised Suggestion and plan (they are rebuilt on demand)."""
    for entry in _MEMOS.values():  # engines hold these entries too
        entry.memo.clear()
    _MEMOS.clear()
    _PLANS.clear()


def plan_parts(
    fired: Sequence[Rule], facts: Mapping[str, FactValue]
) -> tuple[list[Suggestion], list[Suppression], frozenset[str], list[str]]:
    """``build_plan`` plus the active codes and the fired rule ids, for the Evaluation.

    ``facts`` must be as ``facts_from_intake`` builds them (the explanation memo relies on it,
    see ``_RuleMemo``).
    """
    return apply_plan(plan_for(fired), facts)


def apply_plan(
    plan: Plan, facts: Mapping[str, FactValue]
) -> tuple[list[Suggestion], list[Suppression], frozenset[str], list[str]]:
    """A plan's suggestions (explained with these facts), suppressions, codes and rule ids."""
    suggestions = _suggestions(plan.survivors, facts)
    return suggestions, list(plan.suppressed), plan.codes, list(plan.fired_ids)


def build_plan(
    fired: Sequence[Rule], facts: Mapping[str, FactValue]
) -> tuple[list[Suggestion], list[Suppression]]:
    """Proposals from the fired rules (in rulebook order), overrides applied, then ordered.

    Overrides depend only on which rules fired, so that part is computed once per distinct
    set of fired rules; every call still gets its own Suggestion and Suppression objects.
    """
    suggestions, suppressed, _, _ = plan_parts(fired, facts)
    return suggestions, suppressed
