"""A safe, exact driver for durable_rules' C engine.

durable_rules is the engine gbrules stands on, but its Python host layer loses work and crashes
under load (docs/ENGINE.md lists what was measured). This module talks to the C module
``durable_rules_engine`` directly and handles each sharp edge by design:

* Every rule is guarded by a marker field that only our facts carry, so the engine's internal
  state fact can never satisfy a rule (that loops forever).
* Each ruleset ends with an always-true sentinel rule, so an assertion is always handled (an
  unhandled one followed by ``delete_state`` segfaulted), and it is warmed up once at build.
* Facts are asserted (not posted), so every matching rule fires; firings are collected by
  walking the action queue with ``start_action_for_state`` / ``complete_and_start_action``,
  with no Python closure per action and no state JSON round trip.
* One patient at a time per state. A state is reused: after the firings are collected the
  fact is retracted, which leaves the state as a fresh one would be (checked: the assert must
  report the fact as new, and the retraction must start no action), and the next patient's
  fact goes into it. Every fact carries the same id, so a fact left behind would make the next
  assert fail loudly rather than linger (and the engine need not hash each fact for an id).
  Creating and deleting a state per patient cost about a third of the engine's time (the C
  code sets up every beta node's frame pools). Any fault, or
  ``RECYCLE_AFTER`` evaluations, and the state is deleted and replaced by a fresh one, so
  states never accumulate toward the 1,024-state limit and nothing can build up in one.
* The engine matches with a fixed stack of 64 pending nodes, and a fact that would push more
  fails with error 303 and leaves a half-built state behind. ``partition`` splits a rulebook
  into rulesets whose network provably cannot push more (``gbrules.core.backends.network``
  bounds it from the network's shape), each of at most ``MAX_RULES`` rules, and the results
  are merged in rulebook order. The default rulebook fits in one ruleset.
* Field names are hashed with 32-bit FNV-1a inside the engine; colliding names would silently
  match each other, so the vocabulary is checked for collisions when a ruleset is built.
* The C code is not thread-safe and never releases the GIL: all calls go through one
  process-wide lock. Threads are safe; for throughput, use processes.
* The C module is imported on first use (``gbrules.core.backends.loader``), not when this
  module is: ``import gbrules`` works where durable_rules cannot load, and the first engine use
  raises ``EngineError`` saying why and how to fix it (on CPython 3.13+ the loader first
  provides the ``PyEval_CallObject`` that durable-rules 2.0.28 needs, docs/PYTHON.md).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring_ascii as _json_str
from math import isfinite as _finite
from types import ModuleType
from typing import Any

from gbrules.core.backends.loader import load_engine
from gbrules.core.backends.network import STACK_LIMIT, stack_bound
from gbrules.core.errors import EngineError, RulebookError

MARKER = "gbrules_fact"
SENTINEL = "zz_sentinel"
MAX_RULES = 128  # per ruleset: well inside the engine's per-node limits (256 betas, 128 joins)
STATE_NOT_FOUND = "error code: 309"  # delete_state on a sid the engine does not hold
_RESERVED = ("sid", "id", MARKER)

RECYCLE_AFTER = 1000  # evaluations on one reused state before a fresh one replaces it
RULES_OK = 0  # assert_fact's result code for a fact the state did not hold yet

LOCK = threading.RLock()
_names = itertools.count(1)
_sids = itertools.count(1)
_live = 0
_parked = 0
# durable_rules' C module, bound by _bind_engine() when the first ruleset is built (a plain
# module global, so the hot path looks it up as before and tests can monkeypatch it).
_dre: ModuleType


def _bind_engine() -> None:
    """Import the C module on first use; EngineError (with the fix) if it cannot load."""
    global _dre
    if "_dre" not in globals():
        _dre = load_engine()


def __getattr__(name: str) -> Any:
    """``durable._dre`` from outside before any ruleset was built: load it then (PEP 562)."""
    if name == "_dre":
        _bind_engine()
        return _dre
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def live_sessions() -> int:
    """Durable states in use or left behind by a failure (0 between evaluations).

    The one empty, reusable state each open ruleset keeps between evaluations is counted by
    ``parked_sessions`` instead.
    """
    return _live


def parked_sessions() -> int:
    """Empty states kept for reuse: at most one per open ruleset."""
    return _parked


def fnv1a_32(text: str) -> int:
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def check_hash_collisions(names: Iterable[str]) -> None:
    """Refuse a vocabulary whose names collide under the engine's 32-bit field hash."""
    seen: dict[int, str] = {}
    clashes = []
    for name in itertools.chain(_RESERVED, names):
        h = fnv1a_32(name)
        if h in seen and seen[h] != name:
            clashes.append(f"fact names {seen[h]!r} and {name!r} collide in the engine's hash")
        seen.setdefault(h, name)
    if clashes:
        raise RulebookError(clashes)


def _guarded(expr: dict[str, Any]) -> dict[str, Any]:
    """A rule's expression as the ruleset gives it to the engine: behind the marker."""
    return {"$and": [{MARKER: 1}, expr]}


_SENTINEL_EXPR: dict[str, Any] = {MARKER: 1}


def partition(
    rules: Sequence[tuple[str, dict[str, Any]]], labels: Mapping[str, str] | None = None
) -> list[list[tuple[str, dict[str, Any]]]]:
    """Split rules, in order, into groups that are each safe as one ruleset.

    Each group takes the next rule while the stack bound of its network (sentinel included)
    stays within the engine's ``STACK_LIMIT`` and it has fewer than ``MAX_RULES``. A rule that
    cannot fit even alone is refused (RulebookError, naming it by ``labels[name]`` if given):
    no fact could be evaluated safely with it.
    """
    groups: list[list[tuple[str, dict[str, Any]]]] = []
    current: list[tuple[str, dict[str, Any]]] = []
    exprs: list[dict[str, Any]] = [_SENTINEL_EXPR]
    for name, expr in rules:
        guarded = _guarded(expr)
        if current and (len(current) >= MAX_RULES or stack_bound([*exprs, guarded]) > STACK_LIMIT):
            groups.append(current)
            current, exprs = [], [_SENTINEL_EXPR]
        if stack_bound([_SENTINEL_EXPR, guarded]) > STACK_LIMIT:
            shown = (labels or {}).get(name, name)
            raise RulebookError(
                [
                    f"rule {shown}: its condition has too many alternatives for the engine "
                    f"(more than {STACK_LIMIT} tests could be pending at once): split it"
                ]
            )
        current.append((name, expr))
        exprs.append(guarded)
    if current:
        groups.append(current)
    return groups


class CompiledRuleset:
    """One durable_rules ruleset: rules whose network is within the engine's stack (see
    ``partition``), plus the sentinel."""

    def __init__(self, label: str, rules: Sequence[tuple[str, dict[str, Any]]]) -> None:
        if len(rules) > MAX_RULES:
            raise ValueError(f"at most {MAX_RULES} rules per ruleset")
        bound = stack_bound([_SENTINEL_EXPR, *(_guarded(expr) for _, expr in rules)])
        if bound > STACK_LIMIT:
            raise ValueError(f"a fact could push {bound} nodes, over the engine's {STACK_LIMIT}")
        # Every rule name has one width, so a fired rule's name is read from the action's
        # message ('{"<name>":{...}}') by position; the sentinel gets a name of that width too.
        widths = {len(name) for name, _ in rules} or {len(SENTINEL)}
        if len(widths) != 1 or not all(name.isalnum() for name, _ in rules):
            raise ValueError("rule names must be letters and digits, all of one width")
        width = widths.pop()
        self._sentinel = SENTINEL if width == len(SENTINEL) else "z" * width
        if any(name == self._sentinel for name, _ in rules):
            raise ValueError(f"{self._sentinel!r} is the sentinel's name")
        self._end = 2 + width
        definition: dict[str, Any] = {
            name: {"all": [{"m": _guarded(expr)}]} for name, expr in rules
        }
        definition[self._sentinel] = {"all": [{"m": _SENTINEL_EXPR}]}
        self.name = f"gbrules_{label}_{next(_names)}"
        with LOCK:
            _bind_engine()
            try:
                self._handle = _dre.create_ruleset(self.name, json.dumps(definition))
            except Exception as exc:
                raise RulebookError([f"the engine refused the compiled ruleset: {exc}"]) from None
        self._closed = False
        self._orphans: list[str] = []  # sids whose delete_state failed; retried, counted live
        self._sid: str | None = None  # the parked state, empty, for the next evaluation
        self._uses = 0  # evaluations on the current state

    def fire(self, payload_without_sid: str) -> list[str]:
        """Assert one fact (JSON object text, without its closing brace) and collect firings.

        The names of the rules that fired, in the engine's order; a rule whose ``any`` holds
        in several branches is listed once per branch.
        """
        global _live, _parked
        with LOCK:
            if self._closed:
                raise EngineError("this engine has been closed")
            if self._orphans:
                for old_sid in list(self._orphans):  # retry what an earlier failure left behind
                    self._delete(old_sid)
            sid = self._sid
            fresh = sid is None
            if sid is None:
                sid, self._uses = str(next(_sids)), 0
            else:
                self._sid = None
                _parked -= 1
            _live += 1
            handle = self._handle
            # The fact's id is fixed: the engine then skips hashing the fact for one, and a
            # fact left behind in a reused state makes the next assert fail loudly (code 2).
            message = f'{payload_without_sid},"id":"1","sid":"{sid}"}}'
            try:
                result = _dre.assert_fact(handle, message)
            except Exception as exc:
                if fresh:
                    # No state to delete safely: deleting a half-built state is what segfaults.
                    _live -= 1
                else:
                    self._drop(sid)
                raise EngineError(f"the rule engine rejected the facts: {exc}") from None
            try:
                if result[0] != RULES_OK:  # e.g. 2: the state already held this very fact
                    raise EngineError(f"the rule engine did not take the facts (code {result[0]})")
                state = result[1]
                started = _dre.start_action_for_state(handle, state)
                out = started[1] if started else None
                end = self._end
                fired = []
                while out:
                    fired.append(out[2:end])
                    out = _dre.complete_and_start_action(handle, state)
                try:
                    fired.remove(self._sentinel)
                except ValueError:
                    raise EngineError(
                        "the rule engine did not complete the evaluation (sentinel missing)"
                    ) from None
                _dre.retract_fact(handle, message)
                if _dre.start_action_for_state(handle, state):
                    raise EngineError("the rule engine started an action on retraction")
            except Exception as exc:
                self._drop(sid)  # never reuse a state after a fault
                if isinstance(exc, EngineError):
                    raise
                raise EngineError(f"the rule engine failed mid-evaluation: {exc}") from None
            self._uses += 1
            if self._uses >= RECYCLE_AFTER:
                self._drop(sid)  # a failed delete is kept as an orphan and retried next time
            else:
                _live -= 1
                _parked += 1
                self._sid = sid
        return fired

    def discard_parked(self) -> None:
        """Delete the parked state, so the next evaluation starts on a fresh one.

        A rulebook split over several rulesets calls this on every ruleset when one of them
        faults: the fault may have come from something every state shares (a retraction that
        silently did nothing leaves a fact in each), so no state of that evaluation is reused.
        """
        global _live, _parked
        with LOCK:
            sid = self._sid
            if sid is not None:
                self._sid = None
                _parked -= 1
                _live += 1
                self._drop(sid)

    def _drop(self, sid: str) -> None:
        """Delete a used state after a fault or at recycling, keeping the first error quiet:
        a failed delete leaves an orphan (counted live) that the next evaluation retries."""
        with contextlib.suppress(EngineError):
            self._delete(sid)

    def _delete(self, sid: str) -> None:
        """Delete one state (LOCK held). A failed delete is kept, counted live, and retried."""
        global _live
        try:
            _dre.delete_state(self._handle, sid)
        except Exception as exc:
            if STATE_NOT_FOUND not in str(exc):  # "not found" means already gone
                if sid not in self._orphans:
                    self._orphans.append(sid)
                raise EngineError(f"the rule engine could not release its state: {exc}") from None
        _live -= 1
        if sid in self._orphans:
            self._orphans.remove(sid)

    def close(self) -> None:
        global _live, _parked
        with LOCK:
            if not self._closed:
                self._closed = True
                with contextlib.suppress(Exception):  # best effort at teardown
                    _dre.delete_ruleset(self._handle)
                _live -= len(self._orphans)  # freed with the ruleset
                self._orphans.clear()
                if self._sid is not None:
                    _parked -= 1
                    self._sid = None


class FactEncoder:
    """How facts reach the engine: short field aliases and a direct JSON writer.

    The engine copies the whole fact into the message of every action it starts, so names
    are sent as short aliases (``f0``, ``f1``, ...; about a tenth fewer instructions in the C
    engine per evaluation, measured), and only facts some rule mentions are sent. Values are
    bools, ints, finite floats and short strings (``gbrules.clinical.facts``), so the JSON is
    written directly rather than through ``json.dumps`` (half the cost, measured).
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.alias = {name: f"f{i}" for i, name in enumerate(names)}
        check_hash_collisions(self.alias.values())
        self._prefix = {name: f'"{alias}":' for name, alias in self.alias.items()}

    def rename(self, expr: Any) -> Any:
        """A compiled durable expression with fact names replaced by their aliases."""
        if isinstance(expr, dict):
            return {self.alias.get(k, k): self.rename(v) for k, v in expr.items()}
        if isinstance(expr, list):
            return [self.rename(v) for v in expr]
        return expr

    def payload(self, facts: Mapping[str, bool | int | float | str]) -> str:
        """JSON for one fact with the marker, left open so the sid can be appended cheaply."""
        prefix = self._prefix
        parts = []
        for name, value in facts.items():
            start = prefix.get(name)
            if start is None:
                continue
            kind = type(value)
            if kind is bool:
                parts.append(start + ("true" if value else "false"))
            elif kind is int or (kind is float and _finite(value)):  # type: ignore[arg-type]
                parts.append(start + repr(value))
            elif kind is str:
                parts.append(start + _json_str(value))  # type: ignore[arg-type]
            else:
                raise EngineError(f"fact {name!r} has a value the engine cannot take: {value!r}")
        parts.append(_MARKER_FIELD)
        return "{" + ",".join(parts)


_MARKER_FIELD = f'"{MARKER}":1'
