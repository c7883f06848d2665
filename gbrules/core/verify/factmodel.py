"""What derived facts mean, written as data: the verifier's view of a fact builder.

A domain computes some facts from others in Python (a severity band from a total, "any alarm
feature" from the features). A solver cannot read Python, so each derived fact is also
*declared* in the condition language, and a test checks the declaration against the Python
builder on random inputs. Two forms cover every derived fact:

* ``truth: CONDITION`` for a true/false fact: its value is the three-valued truth of the
  condition, and it is not recorded when the condition is unknown (``gi_symptoms`` is true
  when any symptom is recorded present, false only when every one is recorded absent);
* ``cases: [{when: CONDITION, value: V}, ...]`` for any type: the first case that is true
  gives the value; a case that is unknown before any true one leaves the fact not recorded
  (a band from a total that was never taken);
* ``free: {recorded: CONDITION}`` for a number built by arithmetic (see ``Free``).

``impossible:`` lists combinations no valid input produces (a required fact missing, values
the input validation refuses together), each with why; the solver never looks for
counterexamples there. Derived ``text`` facts (descriptions) are not modelled: no condition may
compare them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import yaml

from gbrules.core.verify.shared import (
    Cmp,
    Condition,
    ConditionError,
    FactValue,
    Vocabulary,
    kleene,
    leaves,
    parse,
)


class FactModelError(ValueError):
    """The fact model does not fit its vocabulary; ``problems`` names every one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid fact model:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Truth:
    """A true/false fact that is the (three-valued) truth of a condition."""

    condition: Condition


@dataclass(frozen=True)
class Case:
    when: Condition
    value: FactValue


@dataclass(frozen=True)
class Cases:
    """A fact whose value is that of the first case that holds."""

    cases: tuple[Case, ...]


@dataclass(frozen=True)
class Free:
    """A number computed by arithmetic the condition language cannot write (onset age from
    age and symptom weeks, a dose per kg): recorded exactly when ``recorded`` holds, its value
    any in the fact's range. An over-approximation: a proof stays a proof for every real
    value; a counterexample that leans on an impossible value is refused by the engine re-run
    (an encoding error, never a false alarm)."""

    recorded: Condition


Definition = Truth | Cases | Free


@dataclass(frozen=True)
class Impossible:
    """A combination of facts that no valid input produces, and why."""

    why: str
    condition: Condition


@dataclass(frozen=True)
class FactModel:
    """Derived-fact definitions (in dependency order) and the impossible combinations."""

    vocabulary: Vocabulary
    derived: Mapping[str, Definition]
    impossible: tuple[Impossible, ...]
    unmodelled: tuple[str, ...]  # derived text facts: descriptions, never compared

    @property
    def inputs(self) -> tuple[str, ...]:
        """The facts an input records directly (not derived, not text), in vocabulary order."""
        return tuple(
            name
            for name, spec in self.vocabulary.items()
            if not spec.derived and spec.type != "text"
        )

    def derive(self, inputs: Mapping[str, FactValue]) -> dict[str, FactValue]:
        """The derived facts these input facts give, by the declarations (not the builder)."""
        facts = dict(inputs)
        out: dict[str, FactValue] = {}
        for name, definition in self.derived.items():
            value = evaluate_definition(definition, facts)
            if value is not None:
                facts[name] = out[name] = value
        return out


def evaluate_definition(definition: Definition, facts: Mapping[str, FactValue]) -> FactValue | None:
    """One derived fact's value from the facts it depends on (None: not recorded)."""
    if isinstance(definition, Truth):
        return kleene(definition.condition, facts)
    if isinstance(definition, Free):
        return None  # its value is not modelled; ``is_recorded`` says whether it is recorded
    for case in definition.cases:
        truth = kleene(case.when, facts)
        if truth is None:
            return None
        if truth:
            return case.value
    return None


def is_recorded(definition: Definition, facts: Mapping[str, FactValue]) -> bool | None:
    """Whether a ``Free`` fact is recorded by the declaration (None for other forms)."""
    if isinstance(definition, Free):
        return kleene(definition.recorded, facts) is True
    return None


def _definition_conditions(definition: Definition) -> list[Condition]:
    if isinstance(definition, Truth):
        return [definition.condition]
    if isinstance(definition, Free):
        return [definition.recorded]
    return [c.when for c in definition.cases]


def facts_of(cond: Condition) -> set[str]:
    return {leaf.fact for leaf in leaves(cond)}


def load_fact_model(source: Path | Mapping[str, object], vocabulary: Vocabulary) -> FactModel:
    """Read a fact model (a YAML file or its data) and check it against ``vocabulary``."""
    if isinstance(source, Path):
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        where = source.name
    else:
        data, where = source, "fact model"
    problems: list[str] = []
    if not isinstance(data, Mapping) or set(data) - {"derived", "impossible", "description"}:
        raise FactModelError([f"{where}: expected a mapping with 'derived' and 'impossible'"])
    raw_derived = data.get("derived") or {}
    raw_impossible = data.get("impossible") or []
    if not isinstance(raw_derived, Mapping) or not isinstance(raw_impossible, list):
        raise FactModelError([f"{where}: 'derived' is a mapping, 'impossible' a list"])

    definitions: dict[str, Definition] = {}
    unmodelled: list[str] = []
    for name, raw in raw_derived.items():
        spec = vocabulary.get(str(name))
        here = f"{where}: derived.{name}"
        if spec is None:
            problems.append(f"{here}: not a fact of the vocabulary")
        elif not spec.derived:
            problems.append(f"{here}: the vocabulary records it directly (not derived)")
        elif spec.type == "text":
            if raw != "text":
                problems.append(f"{here}: a text fact is not modelled; write 'text'")
            unmodelled.append(spec.name)
        else:
            definition = _read_definition(spec.name, spec.type, raw, vocabulary, here, problems)
            if definition is not None:
                definitions[spec.name] = definition
    for name, spec in vocabulary.items():
        if spec.derived and name not in raw_derived:
            problems.append(f"{where}: derived fact {name!r} has no definition")

    impossible: list[Impossible] = []
    for i, item in enumerate(raw_impossible):
        here = f"{where}: impossible[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"why", "when"}:
            problems.append(f"{here}: needs 'why' (text) and 'when' (a condition)")
            continue
        try:
            impossible.append(Impossible(str(item["why"]), parse(item["when"], vocabulary, here)))
        except ConditionError as exc:
            problems.append(str(exc))

    order = _dependency_order(definitions, problems, where)
    if problems:
        raise FactModelError(problems)
    return FactModel(
        vocabulary=vocabulary,
        derived={name: definitions[name] for name in order},
        impossible=tuple(impossible),
        unmodelled=tuple(unmodelled),
    )


def _read_definition(
    name: str, kind: str, raw: object, vocabulary: Vocabulary, here: str, problems: list[str]
) -> Definition | None:
    forms = ("truth", "cases", "free")
    if not isinstance(raw, Mapping) or len(raw) != 1 or next(iter(raw)) not in forms:
        problems.append(
            f"{here}: write 'truth: CONDITION', 'cases: [{{when, value}}, ...]' or "
            "'free: {recorded: CONDITION}'"
        )
        return None
    ((form, body),) = raw.items()
    try:
        if form == "free":
            if (
                kind not in ("int", "number")
                or not isinstance(body, Mapping)
                or set(body) != {"recorded"}
            ):
                problems.append(f"{here}: 'free' is for numbers: free: {{recorded: CONDITION}}")
                return None
            return Free(parse(body["recorded"], vocabulary, f"{here}.free.recorded"))
        if form == "truth":
            if kind != "bool":
                problems.append(f"{here}: 'truth' defines a true/false fact; {name} is {kind}")
                return None
            return Truth(parse(body, vocabulary, f"{here}.truth"))
        if not isinstance(body, list) or not body:
            problems.append(f"{here}: 'cases' needs a non-empty list")
            return None
        cases = []
        for i, case in enumerate(body):
            at = f"{here}.cases[{i}]"
            if not isinstance(case, Mapping) or set(case) != {"when", "value"}:
                problems.append(f"{at}: a case is {{when: CONDITION, value: V}}")
                return None
            when = parse(case["when"], vocabulary, at)
            cases.append(Case(when, _value(name, case["value"], vocabulary, at)))
        return Cases(tuple(cases))
    except ConditionError as exc:
        problems.append(str(exc))
        return None


def _value(name: str, value: object, vocabulary: Vocabulary, where: str) -> FactValue:
    """A case value checked by the language itself (as the right side of ``name == value``)."""
    shown = ("true" if value else "false") if isinstance(value, bool) else str(value)
    leaf = parse(f"{name} == {shown}", vocabulary, where)
    assert isinstance(leaf, Cmp)
    return leaf.value  # type: ignore[no-any-return]


def _dependency_order(
    definitions: Mapping[str, Definition], problems: list[str], where: str
) -> list[str]:
    graph = {
        name: {
            f
            for c in _definition_conditions(d)
            for f in facts_of(c)
            if f in definitions and f != name
        }
        for name, d in definitions.items()
    }
    for name, d in definitions.items():
        if any(name in facts_of(c) for c in _definition_conditions(d)):
            problems.append(f"{where}: derived.{name} is defined in terms of itself")
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        problems.append(f"{where}: derived facts depend on each other in a cycle: {exc.args[1]}")
        return list(definitions)
