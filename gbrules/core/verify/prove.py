"""Prove a rulebook's invariants for every intake, or show one that breaks each.

``Prover`` puts a rulebook and a fact model into one SMT solver (``encode``) and asks, per
invariant, for an intake whose premise holds and whose conclusion does not. No such intake:
*proved*, for every intake the vocabulary admits. Otherwise the solver's answer is shrunk to
few recorded facts, turned into an input document by the domain, **re-run through the real
engine**, and shown only if the engine's plan breaks the invariant too (a *counterexample*);
if the engine disagrees, the result is an *encoding error*, never a false alarm.

The same encoding answers a reviewer's questions about rules (``dead_rules``,
``always_overridden``, ``never_shown``, ``equivalent_rules``) and "which intakes get X but
not Y" (``find``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import z3

from gbrules.core.engine import Engine
from gbrules.core.errors import IntakeError, RulebookError
from gbrules.core.result import Evaluation
from gbrules.core.rulebook import Rule, Rulebook
from gbrules.core.verify.domain import Document, ProofDomain
from gbrules.core.verify.encode import Plan, World
from gbrules.core.verify.factmodel import Free
from gbrules.core.verify.invariants import (
    Expr,
    Invariant,
    InvariantBook,
    Outcome,
    evaluate,
    invariants_path,
    load_invariants,
    then_steps,
)
from gbrules.core.verify.shared import Condition, FactValue, Recorded, leaves

Status = Literal["proved", "counterexample", "pending", "encoding-error"]


@dataclass(frozen=True)
class Counterexample:
    """An intake the engine confirms breaks an invariant, with what the engine did."""

    intake: Document
    fired: tuple[str, ...]
    plan: tuple[str, ...]  # active suggestions, in order, as "code (priority)"
    held: tuple[str, ...]  # "code (deferred by rule)"
    scenario: str | None  # ready-to-paste Gherkin, None when no step can state the invariant
    fuller: Document | None = None  # S8 only: the same intake with more recorded
    rule: str | None = None  # S8 only: the rule that fired only with less recorded

    def text(self) -> str:
        """The counterexample in words, for a terminal or an error message."""
        lines = []
        if self.fuller is not None:
            lines += [
                f"  rule {self.rule} fires on this intake ...",
                f"    {json.dumps(self.intake, sort_keys=True)}",
                "  ... but not once more is recorded:",
                f"    {json.dumps(self.fuller, sort_keys=True)}",
            ]
            return "\n".join(lines)
        lines.append(f"  intake: {json.dumps(self.intake, sort_keys=True)}")
        lines.append(f"  fired:  {', '.join(self.fired) or 'no rule'}")
        lines.append(f"  plan:   {', '.join(self.plan) or 'no suggestion'}")
        if self.held:
            lines.append(f"  held:   {', '.join(self.held)}")
        if self.scenario:
            lines.append("  scenario (paste into a features/*.feature file):")
            lines += [f"  {line}" for line in self.scenario.splitlines()]
        else:
            lines.append("  scenario: no step can state this invariant; see the intake above")
        return "\n".join(lines)


@dataclass(frozen=True)
class Result:
    invariant: Invariant
    status: Status
    seconds: float
    counterexample: Counterexample | None = None
    detail: str = ""

    @property
    def blocking(self) -> bool:
        """Whether this result stops a rulebook: a required invariant not proved, or any
        encoding error (the verifier cannot be trusted on this rulebook)."""
        if self.status == "encoding-error":
            return True
        return self.invariant.pending is None and self.status != "proved"

    @property
    def shown_status(self) -> str:
        if self.invariant.pending is None or self.status == "encoding-error":
            return self.status
        if not self.invariant.checkable:
            return "pending"
        found = "proved: drop the pending mark" if self.status == "proved" else self.status
        return f"pending ({found})"


@dataclass(frozen=True)
class Report:
    rulebook: str
    results: tuple[Result, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not any(r.blocking for r in self.results)

    def broken(self) -> list[Result]:
        return [r for r in self.results if r.blocking]


@dataclass(frozen=True)
class RuleFinding:
    """A fact about a rule the solver established (dead, always overridden, ...)."""

    kind: str
    rule: Rule
    message: str
    other: Rule | None = None


class EncodingError(RuntimeError):
    """The solver's model and the engine disagree; the verifier's answer is not trusted."""


class Prover:
    """One rulebook and one fact model in one solver; reuse it for every question."""

    def __init__(
        self, rulebook: Rulebook, domain: ProofDomain, engine: Engine | None = None
    ) -> None:
        self.rulebook = rulebook
        self.domain = domain
        self._engine = engine
        self.world = World(domain.model)
        self.plan = Plan(self.world, rulebook.rules, rulebook.domain.codes.is_protected)
        self.solver = z3.Solver()
        self.solver.add(self.world.constraints)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(self.rulebook)
        return self._engine

    # ------------------------------------------------------------ invariants

    def check(self, inv: Invariant) -> Result:
        """Prove one invariant, or find an engine-confirmed counterexample."""
        start = time.perf_counter()
        if not inv.checkable:
            return Result(inv, "pending", 0.0, detail=inv.pending or "")
        try:
            if inv.kind == "monotone":
                status, cx, detail = self._monotone()
            elif inv.kind == "function":
                status, cx, detail = self._function()
            else:
                status, cx, detail = self._implication(inv)
        except EncodingError as exc:
            status, cx, detail = "encoding-error", None, str(exc)
        if inv.pending and status != "encoding-error":
            detail = "; ".join(x for x in (inv.pending, detail) if x)
        return Result(inv, status, time.perf_counter() - start, cx, detail)

    def check_all(self, book: InvariantBook) -> Report:
        start = time.perf_counter()
        results = tuple(self.check(inv) for inv in book)
        return Report(self.rulebook.version_label, results, time.perf_counter() - start)

    def violation(self, inv: Invariant) -> z3.BoolRef:
        """The formula "this intake breaks the invariant" (implication invariants)."""
        premise = self.plan.expr(inv.premise)[0] if inv.premise is not None else z3.BoolVal(True)
        conclusion = (
            self.plan.expr(inv.conclusion)[0] if inv.conclusion is not None else z3.BoolVal(True)
        )
        return z3.And(premise, z3.Not(conclusion))

    def _implication(self, inv: Invariant) -> tuple[Status, Counterexample | None, str]:
        goal = self.violation(inv)
        if not self._sat(goal):
            return "proved", None, ""
        model = self._minimal(goal, [self.world])
        facts = self.world.inputs_of(model)
        doc, ev = self._run(facts)
        outcome = Outcome.of(ev, self.rulebook)
        if inv.holds_for(outcome):
            raise EncodingError(
                f"the solver found {json.dumps(doc, sort_keys=True)} but the engine's plan "
                f"({', '.join(s.code for s in ev.suggestions)}) keeps {inv.id}; "
                + self._mismatch(model, ev)
            )
        steps = then_steps(inv, outcome)
        scenario = self._scenario(inv, doc, steps) if steps else None
        return "counterexample", _counterexample(ev, doc, scenario), ""

    def _monotone(self) -> tuple[Status, Counterexample | None, str]:
        """S8: recording less never makes a rule fire, unless the rule looks at recording."""
        model_ = self.domain.model
        less = World(model_, "less.")
        link = [
            z3.Implies(less.rec[f], z3.And(self.world.rec[f], less.val[f] == self.world.val[f]))
            for f in model_.inputs
        ]
        moving = self._non_monotone_facts(less, link)
        watched = [
            r
            for r in self.rulebook.rules
            if not any(isinstance(leaf, Recorded) for leaf in leaves(r.condition))
            and not moving.intersection(r.facts)
        ]
        gains = {
            r.id: z3.And(less.cond(r.condition)[0], z3.Not(self.world.cond(r.condition)[0]))
            for r in watched
        }
        goal = z3.And(*less.constraints, *link, z3.Or(list(gains.values())))
        if not self._sat(goal):
            return "proved", None, f"{len(watched)} rules checked"
        model = self._minimal(goal, [self.world])
        fuller, less_facts = self.world.inputs_of(model), less.inputs_of(model)
        doc_full, ev_full = self._run(fuller)
        doc_less, ev_less = self._run(less_facts)
        gained = [r for r in ev_less.fired_rules if r in gains and r not in ev_full.fired_rules]
        if not gained:
            raise EncodingError(
                f"the solver says recording less adds a rule for {json.dumps(doc_less)} "
                f"(more: {json.dumps(doc_full)}), the engine does not"
            )
        cx = Counterexample(
            intake=doc_less,
            fired=tuple(ev_less.fired_rules),
            plan=_plan_of(ev_less),
            held=_held_of(ev_less),
            scenario=None,
            fuller=doc_full,
            rule=gained[0],
        )
        return "counterexample", cx, ""

    def _non_monotone_facts(self, less: World, link: Sequence[z3.BoolRef]) -> set[str]:
        """Derived facts that recording less can change (not just make unknown): a rule
        reading one is about what was recorded, as much as one saying ``is missing``."""
        out = set()
        for name in self.domain.model.derived:
            changed = z3.And(
                less.rec[name],
                z3.Or(z3.Not(self.world.rec[name]), less.val[name] != self.world.val[name]),
            )
            if self._sat(z3.And(*less.constraints, *link, changed)):
                out.add(name)
        return out

    def _function(self) -> tuple[Status, Counterexample | None, str]:
        """S9, the model's half: the plan is a function of the recorded facts (no free choice
        anywhere in derived facts, merging, overrides or order). Byte-identical output is the
        engine's half, tested on samples."""
        model_ = self.domain.model
        twin = World(model_, "twin.")
        twin_plan = Plan(twin, self.rulebook.rules, self.rulebook.domain.codes.is_protected)
        same = [
            z3.And(
                twin.rec[f] == self.world.rec[f],
                z3.Implies(self.world.rec[f], twin.val[f] == self.world.val[f]),
            )
            for f in model_.inputs
        ]
        # A free (arithmetic) derived fact is a function of the inputs too, not a choice.
        same += [
            z3.Implies(self.world.rec[f], twin.val[f] == self.world.val[f])
            for f, d in model_.derived.items()
            if isinstance(d, Free)
        ]
        differs = []
        for code, mine in self.plan.codes.items():
            theirs = twin_plan.codes[code]
            differs += [
                mine.active != theirs.active,
                mine.deferred != theirs.deferred,
                z3.And(mine.active, z3.Or(mine.key != theirs.key, mine.rank != theirs.rank)),
            ]
        goal = z3.And(*twin.constraints, *same, z3.Or(differs))
        if self._sat(goal):
            raise EncodingError("two intakes with the same recorded facts get different plans")
        return "proved", None, "the plan is a function of the recorded facts"

    # ------------------------------------------------------------ rules

    def dead_rules(self) -> list[RuleFinding]:
        """Rules no valid intake fires."""
        return [
            RuleFinding("dead", r, "no intake can make this rule fire")
            for r in self.rulebook.rules
            if not self._sat(self.plan.fired[r.id])
        ]

    def always_overridden(self, dead: Iterable[Rule] = ()) -> list[RuleFinding]:
        """Rules that can fire, but whose suggestion an override always takes out."""
        skip = {r.id for r in dead}
        out = []
        for r in self.rulebook.rules:
            if r.id in skip:
                continue
            kept = z3.And(self.plan.fired[r.id], z3.Not(self.plan.codes[r.code].held))
            if not self._sat(kept):
                out.append(RuleFinding("always-overridden", r, "an override always takes it out"))
        return out

    def never_shown(self, skip: Iterable[Rule] = ()) -> list[RuleFinding]:
        """Rules that can fire, are not always overridden, but whose suggestion never shows:
        another rule with the same code always fires with it and takes precedence."""
        ids = {r.id for r in skip}
        out = []
        for r in self.rulebook.rules:
            if r.id in ids:
                continue
            shown = z3.And(self.plan.best[r.id], self.plan.codes[r.code].active)
            if not self._sat(shown):
                out.append(
                    RuleFinding(
                        "never-shown",
                        r,
                        f"another rule proposing {r.code} always fires with it and is shown",
                    )
                )
        return out

    def equivalent_rules(self, same_code_only: bool = False) -> list[RuleFinding]:
        """Pairs of rules that fire on exactly the same intakes (dead rules left out).

        Rules are first told apart on sample intakes (one per rule that fires); only pairs
        the samples cannot separate go to the solver.
        """
        fired = self.plan.fired
        live: list[Rule] = []
        samples: list[z3.ModelRef] = []
        for r in self.rulebook.rules:
            self.solver.push()
            self.solver.add(fired[r.id])
            if self.solver.check() == z3.sat:
                live.append(r)
                samples.append(self.solver.model())
            self.solver.pop()

        def signature(r: Rule) -> tuple[bool, ...]:
            f = fired[r.id]
            return tuple(z3.is_true(m.evaluate(f, model_completion=True)) for m in samples)

        out = []
        for i, a in enumerate(live):
            for b in live[i + 1 :]:
                if same_code_only and a.code != b.code:
                    continue
                if signature(a) != signature(b):
                    continue
                differ = fired[a.id] != fired[b.id]
                self.solver.push()
                self.solver.add(differ)
                found = self.solver.check() == z3.sat
                if found:
                    samples.append(self.solver.model())
                self.solver.pop()
                if not found:
                    out.append(
                        RuleFinding(
                            "equivalent", b, f"fires on exactly the same intakes as {a.id}", a
                        )
                    )
        return out

    # ------------------------------------------------------------ queries

    def find(self, exprs: Sequence[Expr]) -> tuple[Document, Evaluation] | None:
        """A minimal intake on which every expression is true (engine-confirmed), or None."""
        goal = z3.And([self.plan.expr(e)[0] for e in exprs])
        if not self._sat(goal):
            return None
        model = self._minimal(goal, [self.world])
        doc, ev = self._run(self.world.inputs_of(model))
        outcome = Outcome.of(ev, self.rulebook)
        if not all(evaluate(e, outcome) is True for e in exprs):
            raise EncodingError(
                f"the solver found {json.dumps(doc, sort_keys=True)}, the engine disagrees; "
                + self._mismatch(model, ev)
            )
        return doc, ev

    def model_of(self, inputs: Mapping[str, FactValue]) -> z3.ModelRef:
        """The solver's model of one concrete intake (its recorded input facts): what the
        encoding says every rule and plan predicate is for it (tests compare it with the
        engine). A free (arithmetic) derived fact given in ``inputs`` is fixed too."""
        fixed = []
        for name, definition in self.domain.model.derived.items():
            if isinstance(definition, Free) and name in inputs:
                value = self.world.const(self.world.specs[name], inputs[name])
                fixed += [self.world.rec[name], self.world.val[name] == value]
        for name in self.domain.model.inputs:
            rec = self.world.rec[name]
            if name in inputs:
                value = self.world.const(self.world.specs[name], inputs[name])
                fixed += [rec, self.world.val[name] == value]
            else:
                fixed.append(z3.Not(rec))
        self.solver.push()
        try:
            self.solver.add(fixed)
            if self.solver.check() != z3.sat:
                raise EncodingError(f"the fact model excludes these facts: {dict(inputs)}")
            return self.solver.model()
        finally:
            self.solver.pop()

    def satisfiable(self, cond: Condition) -> bool:
        """Whether some valid intake makes a condition true."""
        return self._sat(self.world.cond(cond)[0])

    # ------------------------------------------------------------ helpers

    def _sat(self, goal: z3.BoolRef) -> bool:
        self.solver.push()
        self.solver.add(goal)
        try:
            answer = self.solver.check()
        finally:
            self.solver.pop()
        if answer == z3.unknown:  # pragma: no cover - the encoding is decidable (ints, bools)
            raise EncodingError(f"the solver could not decide: {self.solver.reason_unknown()}")
        return bool(answer == z3.sat)

    def _minimal(self, goal: z3.BoolRef, worlds: Sequence[World]) -> z3.ModelRef:
        """A model of ``goal`` with as few recorded input facts as possible."""
        opt = z3.Optimize()
        opt.add(self.world.constraints)
        opt.add(goal)
        for w in worlds:
            for name in self.domain.model.inputs:
                if name not in self.domain.required:
                    opt.add_soft(z3.Not(w.rec[name]), weight=100)
            for name, value in self.domain.typical.items():
                opt.add_soft(w.val[name] == w.const(w.specs[name], value), weight=1)
        if opt.check() != z3.sat:  # pragma: no cover - the goal was just found satisfiable
            raise EncodingError("the solver lost its own counterexample while shrinking it")
        return opt.model()

    def _run(self, facts: Mapping[str, FactValue]) -> tuple[Document, Evaluation]:
        doc = self.domain.to_input(facts)
        try:
            return doc, self.engine.evaluate(doc)
        except IntakeError as exc:
            raise EncodingError(
                f"the solver's intake {json.dumps(doc, sort_keys=True)} is not valid: "
                + "; ".join(str(e) for e in exc.errors)
            ) from None

    def _mismatch(self, model: z3.ModelRef, ev: Evaluation) -> str:
        wrong = []
        for name in self.world.rec:
            mine = self.world.value_of(model, name)
            if mine != ev.facts.get(name):
                wrong.append(f"{name}: solver {mine!r}, engine {ev.facts.get(name)!r}")
        return ("facts differ: " + "; ".join(wrong)) if wrong else "the facts agree"

    def _scenario(self, inv: Invariant, doc: Document, steps: Sequence[str]) -> str:
        given = list(self.domain.given_steps(doc))
        base, packs = self._sources()
        given += [f'the site rule pack "{p}"' for p in packs]
        lines = [f"Scenario: {inv.id} holds ({_short(inv.wording)})"]
        label = self.rulebook.version_label
        lines.append(f"  # a counterexample to {inv.id} (gbrules rules prove, rulebook {label})")
        if base is not None:
            lines.append(f"  # runs on the rulebook in {base}, not the default one")
        for i, step in enumerate(given):
            lines.append(f"  {'Given' if i == 0 else 'And'} {step}")
        lines.append("  When the plan is drafted")
        for i, step in enumerate(steps):
            lines.append(f"  {'Then' if i == 0 else 'And'} {step}")
        return "\n".join(lines) + "\n"

    def _sources(self) -> tuple[str | None, list[str]]:
        """The base rulebook (None when it is the default one) and the site packs."""
        if not self.rulebook.sources:
            return None, []
        base = Path(self.rulebook.sources[0]).resolve()
        home = self.rulebook.domain.rules_dir
        shown = None if home is not None and base == home.resolve() else str(base)
        return shown, [str(Path(p).resolve()) for p in self.rulebook.sources[1:]]


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def _plan_of(ev: Evaluation) -> tuple[str, ...]:
    return tuple(f"{s.code} ({s.priority})" for s in ev.suggestions)


def _held_of(ev: Evaluation) -> tuple[str, ...]:
    return tuple(f"{s.code} ({s.action} by {s.by_rule})" for s in ev.suppressed)


def _counterexample(ev: Evaluation, doc: Document, scenario: str | None) -> Counterexample:
    return Counterexample(
        intake=doc,
        fired=tuple(ev.fired_rules),
        plan=_plan_of(ev),
        held=_held_of(ev),
        scenario=scenario,
    )


# ---------------------------------------------------------------- rulebook-level entry points


def invariants_for(rulebook: Rulebook, domain: ProofDomain) -> InvariantBook:
    """The invariants beside the rulebook's base directory (none if it has no such file)."""
    path = invariants_path(rulebook.sources[0]) if rulebook.sources else None
    if path is None or not path.is_file():
        return InvariantBook((), "", "no invariants file")
    return load_invariants(path, domain.model.vocabulary, rulebook.codes)


def prove(
    rulebook: Rulebook,
    domain: ProofDomain,
    engine: Engine | None = None,
    only: Sequence[str] = (),
) -> Report:
    """Check every invariant of the rulebook (or those in ``only``)."""
    book = invariants_for(rulebook, domain)
    if only:
        unknown = [i for i in only if i not in {inv.id for inv in book}]
        if unknown:
            raise KeyError(f"no such invariant: {', '.join(unknown)}")
        book = InvariantBook(tuple(i for i in book if i.id in only), book.content_hash, book.source)
    return Prover(rulebook, domain, engine).check_all(book)


class InvariantsBroken(RulebookError):
    """A rulebook (with its site packs) breaks a safety invariant; it must not run."""

    def __init__(self, report: Report) -> None:
        self.report = report
        problems = []
        for r in report.broken():
            head = f"invariant {r.invariant.id} ({r.invariant.wording.rstrip('.')}): {r.status}"
            body = r.counterexample.text() if r.counterexample else f"  {r.detail}"
            problems.append(f"{head}\n{body}")
        super().__init__(problems)


@dataclass
class _Cache:
    reports: dict[tuple[str, str], Report] = field(default_factory=dict)


_CACHE = _Cache()


def require_proved(rulebook: Rulebook, domain: ProofDomain, engine: Engine | None = None) -> Report:
    """Refuse a rulebook that breaks an invariant: raise ``InvariantsBroken`` naming each
    broken one with its engine-confirmed counterexample. Remembered per rulebook content and
    invariants file, so a process proves a rulebook once."""
    book = invariants_for(rulebook, domain)
    key = (rulebook.content_hash, book.content_hash)
    report = _CACHE.reports.get(key)
    if report is None:
        report = Prover(rulebook, domain, engine).check_all(book)
        _CACHE.reports[key] = report
    if not report.ok:
        raise InvariantsBroken(report)
    return report
