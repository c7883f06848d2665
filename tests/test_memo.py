"""The adaptive memo: bounded, stops storing while it does not pay, probes again later."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gbrules.core import memo
from gbrules.core.memo import Memo


def _lookup(m: Memo[int], key: int) -> int:
    """How the hot paths use a memo: look up, and on a miss compute and put."""
    hit = m.get(key)
    if hit is None:
        hit = key * 2
        m.put(key, hit)
    return hit


@given(st.lists(st.integers(0, 300), max_size=3000), st.integers(1, 64))
def test_values_never_depend_on_the_memo_and_it_stays_bounded(keys: list[int], limit: int) -> None:
    m: Memo[int] = Memo(limit=limit)
    for k in keys:
        assert _lookup(m, k) == k * 2
        assert len(m.store) <= limit


def test_repeated_keys_keep_being_stored_and_hit() -> None:
    m: Memo[int] = Memo()
    for i in range(memo.WINDOW * 3):
        _lookup(m, i % 10)
    assert m.storing
    assert set(m.store) == set(range(10))


def test_distinct_keys_stop_the_storing_and_a_later_window_probes_again() -> None:
    m: Memo[int] = Memo()
    keys = iter(range(10**9))
    for _ in range(memo.WINDOW + 1):  # one window of nothing but misses
        _lookup(m, next(keys))
    assert not m.storing
    stored = len(m.store)
    for _ in range(memo.WINDOW * (memo.PROBE - 1)):
        _lookup(m, next(keys))
    assert not m.storing
    assert len(m.store) == stored  # nothing stored while idle
    for _ in range(memo.WINDOW * 2):
        _lookup(m, next(keys))
    assert m.storing or len(m.store) > stored  # the probe window stored again


def test_a_stream_that_turns_repetitive_is_stored_again() -> None:
    m: Memo[int] = Memo()
    keys = iter(range(10**6, 10**9))  # none of the repeated keys below
    for _ in range(memo.WINDOW + 1):
        _lookup(m, next(keys))
    assert not m.storing
    for i in range(memo.WINDOW * (memo.PROBE + 3)):
        _lookup(m, i % 10)
    assert m.storing
    assert {0, 1, 2}.issubset(m.store)
