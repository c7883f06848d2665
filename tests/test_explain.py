"""The compiled explanation of a rule equals the reference one (``language.basis`` walked
over the condition tree, then ``describe``), for the default rulebook and random rules."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

import gbrules
from gbrules.clinical.facts import VOCABULARY, FactValue, facts_from_intake
from gbrules.clinical.intake import parse_intake
from gbrules.core.compiled import _Explainer, describe
from gbrules.core.language import basis
from gbrules.core.rulebook import Rule
from gbrules.tools.synthetic import synthetic_intakes

from .strategies import intakes
from .test_differential import random_engine  # noqa: F401  (fixture)


def reference(rule: Rule, facts: dict[str, FactValue]) -> tuple[str, dict[str, FactValue]]:
    leaves = basis(rule.condition, facts)
    return describe(leaves, facts, VOCABULARY), {
        x.fact: facts[x.fact] for x in leaves if x.fact in facts
    }


def check(rules: list[Rule], facts: dict[str, FactValue]) -> None:
    for rule in rules:
        got = _Explainer(rule.condition, VOCABULARY).explain(facts)
        want = reference(rule, facts)
        assert got == want, rule.id
        assert list(got[1]) == list(want[1]), rule.id  # same order of triggered_by keys


def test_default_rulebook_on_synthetic_intakes(engine: gbrules.Engine) -> None:
    rules = list(engine.rulebook.rules)
    for data in synthetic_intakes(1500, 4242):
        check(rules, facts_from_intake(parse_intake(data)))


@given(intakes())
@settings(max_examples=300)
def test_random_rulebook_on_any_intake(
    random_engine: gbrules.Engine,  # noqa: F811
    data: dict[str, Any],
) -> None:
    check(list(random_engine.rulebook.rules), facts_from_intake(parse_intake(data)))


def test_one_explainer_serves_many_intakes(engine: gbrules.Engine) -> None:
    """Wordings are prepared per basis and reused; reuse must not leak values."""
    rules = list(engine.rulebook.rules)
    explainers = {r.id: _Explainer(r.condition, VOCABULARY) for r in rules}
    for data in synthetic_intakes(800, 99):
        facts = facts_from_intake(parse_intake(data))
        for rule in rules:
            assert explainers[rule.id].explain(facts) == reference(rule, facts)
