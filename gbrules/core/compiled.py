"""A compiled rule (its explainer, its Suggestion memo, its override data) and the override
plan of a set of fired rules: from fired rules to the final plan.

Overrides always run after every proposal exists, so no rule can "talk past" them by firing
later. They run most-critical rule first, so a safety rule's reason is the one recorded.
Protected codes are refused at load time and skipped here too.

Every cache here belongs to one compiled rulebook (``CompiledRule`` objects are made by its
Engine), is bounded, and holds only values that are a pure function of the rule and the facts
(results are immutable, so they are shared); nothing is kept at module level.
"""

from __future__ import annotations

import operator
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gbrules.core.language import Cmp, Condition, Recorded, negate_leaf, signed_leaves
from gbrules.core.memo import Memo
from gbrules.core.result import FrozenDict, FrozenList, Suggestion, Suppression, trusted
from gbrules.core.rulebook import Override, Rule
from gbrules.core.vocabulary import PRIORITY_RANK, CodeVocabulary, FactValue, Vocabulary, matches


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


def _template(template: str) -> tuple[tuple[str, ...], str | None]:
    """The fact names a rationale template refers to, and its text when it refers to none.

    Computed once per compiled rule: formatting then looks up only those facts.
    """
    names: list[str] = []
    for _, field, _, _ in _FMT.parse(template):
        if field is not None:
            name = field.split(".", 1)[0].split("[", 1)[0]
            if name not in names:
                names.append(name)
    constant = _FMT.vformat(template, (), _Shown()) if not names else None
    return tuple(names), constant


def rationale(template: str, names: Sequence[str], facts: Mapping[str, FactValue]) -> str:
    """A rationale template filled in with the facts it ``names`` ("not recorded" if absent)."""
    values: dict[str, Any] = _Shown()
    for name in names:
        if name in facts:
            v = facts[name]
            values[name] = v if isinstance(v, int | float) and not isinstance(v, bool) else show(v)
    return _FMT.vformat(template, (), values)


def describe(
    leaves: Sequence[Cmp | Recorded], facts: Mapping[str, FactValue], vocabulary: Vocabulary
) -> str:
    """The basis in words, one entry per fact: "PHQ-9 total 16 (moderately severe; >= 10)".

    Thresholds on the same fact are merged ("CRP (mg/L) 4.2 (> 3, <= 10)"), and a fact with a
    band (``FactSpec.band``) carries it.
    """
    return _say(_pieces(_wording(leaves, vocabulary)), facts)


# Per fact of a basis: (fact, label, its band fact or "", thresholds in words).
_Wording = tuple[tuple[str, str, str, str], ...]


def _wording(leaves: Sequence[Cmp | Recorded], vocabulary: Vocabulary) -> _Wording:
    """What ``describe`` says about these leaves, before any fact value is known."""
    parts: dict[str, list[str]] = {}
    for leaf in leaves:
        parts.setdefault(leaf.fact, [])
        if isinstance(leaf, Recorded):
            parts[leaf.fact].append("recorded" if leaf.recorded else "not recorded")
        elif leaf.op not in ("==", "!=", "in", "not in") and not isinstance(leaf.value, tuple):
            parts[leaf.fact].append(f"{leaf.op} {show(leaf.value)}")
    return tuple(
        (fact, vocabulary[fact].label, vocabulary[fact].band, ", ".join(thresholds))
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


WORDINGS = 1024  # prepared wordings kept per rule (a rule has a handful of distinct bases)


class _Explainer:
    """One rule's explanation, compiled: ``language.basis`` and ``describe`` for it.

    The condition's leaves are flattened once (with the negations above them), so finding
    the basis is one pass over a list; the wording of each distinct basis (which leaves held)
    is prepared once (at most 2**leaves of them). Facts here are as a domain reader builds them
    (absent, never None). ``tests/test_explain.py`` checks it against the reference functions.
    """

    __slots__ = ("shown", "tests", "vocabulary", "wordings")

    def __init__(self, condition: Condition, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
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
            if len(self.wordings) >= WORDINGS:
                self.wordings.clear()
            leaves = [self.shown[i] for i in key]
            names = tuple(dict.fromkeys(leaf.fact for leaf in leaves))
            prepared = self.wordings[key] = (_pieces(_wording(leaves, self.vocabulary)), names)
        pieces, names = prepared
        triggered = {name: facts[name] for name in names if name in facts}
        return _say(pieces, facts), triggered


def suggestions(
    entries: Sequence[CompiledRule], facts: Mapping[str, FactValue]
) -> list[Suggestion]:
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
            hit = entry.suggest(facts)
            memo.put(key, hit)
        out.append(hit)
    return out


class CompiledRule:
    """One rule, compiled for one engine: its static plan data, the facts its explanation can
    depend on, its explainer, and the Suggestions already built.

    A rule's rationale and ``triggered_by`` are a pure function of the values of a few facts
    (the ones its condition and template name, plus the band of each), so they are computed
    once per distinct combination. The key is the tuple of those values (None when absent).
    That is exact for facts built by a domain reader, the only facts the plan is built from:
    no value is None, each fact has one type (so True and 1 never meet in one position) and
    numbers carry no -0.0. The memo holds whole Suggestions, which are immutable and so shared.
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
        "rationale_names",
        "rule",
        "rule_id",
        "title",
    )

    def __init__(self, rule: Rule, vocabulary: Vocabulary, codes: CodeVocabulary) -> None:
        names = list(rule.facts)
        self.rationale_names, self.constant_rationale = _template(rule.rationale)
        names += [n for n in self.rationale_names if n not in names]
        names += [band for n in rule.facts if (band := vocabulary[n].band) and band not in names]
        self.rule = rule
        self.deps = tuple(names)
        self.code = rule.code
        self.category = rule.category
        self.priority = rule.priority
        self.rank = PRIORITY_RANK[rule.priority]
        self.plan_order = (self.rank, rule.order)  # most critical first, then rulebook order
        self.overriding = _Overriding(rule.id, rule.overrides, codes) if rule.overrides else None
        self.title = rule.suggestion_title
        self.rule_id = rule.id
        self.evidence = FrozenList(rule.evidence)  # immutable, so shared by its Suggestions
        self.explainer = _Explainer(rule.condition, vocabulary)
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

    def suggest(self, facts: Mapping[str, FactValue]) -> Suggestion:
        """This rule's Suggestion for these facts, built (not looked up)."""
        because, triggered = self.explainer.explain(facts)
        text = self.constant_rationale
        if text is None:
            text = rationale(self.rule.rationale, self.rationale_names, facts)
        values = self.fields.copy()
        values["rationale"] = f"{because}. {text}" if because and text else because or text
        values["triggered_by"] = FrozenDict(triggered)
        # Every value comes from a validated rule and validated facts: no re-validation.
        return trusted(Suggestion, values)


class _Takes(dict[str, bool]):
    """For one override: whether it takes each code out (never a protected code).

    Filled on first use of each code: a screen of distinct patients builds thousands of
    distinct plans, and there are only as many (override, code) pairs as the rulebook has
    overrides times codes, so the pattern matching runs once per pair.
    """

    __slots__ = ("codes", "patterns")

    def __init__(self, patterns: tuple[str, ...], codes: CodeVocabulary) -> None:
        super().__init__()
        self.patterns = patterns
        self.codes = codes

    def __missing__(self, code: str) -> bool:
        out = self[code] = not self.codes.is_protected(code) and any(
            matches(p, code) for p in self.patterns
        )
        return out


_ACTION_SHOWN = {"defer": "deferred", "suppress": "suppressed"}


class _Overriding:
    """A rule's overrides, prepared for plans: per override, the codes it takes out, and the
    Suppression records it has made (immutable, so one serves every plan that needs it)."""

    __slots__ = ("by_rule", "overrides", "records")

    def __init__(self, rule_id: str, overrides: Sequence[Override], codes: CodeVocabulary) -> None:
        self.by_rule = rule_id
        self.overrides = tuple(
            (_Takes(tuple(ov.patterns), codes), ov.reason, _ACTION_SHOWN[ov.action])
            for ov in overrides
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
    fired rule ids. Its engine keeps it per distinct set of fired rules (``Engine._plan``).
    """

    __slots__ = ("codes", "fired_ids", "suppressed", "survivors")

    def __init__(self, entries: Sequence[CompiledRule]) -> None:
        """``entries``: the fired rules, compiled, in rulebook order."""
        best: dict[str, CompiledRule] = {}
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

        self.fired_ids = tuple([e.rule_id for e in entries])
        self.survivors = tuple(sorted(best.values(), key=_PLAN_ORDER))
        self.codes = frozenset(best)
        self.suppressed = tuple(suppressed)


_PLAN_ORDER = operator.attrgetter("plan_order")
_FIRST = operator.itemgetter(0)
