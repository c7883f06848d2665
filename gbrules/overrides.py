"""From fired rules to the final plan: proposals, then the declarative overrides, then order.

Overrides always run after every proposal exists, so no rule can "talk past" them by firing
later. They run most-critical rule first, so a safety rule's reason is the one recorded.
Protected codes (safety.*, referral.urgent_gi) are refused at load time and skipped here too.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

from gbrules.codes import PRIORITY_RANK, is_protected, matches
from gbrules.conditions import Cmp, Recorded, basis
from gbrules.evaluation import Suggestion, Suppression
from gbrules.facts import VOCABULARY, FactValue
from gbrules.rulebook import Rule


class _Shown(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "not recorded"


def show(value: FactValue) -> str:
    """A fact value in plain words for a rationale."""
    if isinstance(value, bool):
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


def rationale(rule: Rule, facts: Mapping[str, FactValue]) -> str:
    values: dict[str, Any] = _Shown()
    for name in facts:
        v = facts[name]
        values[name] = v if isinstance(v, int | float) and not isinstance(v, bool) else show(v)
    return _FMT.vformat(rule.rationale, (), values)


def describe(leaves: Sequence[Cmp | Recorded], facts: Mapping[str, FactValue]) -> str:
    """The basis in words, one entry per fact: "PHQ-9 total 16 (moderately severe; >= 10)".

    Thresholds on the same fact are merged ("CRP (mg/L) 4.2 (> 3, <= 10)"), and instrument
    totals carry their severity band.
    """
    parts: dict[str, list[str]] = {}
    for leaf in leaves:
        parts.setdefault(leaf.fact, [])
        if isinstance(leaf, Recorded):
            parts[leaf.fact].append("recorded" if leaf.recorded else "not recorded")
        elif leaf.op not in ("==", "!=", "in", "not in") and not isinstance(leaf.value, tuple):
            parts[leaf.fact].append(f"{leaf.op} {show(leaf.value)}")
    out = []
    for fact, thresholds in parts.items():
        label = VOCABULARY[fact].label
        if fact not in facts:
            out.append(f"{label} {', '.join(thresholds) or 'not recorded'}")
            continue
        value = facts[fact]
        band = facts.get(fact.replace("_total", "_band")) if fact.endswith("_total") else None
        notes = ([show(band)] if band is not None else []) + (
            [", ".join(thresholds)] if thresholds else []
        )
        suffix = f" ({'; '.join(notes)})" if notes else ""
        out.append(
            f"{label}: {show(value)}{suffix}"
            if not thresholds
            else f"{label} {show(value)}{suffix}"
        )
    return "; ".join(out)


def propose(rule: Rule, facts: Mapping[str, FactValue]) -> Suggestion:
    """One rule's suggestion: the values that triggered it, then the rule's own explanation."""
    leaves = basis(rule.condition, facts)
    because = describe(leaves, facts)
    return Suggestion(
        code=rule.code,
        category=rule.category,
        priority=rule.priority,
        title=rule.suggestion_title,
        rationale=f"{because}. {rationale(rule, facts)}" if because else rationale(rule, facts),
        rule_id=rule.id,
        evidence=list(rule.evidence),
        triggered_by={leaf.fact: facts[leaf.fact] for leaf in leaves if leaf.fact in facts},
    )


def build_plan(
    fired: Sequence[Rule], facts: Mapping[str, FactValue]
) -> tuple[list[Suggestion], list[Suppression]]:
    """Proposals from the fired rules (in rulebook order), overrides applied, then ordered."""
    best: dict[str, tuple[Rule, Suggestion]] = {}
    for rule in fired:
        current = best.get(rule.code)
        if current is None or PRIORITY_RANK[rule.priority] < PRIORITY_RANK[current[0].priority]:
            best[rule.code] = (rule, propose(rule, facts))

    suppressed: list[Suppression] = []
    by_severity = sorted(
        (r for r in fired if r.overrides), key=lambda r: (PRIORITY_RANK[r.priority], r.order)
    )
    for rule in by_severity:
        for ov in rule.overrides:
            for code in [c for c in best if any(matches(p, c) for p in ov.patterns)]:
                if is_protected(code):
                    continue
                proposer, _ = best.pop(code)
                suppressed.append(
                    Suppression(
                        code=code,
                        rule_id=proposer.id,
                        by_rule=rule.id,
                        reason=ov.reason,
                        action="deferred" if ov.action == "defer" else "suppressed",
                    )
                )

    ordered = sorted(best.values(), key=lambda rs: (PRIORITY_RANK[rs[0].priority], rs[0].order))
    return [s for _, s in ordered], suppressed
