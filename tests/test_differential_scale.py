"""Differential test at scale: durable_rules (through gbrules' driver) against the reference.

For every synthetic intake, the rules Engine.fire reports must be exactly the rules whose
condition the pure-Python Kleene evaluator finds True, in rulebook order. A fixed seed keeps
the run reproducible; a fresh seed each run widens the net and is printed on failure.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable

import pytest

from gbrules.clinical.engine import Engine
from gbrules.clinical.facts import facts_from_intake
from gbrules.clinical.intake import parse_intake
from gbrules.core import language
from gbrules.core.result import Evaluation
from gbrules.tools.synthetic import replicated_rulebook, synthetic_intakes

FIXED_SEED = 20240601
FRESH_SEED = random.SystemRandom().randrange(1 << 30)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.default()


def _differences(engine: Engine, intakes: Iterable[dict[str, object]]) -> tuple[int, list[str]]:
    rules = engine.rulebook.rules
    n = 0
    diffs: list[str] = []
    for i, data in enumerate(intakes):
        facts = facts_from_intake(parse_intake(data))
        got = [r.id for r in engine.fire(facts)]
        want = [r.id for r in rules if language.evaluate(r.condition, facts) is True]
        n += 1
        if got != want and len(diffs) < 5:
            missing = sorted(set(want) - set(got))
            extra = sorted(set(got) - set(want))
            diffs.append(f"intake #{i}: missing {missing}, extra {extra}, facts {facts}")
    return n, diffs


@pytest.mark.slow
def test_engine_equals_reference_on_10000_intakes(engine: Engine) -> None:
    n, diffs = _differences(engine, synthetic_intakes(10_000, FIXED_SEED))
    assert n == 10_000
    assert not diffs, f"seed {FIXED_SEED}:\n" + "\n".join(diffs)


def test_engine_equals_reference_fresh_seed(engine: Engine) -> None:
    _, diffs = _differences(engine, synthetic_intakes(3_000, FRESH_SEED))
    assert not diffs, f"fresh seed {FRESH_SEED} (rerun with it):\n" + "\n".join(diffs)


def test_replicated_rulebook_split_into_rulesets_equals_reference(tmp_path) -> None:
    # 4 x the default rulebook exceeds one durable ruleset (the stack bound): results are merged.
    engine = Engine.from_directory(replicated_rulebook(tmp_path / "x4", copies=4))
    try:
        assert len(engine.rulebook.rules) > 100
        _, diffs = _differences(engine, synthetic_intakes(2_000, FIXED_SEED + 1))
        assert not diffs, "\n".join(diffs)
    finally:
        engine.close()


def test_every_rule_fires_somewhere_in_the_sample(engine: Engine) -> None:
    # The generator must reach every rule, or the differential test proves less than it says.
    fired: set[str] = set()
    for data in synthetic_intakes(10_000, FIXED_SEED):
        fired.update(r.id for r in engine.fire(facts_from_intake(parse_intake(data))))
    assert fired == {r.id for r in engine.rulebook.rules}


def test_fast_constructed_evaluations_round_trip_through_validation(engine: Engine) -> None:
    # Evaluations are built without re-validation on the hot path; they must be exactly what
    # validation would have produced.
    for ev in engine.evaluate_many(synthetic_intakes(500, FIXED_SEED + 2)):
        text = ev.model_dump_json()
        again = Evaluation.model_validate(json.loads(text))
        assert again.model_dump_json() == text
        assert again == ev


def test_explanations_are_the_same_with_and_without_memo(engine: Engine) -> None:
    intakes = list(synthetic_intakes(300, FIXED_SEED + 3))
    first = [ev.model_dump_json() for ev in engine.evaluate_many(intakes)]
    engine.clear_caches()
    cold = [engine.evaluate(x).model_dump_json() for x in reversed(intakes)]
    assert first == list(reversed(cold))


def test_negative_zero_is_recorded_as_zero(engine: Engine) -> None:
    """-0.0 passes validation (it is >= 0) and becomes 0.0 everywhere, so the explanation
    memo, which keys on values, can never show one spelling for the other."""
    a = engine.evaluate({"age": 40, "lifestyle": {"fiber_g_per_day": 0.0}})
    b = engine.evaluate({"age": 40, "lifestyle": {"fiber_g_per_day": -0.0}})
    for ev in (a, b):
        fiber = ev.suggestion("diet.fiber")
        assert fiber is not None
        assert repr(fiber.triggered_by["fiber_g_per_day"]) == "0.0"
        assert repr(ev.facts["fiber_g_per_day"]) == "0.0"
    assert a.model_dump_json() == b.model_dump_json()
