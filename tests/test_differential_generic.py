"""The rule core over a non-clinical vocabulary: durable_rules against the reference evaluator.

The engine must not depend on the clinical facts. A plant-maintenance vocabulary (numbers,
whole numbers, flags, an enum, free text) and a random rulebook of nested all/any/not
conditions over it: for random facts (hypothesis), the rules ``Engine.fire`` reports, and the
rules an evaluation says fired, must be exactly those whose condition the pure-Python Kleene
evaluator finds true; each explanation must equal the reference one. Codes are open (no code
vocabulary: any dotted code).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import gbrules
from gbrules.core.compiled import describe
from gbrules.core.language import basis
from gbrules.core.language import evaluate as reference
from gbrules.core.vocabulary import FactSpec

from .test_differential import random_condition

PLANT = gbrules.Vocabulary(
    [
        FactSpec("temperature_c", "number", "bearing temperature", "C", -40, 200),
        FactSpec("vibration_mm_s", "number", "vibration velocity", "mm/s", 0, 50),
        FactSpec("hours_since_service", "int", "running hours since service", "h", 0, 20000),
        FactSpec("overload_trips", "int", "overload trips this week", "", 0, 100),
        FactSpec("oil_low", "bool", "oil level below the mark"),
        FactSpec("guard_open", "bool", "safety guard open"),
        FactSpec("mode", "enum", "operating mode", values=("idle", "run", "fault", "service")),
        FactSpec("operator_note", "text", "free-text note"),
    ]
)

# Values on and beside the generated thresholds (whole and one-decimal numbers), plus any.
_NUMBERS = st.one_of(
    st.integers(-40, 200).map(float),
    st.integers(-400, 2000).map(lambda x: x / 10),
    st.floats(-40, 200, allow_nan=False),
)


def _value(spec: FactSpec) -> st.SearchStrategy[Any]:
    if spec.type == "bool":
        return st.booleans()
    if spec.type == "enum":
        return st.sampled_from(spec.values)
    if spec.type == "text":
        return st.text(max_size=20)
    lo, hi = spec.lo or 0, spec.hi or 0
    if spec.type == "int":
        return st.integers(int(lo), int(hi))
    return _NUMBERS.filter(lambda x: lo <= x <= hi)


plant_facts = st.fixed_dictionaries(
    {}, optional={name: st.none() | _value(spec) for name, spec in PLANT.items()}
)


def _rules(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"maint.r{i:03d}",
            "when": yaml.safe_load(random_condition(rng, 3, PLANT)),
            "then": {"code": f"{rng.choice(['inspect', 'service', 'stop'])}.r{i % 7}"},
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def plant_engine() -> gbrules.Engine:
    return gbrules.Engine.from_rules(_rules(20261212, 160), vocabulary=PLANT)


@given(plant_facts)
@settings(max_examples=600)
def test_random_rules_over_a_plant_vocabulary_fire_exactly_the_true_rules(
    plant_engine: gbrules.Engine, data: dict[str, Any]
) -> None:
    facts = PLANT.read(data)
    expected = [r.id for r in plant_engine.rulebook.rules if reference(r.condition, facts) is True]
    assert [r.id for r in plant_engine.fire(data)] == expected
    ev = plant_engine.evaluate(data)
    assert ev.fired_rules == expected
    assert ev.facts == facts
    assert ev.not_recorded == [n for n in PLANT if n not in facts]
    by_id = {r.id: r for r in plant_engine.rulebook.rules}
    for s in ev.suggestions:
        rule = by_id[s.rule_id]
        leaves = basis(rule.condition, facts)
        assert s.rationale == describe(leaves, facts, PLANT)
        assert s.triggered_by == {x.fact: facts[x.fact] for x in leaves if x.fact in facts}
        assert s.category == s.code.split(".")[0]


def test_the_contract_example_runs() -> None:
    vocab = gbrules.Vocabulary({"age": "number", "smoker": "bool", "stage": ["I", "II", "III"]})
    engine = gbrules.Engine.from_rules(
        [{"id": "r1", "when": {"all": ["age >= 50", "smoker == true"]}, "then": {"code": "x.y"}}],
        vocabulary=vocab,
    )
    assert [r.id for r in engine.fire({"age": 61, "smoker": True})] == ["r1"]
    assert engine.fire({"age": 61}) == []  # smoker not recorded: unknown, so no
    assert engine.fire({"age": 61, "smoker": None}) == []  # None is "not recorded" too
    engine.close()
