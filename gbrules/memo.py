"""A bounded memo that stops storing when storing stops paying.

gbrules memoises pure functions on the evaluation path (a rule's Suggestion for given fact
values, the override plan for a set of fired rules). On a screen of distinct patients some of
these keys rarely repeat (a continuous value such as caffeine mg/day is part of the key): then
every stored entry is a long-lived object that the garbage collector walks again and again,
and that cost more than the memo saved (measured: a third of the time of an evaluation). So
each memo watches its own hit rate over a window of calls and only stores new entries while at
least half of the calls hit; after ``PROBE`` windows without storing it stores for one window
again, in case the stream has changed. Lookups always work; values never depend on the memo.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

WINDOW = 2048  # calls between decisions
LIMIT = 4096  # entries; the memo is emptied when full
PROBE = 8  # windows without storing before one window of storing again


class Memo(Generic[V]):
    """``get`` then, on a miss, ``put``. Bounded; adaptive (see the module docstring)."""

    __slots__ = ("calls", "hits", "idle", "limit", "store", "storing")

    def __init__(self, limit: int = LIMIT) -> None:
        self.store: dict[Hashable, V] = {}
        self.limit = limit
        self.storing = True
        self.calls = 0
        self.hits = 0
        self.idle = 0

    def get(self, key: Hashable) -> V | None:
        value = self.store.get(key)
        self.calls += 1
        if value is not None:
            self.hits += 1
        if self.calls >= WINDOW:
            self._decide()
        return value

    def _decide(self) -> None:
        if self.hits * 2 >= self.calls:
            self.storing, self.idle = True, 0
        elif self.storing:
            self.storing, self.idle = False, 0
        else:
            self.idle += 1
            if self.idle >= PROBE:
                self.storing, self.idle = True, 0
        self.calls = self.hits = 0

    def put(self, key: Hashable, value: V) -> None:
        if self.storing:
            if len(self.store) >= self.limit:
                self.store.clear()
            self.store[key] = value

    def clear(self) -> None:
        self.store.clear()
        self.storing = True
        self.calls = self.hits = self.idle = 0
