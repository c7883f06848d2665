"""``gbrules rules lint``: everything the loader refuses, plus what it accepts but is wrong.

Load errors (schema, unknown facts or codes, malformed conditions, duplicate ids, overrides on
protected codes) come from :func:`gbrules.core.rulebook.load_rulebook`. On a rulebook that
loads, the linter adds findings a reviewer would want to see:

* ``evidence`` (when the domain's ``Policy.evidence_source`` is set): an evidence entry that is
  blank or names no source, or a rule with no evidence at all; and (``Policy.not_evidence``) a
  rule whose only entries are ones that cannot carry it (a scenario it mirrors, a regulation);
* ``out-of-range``: a threshold outside the fact's valid range (``FactSpec`` lo/hi);
* ``never-true``: a condition, or one alternative of an ``any``, that no intake can satisfy
  (``phq9_total > 27``; ``x > 5`` and ``x < 3`` in one ``all``; ``x is missing`` with a
  comparison on ``x``). Given the domain's ``ProofDomain`` (vocabulary plus the declared
  derived facts) and the ``prove`` extra (z3-solver), the SMT solver decides it completely
  (``gi_alarm == true`` with every alarm feature recorded absent is caught too); otherwise an
  interval / value-set analysis per fact inside each ``all`` (sound, not complete);
* ``duplicate`` / ``conflict``: a rule with the same code as an earlier rule that fires on
  exactly the same intakes (with the solver: however the condition is written; without it:
  the same condition up to order), with the same priority or not;
* ``dead-override``: an override pattern that matches no code any rule in the rulebook produces;
* ``wording`` (when the domain's ``Policy.wording`` is set): a title or rationale the domain
  forbids (the clinical domain: telling someone to stop a medication, stating a diagnosis).

A site pack (a directory without ``rulebook.yaml``) is linted on top of the domain's own
rulebook, since that is how it runs; only the pack's own rules are reported.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gbrules.core.domain import Domain, Policy
from gbrules.core.errors import RulebookError
from gbrules.core.language import All, AnyOf, Cmp, Condition, Not, Recorded
from gbrules.core.rulebook import MANIFEST, Rule, Rulebook, load_rulebook
from gbrules.core.vocabulary import Vocabulary, matches

if TYPE_CHECKING:
    from gbrules.core.verify.domain import ProofDomain


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    rule_id: str
    kind: str
    message: str

    def text(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        rule = f" rule {self.rule_id}:" if self.rule_id else ""
        return f"{where}:{rule} [{self.kind}] {self.message}"


_PROBLEM = re.compile(
    r"^(?P<file>[^:]+?)(?::(?P<line>\d+))?: (?:rule (?P<rule>[^:\s]+): )?(?P<msg>.*)$", re.DOTALL
)


def _from_problem(problem: str) -> Finding:
    m = _PROBLEM.match(problem)
    if m is None:  # pragma: no cover - every loader problem has a file prefix
        return Finding("", 0, "", "error", problem)
    msg = m["msg"]
    kind = "evidence" if msg.startswith("evidence") else "error"
    return Finding(m["file"], int(m["line"] or 0), m["rule"] or "", kind, msg)


def lint(
    directory: str | Path | None,
    domain: Domain,
    proof: ProofDomain | None = None,
    *,
    governance: bool = False,
) -> list[Finding]:
    """All findings for a rulebook directory (the domain's own rulebook if None), sorted.

    ``proof``: the domain as the verifier sees it; with it (and z3 installed) the never-true
    and duplicate checks are decided by the solver instead of the syntactic analysis.
    ``governance``: also one finding per rule that is not approved and current, of kind
    ``unapproved`` (draft), ``stale`` (edited since approval) or ``overdue`` (see
    gbrules.core.review). Off by default: a rulebook under development is draft, and its
    author still needs a clean lint."""
    base = domain.rules_dir
    if directory is None and base is None:
        return [Finding("", 0, "", "error", "no rule directory given")]
    target = Path(directory) if directory is not None else Path(str(base))
    is_pack = base is not None and target.is_dir() and not (target / MANIFEST).is_file()
    dirs: tuple[Path, ...] = (Path(str(base)), target) if is_pack else (target,)
    try:
        book = load_rulebook(*dirs, domain=domain)
    except RulebookError as exc:
        return sorted(_from_problem(p) for p in exc.problems)
    own = [r for r in book.rules if r.origin == ("site" if is_pack else "default")]
    found = lint_rules(own, book, proof)
    if governance:
        from gbrules.core.review import state_of

        kinds = {"draft": "unapproved", "stale": "stale", "overdue": "overdue"}
        for rule in own:
            s = state_of(rule)
            if s.state in kinds:
                found.append(Finding(rule.file, rule.line, rule.id, kinds[s.state], s.message))
    return sorted(found)


def canonical(cond: Condition) -> str:
    """A condition's text in negation normal form with and/or operands sorted, so that two
    conditions that differ only in the order of their parts read the same."""

    def walk(c: Condition) -> str:
        if isinstance(c, All | AnyOf):
            parts = sorted({walk(i) for i in c.items})
            if len(parts) == 1:
                return parts[0]
            return "(" + (" and " if isinstance(c, All) else " or ").join(parts) + ")"
        return c.text()

    return walk(to_nnf(cond))


def _twins(rules: Sequence[Rule], book: Rulebook) -> list[Finding]:
    """Rules with the same code and the same condition as an earlier rule of the rulebook:
    a duplicate when the priority is the same too, a conflict when it is not (the more urgent
    one silently wins)."""
    first: dict[tuple[str, str], Rule] = {}
    mine = {r.id for r in rules}
    out: list[Finding] = []
    for rule in book.rules:
        key = (rule.code, canonical(rule.condition))
        other = first.setdefault(key, rule)
        if other is rule or rule.id not in mine:
            continue
        if other.priority == rule.priority:
            kind, text = "duplicate", f"same code and condition as rule {other.id}"
        else:
            kind = "conflict"
            text = (
                f"same code and condition as rule {other.id} but priority {rule.priority!r} vs "
                f"{other.priority!r}: only the more urgent one can ever show"
            )
        out.append(Finding(rule.file, rule.line, rule.id, kind, text))
    return out


def lint_rules(
    rules: Sequence[Rule], book: Rulebook, proof: ProofDomain | None = None
) -> list[Finding]:
    solver = proof is not None and semantic_checks_available()
    out: list[Finding] = []
    if proof is not None and solver:
        out.extend(_semantic(rules, book, proof))
    else:
        out.extend(_twins(rules, book))
    produced = {r.code for r in book.rules}
    vocabulary = book.domain.vocabulary
    policy = book.domain.policy
    for rule in rules:

        def finding(kind: str, message: str, rule: Rule = rule) -> None:
            out.append(Finding(rule.file, rule.line, rule.id, kind, message))

        for text in _evidence_problems(rule.evidence, policy):
            finding("evidence", text)
        for leaf in _cmp_leaves(rule.condition):
            problem = _range_problem(leaf, vocabulary)
            if problem:
                finding("out-of-range", problem)
        if not solver:  # with the solver, _semantic decided never-true
            nnf = to_nnf(rule.condition)
            if never_true(nnf, vocabulary):
                text = f"the condition can never be true: {rule.condition.text()}"
                finding("never-true", text)
            else:
                for branch in _dead_branches(nnf, _syntactic(vocabulary)):
                    finding("never-true", f"this alternative can never be true: {branch.text()}")
        for label, text in (
            ("title", rule.title),
            ("suggestion title", rule.suggestion_title),
            ("rationale", rule.rationale),
        ):
            m = policy.wording.search(text) if policy.wording is not None else None
            if m:
                finding("wording", f"{label} says {m.group(0)!r}: {policy.wording_advice}")
        for ov in rule.overrides:
            for pattern in ov.patterns:
                if not any(matches(pattern, code) for code in produced):
                    finding(
                        "dead-override",
                        f"override pattern {pattern!r} matches no code any rule produces",
                    )
    return out


def _evidence_problems(evidence: Iterable[str], policy: Policy) -> list[str]:
    source = policy.evidence_source
    if source is None:
        return []
    items = list(evidence)
    if not items:
        return ["no evidence: cite the guideline or study behind the rule"]
    out = []
    for e in items:
        if not e.strip():
            out.append("blank evidence entry")
        elif not source.search(e):
            out.append(f"evidence {e!r} names no source (author and year, PMID or guideline)")
    weak = policy.not_evidence
    if weak is not None and items and all(weak.search(e) for e in items):
        out.append(
            "evidence: every entry is a scenario or a regulation, not clinical evidence: "
            + (policy.not_evidence_advice or "cite a guideline or a primary study")
        )
    return out


def _cmp_leaves(cond: Condition) -> list[Cmp]:
    if isinstance(cond, Cmp):
        return [cond]
    if isinstance(cond, Recorded):
        return []
    if isinstance(cond, Not):
        return _cmp_leaves(cond.item)
    return [leaf for item in cond.items for leaf in _cmp_leaves(item)]


def _range_problem(leaf: Cmp, vocabulary: Vocabulary) -> str | None:
    spec = vocabulary[leaf.fact]
    if spec.type not in ("int", "number") or spec.lo is None or spec.hi is None:
        return None
    values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
    bad = [v for v in values if not spec.lo <= v <= spec.hi]
    if not bad:
        return None
    span = f"{spec.lo:g}-{spec.hi:g}"
    # A rating's "unit" is its scale ("0-10"): print it once, not "(0-10 0-10)".
    unit = f" {spec.unit}" if spec.unit and spec.unit != span else ""
    return (
        f"{leaf.text()}: threshold {', '.join(map(str, bad))} is outside the range of "
        f"{leaf.fact} ({span}{unit})"
    )


# ---------------------------------------------------------------- satisfiability


_NEG = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">", "in": "not in"}
_NEG["not in"] = "in"


def to_nnf(cond: Condition, negate: bool = False) -> Condition:
    """Push every ``not`` to the leaves (valid in Kleene logic, as the compiler does)."""
    if isinstance(cond, Not):
        return to_nnf(cond.item, not negate)
    if isinstance(cond, Recorded):
        return Recorded(cond.fact, cond.recorded != negate)
    if isinstance(cond, Cmp):
        return Cmp(cond.fact, _NEG[cond.op], cond.value) if negate else cond
    items = tuple(to_nnf(i, negate) for i in cond.items)
    conj = isinstance(cond, All) != negate
    return All(items) if conj else AnyOf(items)


def never_true(cond: Condition, vocabulary: Vocabulary) -> bool:
    """True when no set of facts makes an NNF condition true (sound, not complete)."""
    if isinstance(cond, AnyOf):
        return all(never_true(i, vocabulary) for i in cond.items)
    if isinstance(cond, All):
        if any(never_true(i, vocabulary) for i in cond.items):
            return True
        leaves = [i for i in cond.items if isinstance(i, Cmp | Recorded)]
        return not _leaves_satisfiable(leaves, vocabulary)
    if isinstance(cond, Cmp | Recorded):
        return not _leaves_satisfiable([cond], vocabulary)
    return False  # pragma: no cover - NNF has no Not


def _syntactic(vocabulary: Vocabulary) -> Callable[[Condition], bool]:
    """The interval analysis as a "can this be true" test (used without the solver)."""
    return lambda cond: not never_true(cond, vocabulary)


def _dead_branches(cond: Condition, satisfiable: Callable[[Condition], bool]) -> list[Condition]:
    """Alternatives of an ``any`` (in negation normal form) that no intake makes true."""
    out: list[Condition] = []
    if isinstance(cond, AnyOf):
        for item in cond.items:
            if not satisfiable(item):
                out.append(item)
            else:
                out.extend(_dead_branches(item, satisfiable))
    elif isinstance(cond, All):
        for item in cond.items:
            out.extend(_dead_branches(item, satisfiable))
    return out


def semantic_checks_available() -> bool:
    """Whether the solver (extra ``prove``) is installed for the never-true and duplicate checks."""
    return importlib.util.find_spec("z3") is not None


def _semantic(rules: Sequence[Rule], book: Rulebook, proof: ProofDomain) -> list[Finding]:
    """never-true rules and alternatives, and same-code rules that fire on the same intakes,
    decided by the SMT solver over the vocabulary and the declared derived facts."""
    from gbrules.core.verify.prove import Prover

    prover = Prover(book, proof)
    mine = {r.id for r in rules}
    out: list[Finding] = []
    for rule in rules:
        if not prover.satisfiable(rule.condition):
            text = f"the condition can never be true: {rule.condition.text()}"
            out.append(Finding(rule.file, rule.line, rule.id, "never-true", text))
            continue
        for branch in _dead_branches(to_nnf(rule.condition), prover.satisfiable):
            text = f"this alternative can never be true: {branch.text()}"
            out.append(Finding(rule.file, rule.line, rule.id, "never-true", text))
    for twin in prover.equivalent_rules(same_code_only=True):
        rule, other = twin.rule, twin.other
        if rule.id not in mine or other is None:
            continue
        if other.priority == rule.priority:
            kind = "duplicate"
            text = f"same code as rule {other.id}, and fires on exactly the same intakes"
        else:
            kind = "conflict"
            text = (
                f"same code as rule {other.id}, fires on exactly the same intakes, but priority "
                f"{rule.priority!r} vs {other.priority!r}: only the more urgent one can ever show"
            )
        out.append(Finding(rule.file, rule.line, rule.id, kind, text))
    return out


@dataclass
class _Interval:
    lo: float
    lo_open: bool
    hi: float
    hi_open: bool

    def cut(self, op: str, v: float) -> None:
        if op in (">", ">="):
            if v > self.lo or (v == self.lo and op == ">"):
                self.lo, self.lo_open = v, op == ">"
        elif op in ("<", "<="):
            if v < self.hi or (v == self.hi and op == "<"):
                self.hi, self.hi_open = v, op == "<"
        elif op == "==":
            self.cut(">=", v)
            self.cut("<=", v)

    def empty(self, integer: bool) -> bool:
        lo, hi = self.lo, self.hi
        if integer:
            lo = math.floor(lo) + 1 if self.lo_open and lo == math.floor(lo) else math.ceil(lo)
            hi = math.ceil(hi) - 1 if self.hi_open and hi == math.ceil(hi) else math.floor(hi)
            return lo > hi
        return lo > hi or (lo == hi and (self.lo_open or self.hi_open))

    def contains(self, v: float) -> bool:
        above = v > self.lo or (v == self.lo and not self.lo_open)
        below = v < self.hi or (v == self.hi and not self.hi_open)
        return above and below


def _leaves_satisfiable(leaves: Sequence[Cmp | Recorded], vocabulary: Vocabulary) -> bool:
    by_fact: dict[str, list[Cmp | Recorded]] = {}
    for leaf in leaves:
        by_fact.setdefault(leaf.fact, []).append(leaf)
    return all(_fact_satisfiable(vocabulary, group) for group in by_fact.values())


def _fact_satisfiable(vocabulary: Vocabulary, group: Sequence[Cmp | Recorded]) -> bool:
    states = {leaf.recorded for leaf in group if isinstance(leaf, Recorded)}
    cmps = [leaf for leaf in group if isinstance(leaf, Cmp)]
    if len(states) == 2 or (False in states and cmps):
        return False  # missing and recorded, or missing yet compared
    if not cmps:
        return True
    spec = vocabulary[group[0].fact]
    if spec.type in ("bool", "enum"):
        domain: set[object] = {True, False} if spec.type == "bool" else set(spec.values)
        for c in cmps:
            vals = set(c.value) if isinstance(c.value, tuple) else {c.value}
            if c.op in ("==", "in"):
                domain &= vals
            else:
                domain -= vals
        return bool(domain)
    lo = spec.lo if spec.lo is not None else -math.inf
    hi = spec.hi if spec.hi is not None else math.inf
    box = _Interval(lo, False, hi, False)
    points: set[float] | None = None
    excluded: set[float] = set()
    for c in cmps:
        if c.op == "in":
            vals = {float(v) for v in c.value}
            points = vals if points is None else points & vals
        elif c.op == "not in":
            excluded |= {float(v) for v in c.value}
        elif c.op == "!=":
            excluded.add(float(c.value))
        else:
            box.cut(c.op, float(c.value))
    integer = spec.type == "int"
    if points is not None:
        ok = [
            p
            for p in points
            if box.contains(p) and p not in excluded and (not integer or p == int(p))
        ]
        return bool(ok)
    if box.empty(integer):
        return False
    if box.lo == box.hi:  # a single admissible point
        return box.lo not in excluded
    if integer:
        first = (
            math.floor(box.lo) + 1 if box.lo_open and box.lo == int(box.lo) else math.ceil(box.lo)
        )
        last = (
            math.ceil(box.hi) - 1 if box.hi_open and box.hi == int(box.hi) else math.floor(box.hi)
        )
        if last - first < len(excluded) + 1:
            return any(v not in excluded for v in range(int(first), int(last) + 1))
    return True
