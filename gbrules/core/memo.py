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
    """Bounded and adaptive (see the module docstring).

    A lookup is ``get``, or on a hot path its two lines inline (``memo.store.get(key)`` and
    ``memo.calls += 1``, a method call being a large share of a hit's cost); after a miss,
    ``put`` records it, decides at the end of each window, and stores while storing pays.
    """

    __slots__ = ("calls", "idle", "limit", "misses", "store", "storing")

    def __init__(self, limit: int = LIMIT) -> None:
        self.store: dict[Hashable, V] = {}
        self.limit = limit
        self.storing = True
        self.calls = 0  # lookups in this window
        self.misses = 0  # lookups in this window that found nothing (each followed by put)
        self.idle = 0

    def get(self, key: Hashable) -> V | None:
        self.calls += 1
        return self.store.get(key)

    def put(self, key: Hashable, value: V) -> None:
        """After a lookup that missed: count it, and store ``value`` if storing pays."""
        self.misses += 1
        if self.calls >= WINDOW:  # a window of only hits needs no decision: it waits
            self._decide()
        if self.storing:
            if len(self.store) >= self.limit:
                self.store.clear()
            self.store[key] = value

    def _decide(self) -> None:
        if self.misses * 2 <= self.calls:  # at least half hit
            self.storing, self.idle = True, 0
        elif self.storing:
            self.storing, self.idle = False, 0
        else:
            self.idle += 1
            if self.idle >= PROBE:
                self.storing, self.idle = True, 0
        self.calls = self.misses = 0

    def clear(self) -> None:
        self.store.clear()
        self.storing = True
        self.calls = self.misses = self.idle = 0
