"""Safety invariants as data: the language, the loader, and the reference evaluation.

An invariant says what every plan must satisfy, in the rule condition language extended with
predicates on the plan. ``premise`` and ``conclusion`` are conditions (``all``/``any``/``not``
and leaves); a leaf is either a fact comparison, exactly as in a rule (``phq9_total >= 10``),
or one of these, where ``P`` is a code, ``category.*``, or ``*`` for any code:

================================  =========================================================
``active(P)``                     some code matching P is in the active plan
``none_active(P)``                no code matching P is active
``proposed(P)``                   some rule that fired proposes a code matching P
``deferred(P)``                   every code matching P that was proposed was *deferred*
``suppressed(P)``                 ... was *suppressed*
``held(P)``                       ... was deferred or suppressed (not active)
``first(CODE)``                   CODE is the first suggestion of the plan
``priority(CODE) == P``           CODE is active with priority P (also ``in [P, ...]``)
``immediate_action``              some active suggestion is critical
``says(P, "regex")``              an active suggestion matching P says it: its title or its
                                  rule's rationale *as written* matches (case-insensitive);
                                  the values filled into an explanation are not searched
================================  =========================================================

Fact leaves are three-valued as in rules; plan predicates are plain true/false. An invariant
is broken by an intake when its premise is *true* and its conclusion is *not true* (an unknown
conclusion breaks it: "celiac serology is negative" is not shown by a serology never done).
``{name}`` in a leaf is replaced by the file's ``parameters`` (e.g. the minimum age).

Two other kinds state what no single plan shows: ``kind: monotone`` (recording less never
makes a rule fire, except a rule about what was recorded: S8) and ``kind: function`` (the plan
is a function of the recorded facts: S9).

An invariant that names a fact or code the vocabulary or rulebook does not have (yet) is
*pending*, with the names as the reason; a file may also mark one ``pending: reason`` (for
example while the rules that will satisfy it are being written). Pending invariants are
reported, never silently dropped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from gbrules.core.result import Evaluation
from gbrules.core.rulebook import Rule, Rulebook
from gbrules.core.verify.shared import (
    Condition,
    ConditionError,
    FactValue,
    Vocabulary,
    kleene,
    matches,
    parse,
)

INVARIANTS_FILE = "invariants.yaml"
Kind = Literal["implication", "monotone", "function"]
Predicate = Literal[
    "active", "proposed", "deferred", "suppressed", "held", "first", "priority", "says", "immediate"
]
PRIORITIES = ("critical", "urgent", "routine")
_PATTERN = r"[a-z0-9_]+(?:\.[a-z0-9_]+)+|[a-z0-9_]+\.\*|\*"
_CODE = r"[a-z0-9_]+(?:\.[a-z0-9_]+)+"
_SET = re.compile(
    rf"^(?P<name>active|none_active|proposed|deferred|suppressed|held)\(\s*(?P<p>{_PATTERN})\s*\)$"
)
_FIRST = re.compile(rf"^first\(\s*(?P<p>{_CODE})\s*\)$")
_PRIORITY = re.compile(
    rf"^priority\(\s*(?P<p>{_CODE})\s*\)\s*(?:==\s*(?P<one>[a-z]+)|in\s*\[(?P<many>[a-z,\s]+)\])$"
)
_SAYS = re.compile(rf'^says\(\s*(?P<p>{_PATTERN})\s*,\s*"(?P<rx>(?:[^"\\]|\\.)+)"\s*\)$')
_PREDICATE_NAME = re.compile(r"^\s*[a-z_]+\(")
_FACT_NAME = re.compile(r"^\s*(?P<fact>[a-z][a-z0-9_]*)")
_PARAM = re.compile(r"\{(?P<name>[a-z_][a-z0-9_]*)\}")


class InvariantFileError(ValueError):
    """The invariants file cannot be read; ``problems`` names every one with its invariant."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid invariants file:\n" + "\n".join(f"  - {p}" for p in problems))


def covers(pattern: str, code: str) -> bool:
    """Plan predicate patterns: a code, ``category.*`` (as in overrides), or ``*`` for any."""
    return pattern == "*" or matches(pattern, code)


# ---------------------------------------------------------------- the expression tree


@dataclass(frozen=True)
class PlanTest:
    """A plain true/false question about the plan (see the module table)."""

    predicate: Predicate
    pattern: str = ""
    priorities: tuple[str, ...] = ()
    regex: str = ""

    def text(self) -> str:
        if self.predicate == "immediate":
            return "immediate_action"
        if self.predicate == "priority":
            shown = self.priorities[0] if len(self.priorities) == 1 else list(self.priorities)
            return f"priority({self.pattern}) {'==' if len(self.priorities) == 1 else 'in'} {shown}"
        if self.predicate == "says":
            return f'says({self.pattern}, "{self.regex}")'
        return f"{self.predicate}({self.pattern})"


@dataclass(frozen=True)
class FactTest:
    """A rule condition leaf (three-valued); ``condition`` None when it names a fact the
    vocabulary does not have (the invariant is then pending and never evaluated)."""

    condition: Condition | None
    raw: str = ""

    def text(self) -> str:
        return self.condition.text() if self.condition is not None else self.raw


@dataclass(frozen=True)
class Every:
    items: tuple[Expr, ...]

    def text(self) -> str:
        return "(" + " and ".join(i.text() for i in self.items) + ")"


@dataclass(frozen=True)
class Some:
    items: tuple[Expr, ...]

    def text(self) -> str:
        return "(" + " or ".join(i.text() for i in self.items) + ")"


@dataclass(frozen=True)
class Negation:
    item: Expr

    def text(self) -> str:
        if isinstance(self.item, PlanTest) and self.item.predicate == "active":
            return f"none_active({self.item.pattern})"
        return f"not {self.item.text()}"


Expr = PlanTest | FactTest | Every | Some | Negation


@dataclass(frozen=True)
class Invariant:
    """One safety invariant: what must hold, in words and as expressions, and its source."""

    id: str
    wording: str
    source: str
    kind: Kind = "implication"
    premise: Expr | None = None
    conclusion: Expr | None = None
    pending: str | None = None  # why it is not (yet) required; None: required
    checkable: bool = True  # False when it names facts or codes that do not exist

    def holds_for(self, outcome: Outcome) -> bool:
        """Whether one plan satisfies this (``implication`` invariants only)."""
        if self.premise is not None and evaluate(self.premise, outcome) is not True:
            return True
        return self.conclusion is None or evaluate(self.conclusion, outcome) is True


@dataclass(frozen=True)
class InvariantBook:
    invariants: tuple[Invariant, ...]
    content_hash: str
    source: str

    def __iter__(self) -> Iterator[Invariant]:
        return iter(self.invariants)

    def get(self, invariant_id: str) -> Invariant:
        for inv in self.invariants:
            if inv.id == invariant_id:
                return inv
        raise KeyError(invariant_id)


# ---------------------------------------------------------------- parsing


@dataclass
class _Reader:
    vocabulary: Vocabulary
    codes: Collection[str]
    parameters: Mapping[str, object]
    missing: list[str] = field(default_factory=list)  # unknown facts and codes, for "pending"

    def expr(self, node: object, where: str, depth: int = 0) -> Expr:
        if depth > 32:
            raise ConditionError(f"{where}: nested too deeply")
        if isinstance(node, str):
            return self.leaf(node, where)
        if isinstance(node, Mapping) and len(node) == 1:
            ((key, val),) = node.items()
            if key in ("all", "any"):
                if not isinstance(val, list) or not val:
                    raise ConditionError(f"{where}.{key}: needs a non-empty list")
                items = tuple(
                    self.expr(v, f"{where}.{key}[{i}]", depth + 1) for i, v in enumerate(val)
                )
                return Every(items) if key == "all" else Some(items)
            if key == "not":
                return Negation(self.expr(val, f"{where}.not", depth + 1))
        raise ConditionError(f"{where}: expected a leaf string or all/any/not, got {node!r}")

    def leaf(self, raw: str, where: str) -> Expr:
        text = _PARAM.sub(lambda m: self._param(m, where), raw).strip()
        if text == "immediate_action":
            return PlanTest("immediate")
        if m := _SET.match(text):
            self._code(m["p"])
            test = PlanTest("active" if m["name"] == "none_active" else m["name"], m["p"])  # type: ignore[arg-type]
            return Negation(test) if m["name"] == "none_active" else test
        if m := _FIRST.match(text):
            self._code(m["p"])
            return PlanTest("first", m["p"])
        if m := _PRIORITY.match(text):
            self._code(m["p"])
            values = (m["one"],) if m["one"] else tuple(v.strip() for v in m["many"].split(","))
            bad = [v for v in values if v not in PRIORITIES]
            if bad or not all(values):
                raise ConditionError(f"{where}: priorities are {', '.join(PRIORITIES)}: {text!r}")
            return PlanTest("priority", m["p"], priorities=values)
        if m := _SAYS.match(text):
            self._code(m["p"])
            try:
                re.compile(m["rx"])
            except re.error as exc:
                raise ConditionError(f"{where}: bad pattern in {text!r}: {exc}") from None
            return PlanTest("says", m["p"], regex=m["rx"])
        if _PREDICATE_NAME.match(text):
            raise ConditionError(
                f"{where}: cannot read {text!r}; plan predicates are active, none_active, "
                "proposed, deferred, suppressed, held, first, priority, says and "
                "immediate_action"
            )
        fact = _FACT_NAME.match(text)
        if fact and fact["fact"] not in self.vocabulary:
            self.missing.append(f"fact {fact['fact']!r}")
            return FactTest(None, text)
        return FactTest(parse(text, self.vocabulary, where), text)

    def _param(self, m: re.Match[str], where: str) -> str:
        if m["name"] not in self.parameters:
            raise ConditionError(f"{where}: unknown parameter {{{m['name']}}}")
        value = self.parameters[m["name"]]
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    def _code(self, pattern: str) -> None:
        if pattern == "*":
            return
        if pattern.endswith(".*"):
            if not any(matches(pattern, c) for c in self.codes):
                self.missing.append(f"category {pattern!r}")
        elif pattern not in self.codes:
            self.missing.append(f"code {pattern!r}")


_KEYS = {"id", "wording", "source", "kind", "premise", "conclusion", "pending"}


def load_invariants(
    source: Path | Mapping[str, object], vocabulary: Vocabulary, codes: Collection[str]
) -> InvariantBook:
    """Read an invariants file (or its data) against a vocabulary and the rulebook's codes."""
    if isinstance(source, Path):
        raw = source.read_bytes()
        data = yaml.safe_load(raw.decode("utf-8"))
        name, digest = source.name, hashlib.sha256(raw).hexdigest()
    else:
        data, name = source, "invariants"
        digest = hashlib.sha256(repr(sorted(source.items())).encode()).hexdigest()
    if not isinstance(data, Mapping) or not isinstance(data.get("invariants"), list):
        raise InvariantFileError([f"{name}: expected a mapping with an 'invariants:' list"])
    extra = set(data) - {"invariants", "parameters", "description"}
    parameters = data.get("parameters") or {}
    problems: list[str] = []
    if extra:
        problems.append(f"{name}: unknown top-level keys {sorted(extra)}")
    if not isinstance(parameters, Mapping):
        problems.append(f"{name}: 'parameters' is a mapping of name: value")
        parameters = {}
    out: list[Invariant] = []
    seen: set[str] = set()
    for i, item in enumerate(data["invariants"]):
        inv = _read_one(item, f"{name}: invariants[{i}]", vocabulary, codes, parameters, problems)
        if inv is None:
            continue
        if inv.id in seen:
            problems.append(f"{name}: invariant {inv.id}: duplicate id")
        seen.add(inv.id)
        out.append(inv)
    if problems:
        raise InvariantFileError(problems)
    return InvariantBook(tuple(out), digest, str(source) if isinstance(source, Path) else name)


def _read_one(
    item: object,
    where: str,
    vocabulary: Vocabulary,
    codes: Collection[str],
    parameters: Mapping[str, object],
    problems: list[str],
) -> Invariant | None:
    if not isinstance(item, Mapping) or not {"id", "wording", "source"} <= set(item):
        problems.append(f"{where}: needs id, wording and source")
        return None
    where = f"{where} ({item['id']})"
    unknown = set(item) - _KEYS
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")
    kind = item.get("kind", "implication")
    if kind not in ("implication", "monotone", "function"):
        problems.append(f"{where}: kind is implication, monotone or function, not {kind!r}")
        return None
    if (kind == "implication") != ("conclusion" in item):
        problems.append(f"{where}: an implication has a conclusion; other kinds have none")
        return None
    reader = _Reader(vocabulary, codes, parameters)
    try:
        premise = reader.expr(item["premise"], f"{where}.premise") if "premise" in item else None
        conclusion = (
            reader.expr(item["conclusion"], f"{where}.conclusion") if "conclusion" in item else None
        )
    except ConditionError as exc:
        problems.append(str(exc))
        return None
    reasons = []
    if reader.missing:
        reasons.append("names " + ", ".join(dict.fromkeys(reader.missing)) + " (not defined yet)")
    if item.get("pending"):
        reasons.append(str(item["pending"]).strip())
    return Invariant(
        id=str(item["id"]),
        wording=" ".join(str(item["wording"]).split()),
        source=" ".join(str(item["source"]).split()),
        kind=kind,
        premise=premise,
        conclusion=conclusion,
        pending="; ".join(reasons) or None,
        checkable=not reader.missing,
    )


def read_expression(text: str, vocabulary: Vocabulary, codes: Collection[str]) -> Expr:
    """One expression of the invariant language (a question for ``gbrules rules query``);
    an unknown fact or code is an error here, not a pending mark."""
    reader = _Reader(vocabulary, codes, {})
    expr = reader.expr(text, "query")
    if reader.missing:
        raise ConditionError(f"{text!r} names {', '.join(reader.missing)}, which do not exist")
    return expr


def invariants_path(rules_dir: str | Path) -> Path:
    """Where a rulebook keeps its invariants: beside its manifest."""
    return Path(rules_dir) / INVARIANTS_FILE


# ---------------------------------------------------------------- reference evaluation


def rule_text(rule: Rule) -> str:
    """What ``says`` searches: the suggestion title and the rationale as the rule wrote it."""
    return f"{rule.suggestion_title}\n{rule.rationale}"


@dataclass(frozen=True)
class Shown:
    """One active suggestion, as the invariants see it."""

    code: str
    priority: str
    rule_id: str


@dataclass(frozen=True)
class Outcome:
    """What an invariant can ask about one evaluated intake.

    ``texts`` holds, per rule id, the suggestion title and the rationale as the rule wrote it
    (what ``says`` searches).
    """

    facts: Mapping[str, FactValue]
    suggestions: Sequence[Shown]
    held: Mapping[str, str]  # code -> "deferred" | "suppressed"
    proposed: frozenset[str]
    texts: Mapping[str, str]

    @property
    def active(self) -> frozenset[str]:
        return frozenset(s.code for s in self.suggestions)

    @classmethod
    def of(cls, evaluation: Evaluation, rulebook: Rulebook) -> Outcome:
        """What the invariants see of one evaluation by this rulebook."""
        texts = _texts(rulebook)
        return cls(
            facts=evaluation.facts,
            suggestions=tuple(Shown(s.code, s.priority, s.rule_id) for s in evaluation.suggestions),
            held={s.code: s.action for s in evaluation.suppressed},
            proposed=frozenset(rulebook.rule(r).code for r in evaluation.fired_rules),
            texts=texts,
        )


_TEXTS: dict[str, dict[str, str]] = {}


def _texts(rulebook: Rulebook) -> dict[str, str]:
    hit = _TEXTS.get(rulebook.content_hash)
    if hit is None:
        if len(_TEXTS) > 64:
            _TEXTS.clear()
        hit = _TEXTS[rulebook.content_hash] = {r.id: rule_text(r) for r in rulebook.rules}
    return hit


def evaluate(expr: Expr, outcome: Outcome) -> bool | None:
    """Three-valued truth of an invariant expression for one plan."""
    if isinstance(expr, FactTest):
        return None if expr.condition is None else kleene(expr.condition, outcome.facts)
    if isinstance(expr, PlanTest):
        return _plan_test(expr, outcome)
    if isinstance(expr, Negation):
        v = evaluate(expr.item, outcome)
        return None if v is None else not v
    values = [evaluate(i, outcome) for i in expr.items]
    if isinstance(expr, Every):
        return False if False in values else (None if None in values else True)
    return True if True in values else (None if None in values else False)


def _plan_test(t: PlanTest, o: Outcome) -> bool:
    p = t.pattern
    if t.predicate == "immediate":
        return any(s.priority == "critical" for s in o.suggestions)
    if t.predicate == "active":
        return any(covers(p, s.code) for s in o.suggestions)
    if t.predicate == "proposed":
        return any(covers(p, c) for c in o.proposed)
    if t.predicate in ("deferred", "suppressed", "held"):
        wanted = {"deferred": ("deferred",), "suppressed": ("suppressed",)}.get(
            t.predicate, ("deferred", "suppressed")
        )
        return all(o.held.get(c) in wanted for c in o.proposed if covers(p, c))
    if t.predicate == "first":
        return bool(o.suggestions) and o.suggestions[0].code == p
    if t.predicate == "priority":
        return any(s.code == p and s.priority in t.priorities for s in o.suggestions)
    rx = re.compile(t.regex, re.IGNORECASE)
    return any(covers(p, s.code) and rx.search(o.texts[s.rule_id]) for s in o.suggestions)


# ---------------------------------------------------------------- scenario steps


def then_steps(inv: Invariant, outcome: Outcome) -> list[str] | None:
    """Then-steps (features/README.md vocabulary) that state what the invariant demands of
    this plan and fail on it, or None when no step can say it.

    A broken invariant means "not premise, or conclusion" is false, so every part of that
    "or" is false here: the first part a step can express is the scenario's assertion (the
    conclusion first, else the premise negated: S7's "no low-FODMAP trial without negative
    serology" becomes "the plan does not suggest diet.low_fodmap_trial").
    """
    options: list[Expr] = []
    if inv.conclusion is not None:
        options.append(inv.conclusion)
    if inv.premise is not None:
        options.append(Negation(inv.premise))
    for option in options:
        steps = _steps(option, True, outcome)
        if steps:
            return steps
    return None


def _steps(expr: Expr, want: bool, o: Outcome) -> list[str] | None:
    """Steps asserting ``expr`` is ``want``, each false on ``o``; None when not expressible."""
    if isinstance(expr, Negation):
        return _steps(expr.item, not want, o)
    if isinstance(expr, FactTest):
        return None  # facts are the Given steps; a Then step cannot assert them
    if isinstance(expr, PlanTest):
        if _plan_test(expr, o) is want:
            return []  # already so: nothing to assert
        return _step(expr, want, o)
    conj = isinstance(expr, Every) == want  # "all true" or "some false"
    parts = [_steps(i, want, o) for i in expr.items]
    if conj:  # every part must hold: assert each failing one (all must be expressible)
        failing = [p for p, i in zip(parts, expr.items, strict=True) if evaluate(i, o) is not want]
        if any(p is None for p in failing):
            return None
        steps = [s for p in failing if p for s in p]
        return steps or None
    for p in parts:  # one part would do, and each is false: the first expressible one
        if p:
            return p
    return None


def _step(t: PlanTest, want: bool, o: Outcome) -> list[str] | None:
    exact = not t.pattern.endswith(".*")
    if t.predicate == "active":
        if not want:
            return [f"the plan does not suggest {t.pattern}"]
        return [f"the plan suggests {t.pattern}"] if exact else None
    if t.predicate == "immediate":
        return ["immediate action is required" if want else "no immediate action is required"]
    if t.predicate == "first" and want:
        return [f"the first suggestion is {t.pattern}"]
    if t.predicate == "priority" and want and len(t.priorities) == 1:
        return [f"the plan suggests {t.pattern} with priority {t.priorities[0]}"]
    if t.predicate in ("deferred", "suppressed") and want:
        wrong = sorted(
            c for c in o.proposed if covers(t.pattern, c) and o.held.get(c) != t.predicate
        )
        return [f"{c} is {t.predicate}" for c in wrong] or None
    if t.predicate == "says" and want and exact and re.fullmatch(r"[A-Za-z][A-Za-z -]*", t.regex):
        return [f'the rationale of {t.pattern} mentions "{t.regex}"']
    return None
