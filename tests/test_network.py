"""The stack bound that splits a rulebook into durable rulesets (gbrules.core.backends.network).

durable_rules fails an assertion with error 303 when a fact would push more than 64 pending
alpha nodes, and the state it leaves then crashed the process when deleted. The bound must
therefore never be below what the engine really pushes (checked on random networks, in-process,
only where the bound says it is safe) and is exact at the edge on the shapes that reach it
(the one-over case runs in a child process, so a crash there cannot take the suite down).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

import gbrules
from gbrules.core.backends import durable
from gbrules.core.backends.network import STACK_LIMIT, stack_bound
from gbrules.core.errors import RulebookError

MARK = {"mk": 1}


def _neq_rules(n: int) -> list[dict[str, Any]]:
    """n rules ``x != i``: every one holds for x = -1, each a separate test node."""
    return [{"$and": [MARK, {"$neq": {"x": i}}]} for i in range(n)]


def _or_rules(n: int) -> list[dict[str, Any]]:
    """n rules sharing the tests a, b, c under an ``$or``: each adds one join node per branch."""
    return [{"$and": [MARK, {"$or": [{"a": 1}, {"b": 1}, {"c": 1}]}]} for _ in range(n)]


def _nested_rules(n: int) -> list[dict[str, Any]]:
    """n rules with a range test, then an ``$or`` whose branches are themselves chains."""
    return [
        {
            "$and": [
                MARK,
                {"$gte": {"y": i % 3}},
                {"$or": [{"$and": [{"a": 1}, {"$nex": {"z": 1}}]}, {"b": 1}]},
            ]
        }
        for i in range(n)
    ]


ALL_HOLD = {"mk": 1, "x": -1, "a": 1, "b": 1, "c": 1, "y": 5}

SHAPES = {"neq": _neq_rules, "or": _or_rules, "nested": _nested_rules}


def _most_rules_within_the_limit(shape: str) -> int:
    n = 1
    while stack_bound(SHAPES[shape](n + 1)) <= STACK_LIMIT:
        n += 1
    return n


_CHILD = textwrap.dedent(
    """
    import json, sys
    from gbrules.core.backends.loader import load_engine
    dre = load_engine()
    exprs, fact = json.loads(sys.stdin.read())
    definition = {f"r{i:03d}": {"all": [{"m": e}]} for i, e in enumerate(exprs)}
    handle = dre.create_ruleset("probe", json.dumps(definition))
    try:
        dre.assert_fact(handle, json.dumps({**fact, "id": "1", "sid": "1"}))
        print("ok")
    except Exception as exc:
        print(exc)
    """
)


def _assert_in_child(exprs: list[dict[str, Any]], fact: dict[str, Any]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps([exprs, fact]),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.strip() or f"exit {done.returncode}: {done.stderr[-300:]}"


@pytest.mark.parametrize(("shape", "rules_at_limit"), [("neq", 64), ("or", 62)])
def test_bound_is_exact_at_the_engines_limit(shape: str, rules_at_limit: int) -> None:
    # 64 separate tests that all hold; 62 rules x one join per branch, plus the 3 branch tests.
    assert _most_rules_within_the_limit(shape) == rules_at_limit
    at = SHAPES[shape](rules_at_limit)
    over = SHAPES[shape](rules_at_limit + 1)
    assert stack_bound(at) == STACK_LIMIT
    assert stack_bound(over) == STACK_LIMIT + 1
    assert _assert_in_child(at, ALL_HOLD) == "ok"
    assert "error code: 303" in _assert_in_child(over, ALL_HOLD)


def test_nested_alternatives_at_the_bound_still_assert() -> None:
    # Chains inside $or branches under shared range tests: the fact where everything holds
    # pushes the most, and the engine takes it at the largest size the bound allows.
    n = _most_rules_within_the_limit("nested")
    assert n > 100  # the joins spread over three range tests
    assert _assert_in_child(_nested_rules(n), ALL_HOLD) == "ok"


def test_shared_tests_do_not_count_twice() -> None:
    # Hundreds of rules on one shared test push one node: the bound does not grow with them.
    same = [{"$and": [MARK, {"x": 1}]} for _ in range(200)]
    assert stack_bound(same) == 1
    # Equality tests on one property: a fact has one value, so at most one of them holds.
    assert stack_bound([{"$and": [MARK, {"x": i}]} for i in range(200)]) == 1


# --- random networks: the bound is never below what the engine pushes ------------------------

PROPS = ("p", "q", "r", "s")
OPS = ("==", "$neq", "$gt", "$lt", "$nex")


@st.composite
def _leaf(draw: st.DrawFn) -> dict[str, Any]:
    prop = draw(st.sampled_from(PROPS))
    op = draw(st.sampled_from(OPS))
    value = draw(st.integers(0, 3))
    if op == "==":
        return {prop: value}
    if op == "$nex":
        return {"$nex": {prop: 1}}
    return {op: {prop: value}}


_expr = st.recursive(
    _leaf(),
    lambda inner: st.builds(
        lambda kind, items: {kind: items},
        st.sampled_from(("$and", "$or")),
        st.lists(inner, min_size=2, max_size=4),
    ),
    max_leaves=8,
)
_fact = st.fixed_dictionaries({}, optional={p: st.integers(-1, 4) for p in PROPS})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_expr, min_size=1, max_size=80), st.lists(_fact, min_size=1, max_size=8))
def test_engine_never_overflows_where_the_bound_says_it_is_safe(
    exprs: list[dict[str, Any]], facts: list[dict[str, Any]]
) -> None:
    guarded = [{"$and": [{durable.MARKER: 1}, e]} for e in exprs]
    bound = stack_bound([{durable.MARKER: 1}, *guarded])
    if bound > STACK_LIMIT:
        return  # not a ruleset gbrules would build
    target(float(bound))  # hunt toward the engine's limit, where an undercount would show
    names = [f"r{i:03d}" for i in range(len(exprs))]
    ruleset = durable.CompiledRuleset("prop", list(zip(names, exprs, strict=True)))
    encoder = durable.FactEncoder(PROPS)
    try:
        for fact in facts:
            parts = [f'"{k}":{v}' for k, v in fact.items()] + [f'"{durable.MARKER}":1']
            payload = "{" + ",".join(parts)
            ruleset.fire(payload)  # an overflow would raise EngineError (code 303)
    finally:
        ruleset.close()
    assert encoder.alias  # the names are a valid vocabulary for the engine's hash


# --- partition ---------------------------------------------------------------------------------


def test_default_rulebook_is_one_ruleset_within_the_bound() -> None:
    engine = gbrules.Engine.default()
    try:
        assert len(engine._rulesets) == 1
    finally:
        engine.close()


def test_partition_keeps_every_group_within_the_bound_and_the_rule_order() -> None:
    rules = [(f"r{i:03d}", e) for i, e in enumerate(_or_rules(150))]
    groups = durable.partition(rules)
    assert [name for g in groups for name, _ in g] == [name for name, _ in rules]
    assert len(groups) == 3
    for g in groups:
        assert stack_bound([{durable.MARKER: 1}, *(durable._guarded(e) for _, e in g)]) <= 64


def test_a_rule_too_wide_for_the_engine_is_refused_by_name(tmp_path: Path) -> None:
    # 70 thresholds on one fact, any of which may hold at once: 70 pending tests.
    wide = "".join(f'\n        - "sleep_hours > {h / 10}"' for h in range(70))
    (tmp_path / "r.yaml").write_text(
        "rules:\n"
        "  - id: site.too_wide\n"
        "    title: too wide\n"
        f"    when:\n      any:{wide}\n"
        '    then: {code: sleep.hygiene, rationale: "sleep {sleep_hours} h"}\n'
        "    evidence: [test]\n"
    )
    with pytest.raises(
        RulebookError, match=r"rule site\.too_wide: its condition has too many alternatives"
    ):
        gbrules.Engine.from_directory(tmp_path)
