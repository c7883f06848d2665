"""Concurrency and fault injection: threads change nothing, faults leave nothing behind.

Extends the regressions in test_engine.py (8 threads x 300, one injected fault in
complete_and_start_action) to 2,000 distinct intakes, engines with different rulebooks used
from threads at once, and faults at every other durable_rules call and in the rule files.
"""

from __future__ import annotations

import errno
import shutil
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gbrules
from gbrules.clinical.engine import LOADER, cached_engine
from gbrules.core.backends import durable
from gbrules.core.errors import EngineError, RulebookError
from gbrules.io.cli import app
from gbrules.tools.synthetic import synthetic_intakes

from .conftest import load_example

N_INTAKES = 2_000
N_THREADS = 8


def _run_threads(n: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def guarded(k: int) -> None:
        try:
            work(k)
        except BaseException as exc:  # surfaced below; a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors


def test_eight_threads_two_thousand_intakes_byte_identical(engine: gbrules.Engine) -> None:
    data = list(synthetic_intakes(N_INTAKES, seed=20240601))
    serial = [engine.evaluate(d).model_dump_json() for d in data]
    results: dict[int, list[str]] = {}

    def work(k: int) -> None:
        # Each thread walks the list from a different offset so they collide on different
        # intakes at every moment; results are put back in intake order.
        out: list[str] = [""] * N_INTAKES
        for j in range(N_INTAKES):
            i = (j + k * N_INTAKES // N_THREADS) % N_INTAKES
            out[i] = engine.evaluate(data[i]).model_dump_json()
        results[k] = out

    _run_threads(N_THREADS, work)
    for k in range(N_THREADS):
        assert results[k] == serial, f"thread {k} differs from the serial run"
    assert durable.live_sessions() == 0


def _pack(tmp: Path, name: str, code: str, when: str) -> gbrules.Engine:
    d = tmp / name
    d.mkdir()
    (d / "r.yaml").write_text(
        textwrap.dedent(
            f"""\
            rules:
              - id: {name}.only
                title: {name}
                when: "{when}"
                then: {{code: {code}, rationale: {name}}}
                evidence: [test]
            """
        )
    )
    return gbrules.Engine.from_directory(d)


def test_engines_with_different_rulebooks_stay_apart_under_threads(tmp_path: Path) -> None:
    # Same condition, different rules and codes; plus a third engine with a disjoint condition.
    a = _pack(tmp_path, "a", "sleep.hygiene", "sleep_hours < 7")
    b = _pack(tmp_path, "b", "stress.breathing", "sleep_hours < 7")
    c = _pack(tmp_path, "c", "exercise.aerobic", "exercise_minutes_per_week < 150")
    short = {"age": 40, "lifestyle": {"sleep_hours": 5.0, "exercise_minutes_per_week": 300}}
    inactive = {"age": 40, "lifestyle": {"sleep_hours": 8.0, "exercise_minutes_per_week": 10}}
    want = {
        ("a", 0): ["a.only"],
        ("b", 0): ["b.only"],
        ("c", 0): [],
        ("a", 1): [],
        ("b", 1): [],
        ("c", 1): ["c.only"],
    }
    engines = {"a": a, "b": b, "c": c}
    default = cached_engine()
    default_crisis = default.evaluate(load_example("crisis")).model_dump_json()

    def work(k: int) -> None:
        for j in range(400):
            name = "abc"[(j + k) % 3]
            which = (j // 3 + k) % 2
            ev = engines[name].evaluate((short, inactive)[which])
            assert ev.fired_rules == want[(name, which)], (k, j, name, which, ev.fired_rules)
            if j % 50 == 0:  # the default engine, interleaved, is not disturbed either
                assert default.evaluate(load_example("crisis")).model_dump_json() == default_crisis

    _run_threads(6, work)
    assert durable.live_sessions() == 0
    for e in (a, b, c):
        e.close()


# ---------------------------------------------------------------- rule files that move


RULE = textwrap.dedent(
    """\
    rules:
      - id: site.short_sleep
        title: short sleep
        when: "sleep_hours < 6"
        then: {code: sleep.hygiene, rationale: "sleep {sleep_hours} h"}
        evidence: [test]
    """
)


def test_rule_file_deleted_after_load_engine_keeps_working(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RULE)
    eng = gbrules.Engine.from_directory(tmp_path)
    shutil.rmtree(tmp_path)
    ev = eng.evaluate({"age": 30, "lifestyle": {"sleep_hours": 4.0}})
    assert ev.fired_rules == ["site.short_sleep"]
    eng.close()


def test_cached_engine_with_a_vanished_site_pack_raises_rulebook_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LOADER, "interval", 0.0)  # check the files on every call
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "r.yaml").write_text(RULE)
    ev = gbrules.evaluate({"age": 30, "lifestyle": {"sleep_hours": 4.0}}, rules=pack)
    assert "site.short_sleep" in ev.fired_rules
    shutil.rmtree(pack)
    with pytest.raises(RulebookError, match="not a directory"):
        gbrules.evaluate({"age": 30}, rules=pack)
    # The CLI says so in words, exit 2.
    result = CliRunner().invoke(app, ["evaluate", "--example", "case1", "--rules", str(pack)])
    assert result.exit_code == 2
    assert "not a directory" in result.stderr
    # Put back (different content, so a rebuild is needed): it works again.
    pack.mkdir()
    (pack / "r.yaml").write_text(RULE.replace("< 6", "< 5"))
    ev = gbrules.evaluate({"age": 30, "lifestyle": {"sleep_hours": 5.5}}, rules=pack)
    assert "site.short_sleep" not in ev.fired_rules
    # The default engine never noticed.
    assert gbrules.evaluate(load_example("crisis")).suggestions[0].code == "safety.crisis"


def test_cached_engine_when_a_file_vanishes_between_listing_and_stat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LOADER, "interval", 0.0)  # check the files on every call
    (tmp_path / "r.yaml").write_text(RULE)
    gbrules.evaluate({"age": 30}, rules=tmp_path)
    real_stat = Path.stat

    def flaky_stat(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "r.yaml":
            raise FileNotFoundError(errno.ENOENT, "vanished", str(self))
        return real_stat(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "stat", flaky_stat)
    with pytest.raises(RulebookError):
        gbrules.evaluate({"age": 30}, rules=tmp_path)
    monkeypatch.setattr(Path, "stat", real_stat)
    assert gbrules.evaluate({"age": 30}, rules=tmp_path).rulebook_version


# ---------------------------------------------------------------- durable_rules failing


def _boom(*args: object) -> object:
    raise RuntimeError("injected fault")


@pytest.mark.parametrize(
    "function", ["assert_fact", "start_action_for_state", "retract_fact"]
)  # complete_and_start_action: test_engine.py
def test_engine_fault_gives_engine_error_then_recovers(
    function: str, engine: gbrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = load_example("case2")
    good = engine.evaluate(data).model_dump_json()
    monkeypatch.setattr(durable._dre, function, _boom)
    with pytest.raises(EngineError):
        engine.evaluate(data)
    monkeypatch.undo()
    assert durable.live_sessions() == 0  # the faulty state was deleted, not kept for reuse
    assert engine.evaluate(data).model_dump_json() == good
    assert durable.live_sessions() == 0
    for name in ("case1", "crisis"):
        ev = engine.evaluate(load_example(name))
        assert ev.suggestions
    assert durable.live_sessions() == 0


def test_a_fault_and_a_failing_delete_leave_one_orphan_that_is_retried(
    engine: gbrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = load_example("case2")
    good = engine.evaluate(data).model_dump_json()
    monkeypatch.setattr(durable._dre, "retract_fact", _boom)
    monkeypatch.setattr(durable._dre, "delete_state", _boom)
    with pytest.raises(EngineError, match="mid-evaluation"):
        engine.evaluate(data)
    # Honest: a fault drops the states of every ruleset of the rulebook (one per ruleset) and
    # each failed delete is still held, to be retried.
    assert durable.live_sessions() == len(engine._rulesets)
    monkeypatch.undo()
    assert engine.evaluate(data).model_dump_json() == good
    assert durable.live_sessions() == 0


def test_reused_states_are_recycled_and_stay_exact(
    engine: gbrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(durable, "RECYCLE_AFTER", 7)
    deleted: list[str] = []
    real = durable._dre.delete_state

    def counting(handle: int, sid: str) -> object:
        deleted.append(sid)
        return real(handle, sid)

    monkeypatch.setattr(durable._dre, "delete_state", counting)
    data = list(synthetic_intakes(100, seed=5))
    expected = [engine.evaluate(d).model_dump_json() for d in data]
    assert len(deleted) >= 100 // 7 - 1  # a fresh state every 7 evaluations
    assert len(set(deleted)) == len(deleted)
    assert [engine.evaluate(d).model_dump_json() for d in data] == expected
    assert durable.live_sessions() == 0
    assert durable.parked_sessions() >= 1


def test_fault_in_the_second_ruleset_gives_no_partial_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = "".join(
        textwrap.indent(RULE.removeprefix("rules:\n").replace("site.short_sleep", f"s.r{i}"), "")
        for i in range(durable.MAX_RULES + 5)
    )
    (tmp_path / "r.yaml").write_text("rules:\n" + rules)
    eng = gbrules.Engine.from_directory(tmp_path)
    assert len(eng._rulesets) == 2
    data = {"age": 30, "lifestyle": {"sleep_hours": 4.0}}
    good = eng.evaluate(data)
    assert len(good.fired_rules) == durable.MAX_RULES + 5
    real = durable._dre.assert_fact
    calls = {"n": 0}

    def second_fails(*args: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("injected fault in ruleset 2")
        return real(*args)

    monkeypatch.setattr(durable._dre, "assert_fact", second_fails)
    with pytest.raises(EngineError):
        eng.evaluate(data)
    monkeypatch.undo()
    assert durable.live_sessions() == 0
    assert eng.evaluate(data) == good
    eng.close()


def test_threads_with_fast_recycling_match_the_serial_run(
    engine: gbrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """States are reused and replaced every 3 evaluations while 4 threads interleave."""
    data = list(synthetic_intakes(150, seed=77))
    serial = [engine.evaluate(d).model_dump_json() for d in data]
    monkeypatch.setattr(durable, "RECYCLE_AFTER", 3)
    results: dict[int, list[str]] = {}

    def work(k: int) -> None:
        results[k] = [engine.evaluate(d).model_dump_json() for d in data[k:] + data[:k]]

    _run_threads(4, work)
    for k in range(4):
        assert results[k] == serial[k:] + serial[:k]
    assert durable.live_sessions() == 0


def test_delete_state_failing_repeatedly_is_retried_until_it_works(
    engine: gbrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = load_example("case1")
    good = engine.evaluate(data)
    monkeypatch.setattr(durable, "RECYCLE_AFTER", 1)  # every evaluation deletes its state
    monkeypatch.setattr(durable._dre, "delete_state", _boom)
    assert engine.evaluate(data) == good  # its result stands; its state is kept as an orphan
    for _ in range(3):
        with pytest.raises(EngineError, match="release"):
            engine.evaluate(data)
    # The first orphan of each ruleset blocks new work there: nothing piles up.
    assert durable.live_sessions() == len(engine._rulesets)
    monkeypatch.undo()
    assert engine.evaluate(data) == good
    assert durable.live_sessions() == 0


def test_engine_fault_in_the_cli_exits_1_without_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cached_engine()  # built before the fault (its warm-up would fail too)
    monkeypatch.setattr(durable._dre, "start_action_for_state", _boom)
    result = CliRunner().invoke(app, ["evaluate", "--example", "case1"])
    monkeypatch.undo()
    assert result.exit_code == 1
    assert "no plan was produced" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert durable.live_sessions() == 0


def test_a_retraction_that_silently_does_nothing_is_caught_on_the_next_evaluation(
    engine: gbrules.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every fact goes in under one fixed id, so a fact left in a reused state cannot hide:
    the next assert is refused (code 2), that evaluation fails, and a fresh state follows."""
    first, second = load_example("case1"), load_example("case2")
    good = engine.evaluate(second).model_dump_json()
    monkeypatch.setattr(durable._dre, "retract_fact", lambda handle, message: 0)
    engine.evaluate(first)  # its own result is whole; its fact stays behind
    monkeypatch.undo()
    with pytest.raises(EngineError, match="did not take the facts"):
        engine.evaluate(second)
    assert durable.live_sessions() == 0
    assert engine.evaluate(second).model_dump_json() == good


def test_rule_names_must_share_one_width() -> None:
    expr = {"$gt": {"age": 1}}  # refused before it reaches the engine
    with pytest.raises(ValueError, match="one width"):
        durable.CompiledRuleset("t", [("r1", expr), ("r22", expr)])
