"""The service's limits: evaluations in flight, the time budget per request, the rate per client.

Evaluations (the FHIR mapping, the engine, the cards) run in worker threads, never on the event
loop, so discovery, health, metrics and error answers stay fast while an evaluation runs.

:class:`EvaluationGate` admits at most ``max_concurrent`` evaluations; one more is refused at
once (503 with ``Retry-After``), never queued behind a slow one. A request whose evaluation is
not done within the time budget is answered 503 when the budget runs out. Python cannot stop a
thread, so the evaluation itself runs on to its end (bounded: the body is at most 1 MiB) and
keeps its slot until then: the bound counts what the process really does, and timed-out work
cannot pile up. The evaluation also checks the deadline between its stages and stops early.

:class:`ClientRateLimiter` is a moving-window limit per client address (the ``limits``
library, in memory, per process), for operators who want one.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

T = TypeVar("T")


class Busy(Exception):
    """Every evaluation slot is taken."""


class OverBudget(Exception):
    """The request's time budget ran out before its answer was ready."""


class Deadline:
    """The end of a request's time budget, checked by the evaluation between its stages."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.at = time.monotonic() + budget_s

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise OverBudget


class EvaluationGate:
    def __init__(self, max_concurrent: int, time_budget_s: float) -> None:
        self.max_concurrent = max_concurrent
        self.time_budget_s = time_budget_s
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._lock = threading.Lock()
        self._running = 0
        # Own threads, so a burst of evaluations does not take the threads the rest of the
        # service (and Starlette's sync paths) use. Abandoned threads give their token back
        # early, but still hold their slot, so this never admits more than the slots do.
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def running(self) -> int:
        """Evaluations in flight, including those past their budget that are still running."""
        with self._lock:
            return self._running

    async def run(self, work: Callable[[Deadline], T]) -> T:
        """Run ``work`` in a thread within the time budget; Busy or OverBudget otherwise."""
        if not self._slots.acquire(blocking=False):
            raise Busy
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.max_concurrent)
        deadline = Deadline(self.time_budget_s)
        state = {"started": False, "given_up": False}

        def in_thread() -> T:
            with self._lock:
                if state["given_up"]:  # the request gave up before the thread started
                    raise OverBudget
                state["started"] = True
                self._running += 1
            try:
                return work(deadline)
            finally:
                with self._lock:
                    self._running -= 1
                self._slots.release()

        try:
            with anyio.fail_after(self.time_budget_s):
                return await anyio.to_thread.run_sync(
                    in_thread, abandon_on_cancel=True, limiter=self._limiter
                )
        except TimeoutError:
            raise OverBudget from None
        finally:
            with self._lock:
                if not state["started"]:
                    state["given_up"] = True
                    self._slots.release()


class ClientRateLimiter:
    """``rate`` per client key (``"120/minute"``, several separated by ``;``)."""

    def __init__(self, rate: str) -> None:
        self.rate = rate
        self._items: list[RateLimitItem] = parse_many(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, client: str) -> int | None:
        """None when ``client`` may go on (the request is counted); else the seconds to wait."""
        for item in self._items:
            if not self._limiter.hit(item, client):
                reset = self._limiter.get_window_stats(item, client).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None
