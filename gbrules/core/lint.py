"""``gbrules rules lint``: everything the loader refuses, plus what it accepts but is wrong.

Load errors (schema, unknown facts or codes, malformed conditions, duplicate ids, overrides on
protected codes) come from :func:`gbrules.core.rulebook.load_rulebook`. On a rulebook that
loads, the linter adds findings a reviewer would want to see:

* ``evidence``: an evidence entry that is blank or names no source (no year, PMID, guideline or
  source document), or a rule with no evidence at all;
* ``out-of-range``: a threshold outside the fact's valid range (``VOCABULARY`` lo/hi);
* ``never-true``: a condition, or one alternative of an ``any``, that no valid intake can
  satisfy (``phq9_total > 27``; ``x > 5`` and ``x < 3``; ``gi_alarm == true`` with every alarm
  feature recorded absent), decided by the SMT solver over the vocabulary and the derived-fact
  definitions (``gbrules.core.verify``);
* ``duplicate`` / ``conflict``: a rule with the same code as an earlier rule that fires on
  exactly the same intakes (however the condition is written), with the same priority or not;
* ``dead-override``: an override pattern that matches no code any rule in the rulebook produces;
* ``wording``: a title or rationale that tells someone to stop or discontinue a medication, or
  states a diagnosis; suggestions are advice to a clinician, never orders or diagnoses.

A site pack (a directory without ``rulebook.yaml``) is linted on top of the default rulebook,
since that is how it runs; only the pack's own rules are reported. The solver checks need the
``prove`` extra (z3-solver); without it they are skipped (``semantic_checks_available``).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gbrules.clinical.codes import matches
from gbrules.clinical.facts import VOCABULARY
from gbrules.core.errors import RulebookError
from gbrules.core.language import All, AnyOf, Cmp, Condition, Not, Recorded
from gbrules.core.rulebook import MANIFEST, Rule, Rulebook, default_rules_dir, load_rulebook


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
_WORDING = re.compile(
    r"(?<!not )(?<!never )(?<!n't )\b(stop|stopping|discontinue|discontinuing|cease|quit)\b"
    r"|\b(confirms?|diagnoses|is diagnostic of) (the )?(diagnosis|depression|ibs|celiac|cancer)\b",
    re.IGNORECASE,
)
_SOURCE = re.compile(
    r"\b(1[89]\d\d|20\d\d)\b|PMID|doi|NICE|\bNG\d|\bCG\d|ACG|AGA|FDA|NPSG|Joint Commission|"
    r"guideline|statement|Source\b",
    re.IGNORECASE,
)


def _from_problem(problem: str) -> Finding:
    m = _PROBLEM.match(problem)
    if m is None:  # pragma: no cover - every loader problem has a file prefix
        return Finding("", 0, "", "error", problem)
    msg = m["msg"]
    kind = "evidence" if msg.startswith("evidence") else "error"
    return Finding(m["file"], int(m["line"] or 0), m["rule"] or "", kind, msg)


def lint(directory: str | Path | None = None) -> list[Finding]:
    """All findings for a rulebook directory (the default rulebook if None), sorted."""
    target = Path(directory) if directory is not None else default_rules_dir()
    is_pack = target.is_dir() and not (target / MANIFEST).is_file()
    dirs: tuple[Path, ...] = (default_rules_dir(), target) if is_pack else (target,)
    try:
        book = load_rulebook(*dirs)
    except RulebookError as exc:
        return sorted(_from_problem(p) for p in exc.problems)
    own = [r for r in book.rules if r.origin == ("site" if is_pack else "default")]
    return sorted(lint_rules(own, book))


def lint_rules(rules: Sequence[Rule], book: Rulebook) -> list[Finding]:
    out: list[Finding] = _semantic(rules, book)
    produced = {r.code for r in book.rules}
    for rule in rules:

        def finding(kind: str, message: str, rule: Rule = rule) -> None:
            out.append(Finding(rule.file, rule.line, rule.id, kind, message))

        for text in _evidence_problems(rule.evidence):
            finding("evidence", text)
        for leaf in _cmp_leaves(rule.condition):
            problem = _range_problem(leaf)
            if problem:
                finding("out-of-range", problem)
        for label, text in (
            ("title", rule.title),
            ("suggestion title", rule.suggestion_title),
            ("rationale", rule.rationale),
        ):
            m = _WORDING.search(text)
            if m:
                finding(
                    "wording",
                    f"{label} says {m.group(0)!r}: phrase it as advice to a clinician "
                    "(e.g. 'review with the prescriber'), never an order to stop or a diagnosis",
                )
        for ov in rule.overrides:
            for pattern in ov.patterns:
                if not any(matches(pattern, code) for code in produced):
                    finding(
                        "dead-override",
                        f"override pattern {pattern!r} matches no code any rule produces",
                    )
    return out


def _evidence_problems(evidence: Iterable[str]) -> list[str]:
    items = list(evidence)
    if not items:
        return ["no evidence: cite the guideline or study behind the rule"]
    out = []
    for e in items:
        if not e.strip():
            out.append("blank evidence entry")
        elif not _SOURCE.search(e):
            out.append(f"evidence {e!r} names no source (author and year, PMID or guideline)")
    return out


def _cmp_leaves(cond: Condition) -> list[Cmp]:
    if isinstance(cond, Cmp):
        return [cond]
    if isinstance(cond, Recorded):
        return []
    if isinstance(cond, Not):
        return _cmp_leaves(cond.item)
    return [leaf for item in cond.items for leaf in _cmp_leaves(item)]


def _range_problem(leaf: Cmp) -> str | None:
    spec = VOCABULARY[leaf.fact]
    if spec.type not in ("int", "number") or spec.lo is None or spec.hi is None:
        return None
    values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
    bad = [v for v in values if not spec.lo <= v <= spec.hi]
    if not bad:
        return None
    return (
        f"{leaf.text()}: threshold {', '.join(map(str, bad))} is outside the range of "
        f"{leaf.fact} ({spec.lo:g}-{spec.hi:g} {spec.unit})".rstrip()
    )


# ---------------------------------------------------------------- semantic checks (solver)


def semantic_checks_available() -> bool:
    """Whether the solver (extra ``prove``) is installed for the never-true and duplicate checks."""
    return importlib.util.find_spec("z3") is not None


def _semantic(rules: Sequence[Rule], book: Rulebook) -> list[Finding]:
    """never-true rules and alternatives, and same-code rules that fire on the same intakes."""
    if not semantic_checks_available():
        return []
    from gbrules.clinical.proof import clinical_proof_domain  # the domain, until core gets one
    from gbrules.core.verify.prove import Prover

    prover = Prover(book, clinical_proof_domain())
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
