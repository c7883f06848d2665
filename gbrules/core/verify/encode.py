"""A rulebook as SMT formulas (z3): facts, derived facts, rules, override plans, invariants.

One ``World`` is one intake, symbolically. Each modelled fact has two variables: whether it
was recorded, and its value (a boolean; an integer for whole numbers and enum values, by their
index; an integer count of ten-thousandths for decimal numbers, which the fact builder rounds
to 4 decimals, so every comparison is exact integer arithmetic). Values stay inside the
vocabulary's range; derived facts are tied to their declared definitions; the fact model's
impossible combinations are excluded.

A condition becomes two formulas, "is true" and "is false" (three-valued logic: neither means
unknown), and a rule fires when its condition is true, as in the engine. ``Plan`` mirrors
``gbrules.core.compiled.Plan``: a code is active when a fired rule proposes it and no fired
override takes it (protected codes are never taken); its priority and place in the plan come
from its most urgent, then earliest, proposer; a held code is deferred or suppressed by the
first fired overriding rule in plan order (most critical first, then rulebook order), and
within it by its first matching override.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import z3

from gbrules.core.rulebook import Rule
from gbrules.core.verify.factmodel import Cases, FactModel, Free, Truth
from gbrules.core.verify.invariants import (
    Every,
    Expr,
    FactTest,
    Negation,
    PlanTest,
    Some,
    covers,
    rule_text,
)
from gbrules.core.verify.shared import (
    PRIORITY_RANK,
    All,
    AnyOf,
    Cmp,
    Condition,
    FactSpec,
    FactValue,
    Not,
    Recorded,
    matches,
)

SCALE = 10_000  # decimal facts are rounded to 4 places by the fact builder

Pair = tuple[z3.BoolRef, z3.BoolRef]  # (is true, is false)


def scaled(value: float) -> int:
    return round(float(value) * SCALE)


class World:
    """One symbolic intake: recorded/value variables per fact and their constraints."""

    def __init__(self, model: FactModel, tag: str = "") -> None:
        self.model = model
        self.tag = tag
        self.rec: dict[str, z3.BoolRef] = {}
        self.val: dict[str, z3.ExprRef] = {}
        self.specs: dict[str, FactSpec] = {}
        self.constraints: list[z3.BoolRef] = []
        self._memo: dict[Condition, Pair] = {}
        for name, spec in model.vocabulary.items():
            if spec.type == "text":
                continue
            self.specs[name] = spec
            self.rec[name] = z3.Bool(f"{tag}{name}.recorded")
            if spec.type == "bool":
                self.val[name] = z3.Bool(f"{tag}{name}")
                continue
            v = z3.Int(f"{tag}{name}")
            self.val[name] = v
            if spec.type == "enum":
                self.constraints += [v >= 0, v < len(spec.values)]
            else:
                k = SCALE if spec.type == "number" else 1
                if spec.lo is not None:
                    self.constraints.append(v >= round(spec.lo * k))
                if spec.hi is not None:
                    self.constraints.append(v <= round(spec.hi * k))
        for name, definition in model.derived.items():
            rec, val = self.rec[name], self.val[name]
            if isinstance(definition, Truth):
                t, f = self.cond(definition.condition)
                self.constraints += [rec == z3.Or(t, f), val == t]
            elif isinstance(definition, Free):
                self.constraints.append(rec == self.cond(definition.recorded)[0])
            else:
                self.constraints += self._cases(rec, val, self.specs[name], definition)
        for imp in model.impossible:
            self.constraints.append(z3.Not(self.cond(imp.condition)[0]))

    def _cases(
        self, rec: z3.BoolRef, val: z3.ExprRef, spec: FactSpec, definition: Cases
    ) -> list[z3.BoolRef]:
        reach: z3.BoolRef = z3.BoolVal(True)  # every earlier case is false
        gives: list[z3.BoolRef] = []
        out: list[z3.BoolRef] = []
        for case in definition.cases:
            t, f = self.cond(case.when)
            here = z3.And(reach, t)
            gives.append(here)
            out.append(z3.Implies(here, val == self.const(spec, case.value)))
            reach = z3.And(reach, f)
        out.append(rec == z3.Or(gives))
        return out

    def const(self, spec: FactSpec, value: FactValue) -> z3.ExprRef:
        if spec.type == "bool":
            return z3.BoolVal(bool(value))
        if spec.type == "enum":
            return z3.IntVal(spec.values.index(str(value)))
        if spec.type == "number":
            return z3.IntVal(scaled(float(value)))
        return z3.IntVal(int(value))

    def cond(self, c: Condition) -> Pair:
        """(true, false) formulas of a condition in three-valued logic."""
        hit = self._memo.get(c)
        if hit is None:
            hit = self._memo[c] = self._cond(c)
        return hit

    def _cond(self, c: Condition) -> Pair:
        if isinstance(c, Recorded):
            t = self.rec[c.fact] if c.recorded else z3.Not(self.rec[c.fact])
            return t, z3.Not(t)
        if isinstance(c, Cmp):
            test = self._test(c)
            rec = self.rec[c.fact]
            return z3.And(rec, test), z3.And(rec, z3.Not(test))
        if isinstance(c, Not):
            t, f = self.cond(c.item)
            return f, t
        pairs = [self.cond(i) for i in c.items]
        ts, fs = [p[0] for p in pairs], [p[1] for p in pairs]
        if isinstance(c, All):
            return z3.And(ts), z3.Or(fs)
        assert isinstance(c, AnyOf)
        return z3.Or(ts), z3.And(fs)

    def _test(self, c: Cmp) -> z3.BoolRef:
        spec, v = self.specs[c.fact], self.val[c.fact]
        if c.op in ("in", "not in"):
            member = z3.Or([v == self.const(spec, x) for x in c.value])
            return member if c.op == "in" else z3.Not(member)
        k = self.const(spec, c.value)
        if c.op == "==":
            return v == k
        if c.op == "!=":
            return v != k
        if c.op == "<":
            return v < k
        if c.op == "<=":
            return v <= k
        if c.op == ">":
            return v > k
        return v >= k

    def value_of(self, model: z3.ModelRef, name: str) -> FactValue | None:
        """A fact's value in a solver model (None when not recorded there)."""
        if not z3.is_true(model.evaluate(self.rec[name], model_completion=True)):
            return None
        spec = self.specs[name]
        raw = model.evaluate(self.val[name], model_completion=True)
        if spec.type == "bool":
            return bool(z3.is_true(raw))
        n = raw.as_long()
        if spec.type == "enum":
            return str(spec.values[n])
        if spec.type == "number":
            return float(round(n / SCALE, 4)) + 0.0
        return int(n)

    def inputs_of(self, model: z3.ModelRef) -> dict[str, FactValue]:
        """The recorded input facts of a solver model: the counterexample's intake, as facts."""
        out: dict[str, FactValue] = {}
        for name in self.model.inputs:
            value = self.value_of(model, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class _CodePlan:
    proposed: z3.BoolRef
    active: z3.BoolRef
    held: z3.BoolRef
    deferred: z3.BoolRef
    rank: z3.ArithRef  # priority rank of the proposer that shows
    key: z3.ArithRef  # place in the plan: rank, then rulebook order


class Plan:
    """What the rules make of one World: fired rules, then the override plan (see module)."""

    def __init__(
        self, world: World, rules: Sequence[Rule], protected: Callable[[str], bool]
    ) -> None:
        """``protected``: the domain's test for a code no override may hold
        (``CodeVocabulary.is_protected``)."""
        self.world = world
        self.rules = tuple(rules)
        self.fired: dict[str, z3.BoolRef] = {r.id: world.cond(r.condition)[0] for r in rules}
        self.best: dict[str, z3.BoolRef] = {}
        by_code: dict[str, list[Rule]] = {}
        for r in rules:
            by_code.setdefault(r.code, []).append(r)
        overriders = sorted((r for r in rules if r.overrides), key=_plan_order)
        width = len(rules) + 1
        self.codes: dict[str, _CodePlan] = {}
        for code, proposers in by_code.items():
            ranked = sorted(proposers, key=_plan_order)
            earlier: list[z3.BoolRef] = []
            for r in ranked:
                self.best[r.id] = z3.And(self.fired[r.id], z3.Not(z3.Or(earlier)))
                earlier.append(self.fired[r.id])
            proposed = z3.Or([self.fired[r.id] for r in ranked])
            takers: list[tuple[z3.BoolRef, bool]] = []  # (fired, defers), in plan order
            if not protected(code):
                for r in overriders:
                    for ov in r.overrides:
                        if any(matches(p, code) for p in ov.patterns):
                            takers.append((self.fired[r.id], ov.action == "defer"))
                            break
            overridden = z3.Or([f for f, _ in takers])
            defers: z3.BoolRef = z3.BoolVal(False)
            for fired, is_defer in reversed(takers):
                defers = z3.If(fired, z3.BoolVal(is_defer), defers)
            rank: z3.ArithRef = z3.IntVal(_rank(ranked[-1]))
            key: z3.ArithRef = z3.IntVal(_rank(ranked[-1]) * width + ranked[-1].order)
            for r in reversed(ranked):
                rank = z3.If(self.fired[r.id], _rank(r), rank)
                key = z3.If(self.fired[r.id], _rank(r) * width + r.order, key)
            held = z3.And(proposed, overridden)
            self.codes[code] = _CodePlan(
                proposed=proposed,
                active=z3.And(proposed, z3.Not(overridden)),
                held=held,
                deferred=z3.And(held, defers),
                rank=rank,
                key=key,
            )

    def matching(self, pattern: str) -> list[str]:
        return [c for c in self.codes if covers(pattern, c)]

    def active(self, pattern: str) -> z3.BoolRef:
        return z3.Or([self.codes[c].active for c in self.matching(pattern)])

    def first(self, code: str) -> z3.BoolRef:
        mine = self.codes.get(code)
        if mine is None:
            return z3.BoolVal(False)
        others = [
            z3.Implies(p.active, mine.key < p.key) for c, p in self.codes.items() if c != code
        ]
        return z3.And(mine.active, *others)

    def immediate(self) -> z3.BoolRef:
        critical = PRIORITY_RANK["critical"]
        return z3.Or([z3.And(p.active, p.rank == critical) for p in self.codes.values()])

    def test(self, t: PlanTest) -> z3.BoolRef:
        """A plan predicate (see ``invariants``) as a formula."""
        if t.predicate == "immediate":
            return self.immediate()
        if t.predicate == "active":
            return self.active(t.pattern)
        if t.predicate == "proposed":
            return z3.Or([self.codes[c].proposed for c in self.matching(t.pattern)])
        if t.predicate in ("deferred", "suppressed", "held"):
            parts = []
            for c in self.matching(t.pattern):
                p = self.codes[c]
                done = {
                    "deferred": p.deferred,
                    "suppressed": z3.And(p.held, z3.Not(p.deferred)),
                    "held": p.held,
                }[t.predicate]
                parts.append(z3.Implies(p.proposed, done))
            return z3.And(parts)
        if t.predicate == "first":
            return self.first(t.pattern)
        if t.predicate == "priority":
            shown = self.codes.get(t.pattern)
            if shown is None:
                return z3.BoolVal(False)
            ranks = [shown.rank == PRIORITY_RANK[x] for x in t.priorities]
            return z3.And(shown.active, z3.Or(ranks))
        rx = re.compile(t.regex, re.IGNORECASE)
        saying = [
            z3.And(self.best[r.id], self.codes[r.code].active)
            for r in self.rules
            if covers(t.pattern, r.code) and rx.search(rule_text(r))
        ]
        return z3.Or(saying)

    def expr(self, e: Expr) -> Pair:
        """(true, false) formulas of an invariant expression."""
        if isinstance(e, FactTest):
            assert e.condition is not None, "a pending invariant is never encoded"
            return self.world.cond(e.condition)
        if isinstance(e, PlanTest):
            b = self.test(e)
            return b, z3.Not(b)
        if isinstance(e, Negation):
            t, f = self.expr(e.item)
            return f, t
        pairs = [self.expr(i) for i in e.items]
        ts, fs = [p[0] for p in pairs], [p[1] for p in pairs]
        if isinstance(e, Every):
            return z3.And(ts), z3.Or(fs)
        assert isinstance(e, Some)
        return z3.Or(ts), z3.And(fs)


def _rank(rule: Rule) -> int:
    return PRIORITY_RANK[rule.priority]


def _plan_order(rule: Rule) -> tuple[int, int]:
    return (_rank(rule), rule.order)
