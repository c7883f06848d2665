"""The durable_rules driver: every matching rule fires, nothing leaks, limits are handled."""

from __future__ import annotations

import random
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import gbrules
from gbrules.clinical.facts import facts_from_intake
from gbrules.clinical.intake import parse_intake
from gbrules.core.backends import durable
from gbrules.core.engine import MANY_AT_ONCE
from gbrules.core.errors import EngineError, RulebookError
from gbrules.core.language import evaluate as reference

from .conftest import load_example


def rule(i: int, when: str, code: str = "sleep.hygiene") -> str:
    return textwrap.dedent(
        f"""
        - id: t.rule{i:03d}
          title: rule {i}
          when: {when}
          then:
            code: {code}
            rationale: r{i}
          evidence: [test]
        """
    )


def engine_of(tmp_path: Path, rules: list[str]) -> gbrules.Engine:
    (tmp_path / "t.yaml").write_text("rules:\n" + textwrap.indent("".join(rules), "  "))
    return gbrules.Engine.from_directory(tmp_path)


def test_every_matching_rule_fires_past_the_64_condition_limit(tmp_path: Path) -> None:
    # 150 rules true at once, more than one ruleset holds (MAX_RULES): results are merged.
    eng = engine_of(tmp_path, [rule(i, f'"sleep_hours <= {i % 20 + 5}"') for i in range(150)])
    assert len(eng._rulesets) > 1
    fired = eng.fire({"sleep_hours": 4.0, "age": 40})
    assert [r.id for r in fired] == [f"t.rule{i:03d}" for i in range(150)]
    assert eng.fire({"sleep_hours": 30.0, "age": 40}) == []
    eng.close()


def test_a_rule_with_several_true_branches_fires_once(tmp_path: Path) -> None:
    when = '{any: ["sleep_hours < 7", "sleep_quality_poor == true", "stress_score >= 1"]}'
    eng = engine_of(tmp_path, [rule(0, when)])
    ev = eng.evaluate(
        {"age": 40, "lifestyle": {"sleep_hours": 5, "sleep_quality_poor": True, "stress_score": 9}}
    )
    assert ev.fired_rules == ["t.rule000"]
    assert [s.code for s in ev.suggestions] == ["sleep.hygiene"]


def test_missing_fact_never_matches_negated_comparison(tmp_path: Path) -> None:
    eng = engine_of(
        tmp_path,
        [
            rule(0, '{not: "sleep_hours >= 7"}'),
            rule(1, '"sleep_hours != 7"'),
            rule(2, '"sleep_hours is missing"'),
        ],
    )
    assert [r.id for r in eng.fire({"age": 40})] == ["t.rule002"]
    assert [r.id for r in eng.fire({"age": 40, "sleep_hours": 6.0})] == ["t.rule000", "t.rule001"]


def test_twenty_thousand_evaluations_leave_no_state_and_still_fire(engine: gbrules.Engine) -> None:
    facts = facts_from_intake(parse_intake(load_example("case2")))
    expected = [r.id for r in engine.fire(facts)]
    base = durable.live_sessions()
    for i in range(20_000):
        f = dict(facts, age=18 + i % 80)
        engine.fire(f)
    assert durable.live_sessions() == base == 0
    assert [r.id for r in engine.fire(facts)] == expected
    ev = engine.evaluate(load_example("crisis"))
    assert ev.suggestions[0].code == "safety.crisis"


def test_hash_collisions_in_the_vocabulary_are_refused() -> None:
    # These two names share a 32-bit FNV-1a hash, the engine's field identity.
    assert durable.fnv1a_32("fact_522789") == durable.fnv1a_32("fact_739192")
    with pytest.raises(RulebookError, match="collide"):
        durable.check_hash_collisions(["fact_522789", "fact_739192"])
    durable.check_hash_collisions(["age", "sex"])


def test_two_engines_never_see_each_others_rules(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = engine_of(tmp_path / "a", [rule(0, '"sleep_hours < 7"')])
    b = engine_of(tmp_path / "b", [rule(1, '"sleep_hours < 7"', code="stress.breathing")])
    facts = {"age": 40, "sleep_hours": 5.0}
    assert [r.id for r in a.fire(facts)] == ["t.rule000"]
    assert [r.id for r in b.fire(facts)] == ["t.rule001"]


def test_closed_engine_refuses_work(tmp_path: Path) -> None:
    eng = engine_of(tmp_path, [rule(0, '"sleep_hours < 7"')])
    eng.close()
    with pytest.raises(EngineError):
        eng.fire({"age": 1})


def test_engine_failure_mid_evaluation_is_clean_and_recoverable(
    engine: gbrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = load_example("case2")
    good = engine.evaluate(data)
    real = durable._dre.complete_and_start_action

    def boom(*args: object) -> object:
        raise RuntimeError("injected")

    monkeypatch.setattr(durable._dre, "complete_and_start_action", boom)
    with pytest.raises(EngineError, match="mid-evaluation"):
        engine.evaluate(data)
    monkeypatch.setattr(durable._dre, "complete_and_start_action", real)
    assert durable.live_sessions() == 0
    assert engine.evaluate(data) == good


def _counted(items: list[object], taken: list[int]) -> Iterator[object]:
    for item in items:
        taken.append(1)
        yield item


def test_evaluate_many_fails_in_place_like_one_by_one(engine: gbrules.Engine) -> None:
    # A bad intake in the middle of a chunk: the results before it come first, then its
    # IntakeError; nothing after it is evaluated, and the iterator is read at most a chunk ahead.
    good = [{"age": 20 + i, "lifestyle": {"sleep_hours": 4 + i % 5}} for i in range(100)]
    bad = {"age": 40, "lifestyle": {"sleep_hours": -3}}
    items: list[object] = [*good[:10], bad, *good[10:]]
    taken: list[int] = []
    results = []
    with pytest.raises(gbrules.IntakeError, match="sleep_hours"):
        for ev in engine.evaluate_many(_counted(items, taken)):
            results.append(ev)
    assert results == [engine.evaluate(d) for d in good[:10]]
    assert len(taken) <= MANY_AT_ONCE


def test_evaluate_many_engine_fault_mid_chunk_keeps_the_order(
    engine: gbrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = [{"age": 30 + i, "lifestyle": {"sleep_hours": 5}} for i in range(MANY_AT_ONCE + 10)]
    expected = [engine.evaluate(d) for d in data]
    real = durable._dre.assert_fact
    calls = {"n": 0}

    def fails_on_the_seventh(*args: object) -> object:
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("injected")
        return real(*args)

    monkeypatch.setattr(durable._dre, "assert_fact", fails_on_the_seventh)
    results = []
    with pytest.raises(EngineError, match="rejected the facts"):
        for ev in engine.evaluate_many(data):
            results.append(ev)
    monkeypatch.setattr(durable._dre, "assert_fact", real)
    assert results == expected[:6]
    assert list(engine.evaluate_many(data)) == expected  # and it recovers
    assert durable.live_sessions() == 0


def test_threads_get_exactly_the_serial_results(engine: gbrules.Engine) -> None:
    rng = random.Random(7)
    names = ["case1", "case2", "crisis"]
    intakes = []
    for i in range(300):
        d = load_example(names[i % 3])
        d["age"] = rng.randint(18, 90)
        intakes.append(d)
    serial = [engine.evaluate(d).model_dump_json() for d in intakes]
    results: dict[int, list[str]] = {}

    def work(k: int) -> None:
        results[k] = [engine.evaluate(d).model_dump_json() for d in intakes]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[k] == serial for k in range(8))


def test_fire_matches_reference_on_examples(engine: gbrules.Engine) -> None:
    for name in ("case1", "case2", "crisis"):
        facts = facts_from_intake(parse_intake(load_example(name)))
        expected = [r.id for r in engine.rulebook.rules if reference(r.condition, facts) is True]
        assert [r.id for r in engine.fire(facts)] == expected
