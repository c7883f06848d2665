"""durable_rules against the pure-Python reference evaluator of the same conditions.

durable_rules is treated as a component that can misbehave: for random intakes (hypothesis)
and for a random rulebook of nested all/any/not conditions, the set of rules that fire must be
exactly the set whose condition is true under three-valued logic. The same over a non-clinical
vocabulary: tests/test_differential_generic.py (``random_condition`` is shared).
"""

from __future__ import annotations

import random
import textwrap

import pytest
from hypothesis import given, settings

import gbrules
from gbrules.clinical.engine import cached_engine
from gbrules.clinical.facts import VOCABULARY, facts_from_intake
from gbrules.clinical.intake import parse_intake
from gbrules.core.language import evaluate as reference
from gbrules.core.vocabulary import Vocabulary

from .strategies import intakes


@given(intakes())
@settings(max_examples=400)
def test_default_rulebook_fires_exactly_the_true_rules(data: dict[str, object]) -> None:
    engine = cached_engine()
    facts = facts_from_intake(parse_intake(data))
    expected = [r.id for r in engine.rulebook.rules if reference(r.condition, facts) is True]
    assert [r.id for r in engine.fire(facts)] == expected


_THRESHOLDS = {
    "int": lambda spec, rng: rng.randint(int(spec.lo), min(int(spec.hi), 200)),
    "number": lambda spec, rng: round(rng.uniform(spec.lo, min(spec.hi, 200.0)), 1),
}  # every fact the generators use has lo and hi


def _leaf(rng: random.Random, vocabulary: Vocabulary) -> str:
    name = rng.choice([n for n, s in vocabulary.items() if s.type != "text"])
    spec = vocabulary[name]
    if rng.random() < 0.1:
        return f'"{name} is {rng.choice(["missing", "recorded"])}"'
    if spec.type == "bool":
        return f'"{name} {rng.choice(["==", "!="])} {rng.choice(["true", "false"])}"'
    if spec.type == "enum":
        if rng.random() < 0.3:
            vals = rng.sample(spec.values, k=rng.randint(1, len(spec.values)))
            return f'"{name} {rng.choice(["in", "not in"])} [{", ".join(vals)}]"'
        return f'"{name} {rng.choice(["==", "!="])} {rng.choice(spec.values)}"'
    op = rng.choice(["==", "!=", "<", "<=", ">", ">="])
    return f'"{name} {op} {_THRESHOLDS[spec.type](spec, rng)}"'


def random_condition(rng: random.Random, depth: int, vocabulary: Vocabulary = VOCABULARY) -> str:
    """A random nested all/any/not condition over ``vocabulary``, as YAML flow text."""
    if depth == 0 or rng.random() < 0.35:
        return _leaf(rng, vocabulary)
    kind = rng.choice(["all", "any", "not"])
    if kind == "not":
        return f"{{not: {random_condition(rng, depth - 1, vocabulary)}}}"
    kids = ", ".join(random_condition(rng, depth - 1, vocabulary) for _ in range(rng.randint(1, 3)))
    return f"{{{kind}: [{kids}]}}"


@pytest.fixture(scope="module")
def random_engine(tmp_path_factory: pytest.TempPathFactory) -> gbrules.Engine:
    rng = random.Random(20261121)
    d = tmp_path_factory.mktemp("random_rules")
    rules = "".join(
        textwrap.dedent(
            f"""
            - id: rnd.r{i:03d}
              title: random {i}
              when: {random_condition(rng, 3)}
              then: {{code: diet.fiber, rationale: x}}
              evidence: [test]
            """
        )
        for i in range(160)
    )
    (d / "random.yaml").write_text("rules:\n" + textwrap.indent(rules, "  "))
    return gbrules.Engine.from_directory(d)


@given(intakes())
@settings(max_examples=600)
def test_random_rulebook_fires_exactly_the_true_rules(
    random_engine: gbrules.Engine, data: dict[str, object]
) -> None:
    facts = facts_from_intake(parse_intake(data))
    expected = [r.id for r in random_engine.rulebook.rules if reference(r.condition, facts) is True]
    assert [r.id for r in random_engine.fire(facts)] == expected
