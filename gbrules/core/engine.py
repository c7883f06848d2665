"""The Engine: a rulebook compiled once into durable_rules, evaluated many times.

``Engine.evaluate`` runs the one-way flow: intake -> facts -> durable_rules -> proposals ->
overrides -> Evaluation. Between evaluations gbrules keeps the compiled rulebook and, in
``gbrules.core.compiled``, bounded memos of pure functions (a rule's explanation for given fact
values, the override plan for a given set of fired rules), so an evaluation still depends only
on its intake and the rulebook (S9).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from gbrules.clinical.facts import VOCABULARY, FactValue, facts_from_intake, missing_facts
from gbrules.clinical.intake import Intake, parse_intake
from gbrules.clinical.precheck import precheck
from gbrules.core import language
from gbrules.core.backends import durable
from gbrules.core.compiled import Plan, apply_plan, memo_for
from gbrules.core.errors import EngineError
from gbrules.core.memo import Memo
from gbrules.core.result import Evaluation, trusted
from gbrules.core.rulebook import Rule, Rulebook, default_rules_dir, load_rulebook

IntakeLike = Intake | Mapping[str, Any]


class Engine:
    """A validated, compiled rulebook. Build once (``from_directory``), reuse for every intake.

    Thread-safe: durable_rules calls are serialised behind one process-wide lock.
    """

    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook
        durable.check_hash_collisions(VOCABULARY)
        # Only facts some rule mentions are sent to the engine (in vocabulary order).
        mentioned = {name for rule in rulebook.rules for name in rule.facts}
        self._encoder = durable.FactEncoder(name for name in VOCABULARY if name in mentioned)
        # name -> the rule's plan data (compiled.memo_for); its .rule is the Rule
        self._entries: dict[str, Any] = {}
        compiled: list[tuple[str, dict[str, Any]]] = []
        width = max(4, len(str(max((r.order for r in rulebook.rules), default=0))))
        for rule in rulebook.rules:
            name = f"r{rule.order:0{width}d}"  # fixed width: name order is rule order
            self._entries[name] = memo_for(rule)
            compiled.append((name, self._encoder.rename(language.to_durable(rule.condition))))
        self._version = rulebook.version_label
        self._plans: Memo[Plan] = Memo(limit=16384)
        label = rulebook.content_hash[:12]
        self._rulesets = [
            durable.CompiledRuleset(label, compiled[i : i + durable.CHUNK])
            for i in range(0, len(compiled), durable.CHUNK)
        ]
        self.evaluate({"age": 40})  # warm-up: the first evaluation on a fresh ruleset is special

    @classmethod
    def from_directory(cls, path: str | Path, *site_packs: str | Path) -> Engine:
        """Load, validate and compile the rulebook in ``path`` (plus optional site packs)."""
        return cls(load_rulebook(path, *site_packs))

    @classmethod
    def default(cls, *site_packs: str | Path) -> Engine:
        """The bundled rulebook, plus optional site packs."""
        return cls(load_rulebook(default_rules_dir(), *site_packs))

    @property
    def version(self) -> str:
        return self._version

    def fire(self, facts: Mapping[str, FactValue]) -> list[Rule]:
        """The rules whose conditions hold for these facts, in rulebook order."""
        return [entry.rule for entry in self._entries_of(self._fired_names(facts))]

    def _fired_names(self, facts: Mapping[str, FactValue]) -> frozenset[str]:
        payload = self._encoder.payload(facts)
        rulesets = self._rulesets
        try:
            names = rulesets[0].fire(payload)
            for rs in rulesets[1:]:
                names += rs.fire(payload)
        except EngineError:
            if len(rulesets) > 1:  # a fault in one chunk: no state of this evaluation is reused
                for rs in rulesets:
                    rs.discard_parked()
            raise
        return frozenset(names)

    def _entries_of(self, names: Iterable[str]) -> list[Any]:
        """The fired rules' plan entries, in rulebook order ("r0007": name order is rule order)."""
        try:
            return [self._entries[n] for n in sorted(names)]
        except KeyError as exc:
            raise EngineError(f"the rule engine reported an unknown rule {exc}") from None

    def _plan(self, names: frozenset[str]) -> Plan:
        """The override plan for this set of fired rules, cached per engine.

        Which rules fired is all a plan depends on, so it is looked up by the engine's own
        answer (a frozenset of rule names) without sorting rules on every evaluation.
        """
        memo = self._plans
        plan = memo.store.get(names)  # Memo.get, inline
        memo.calls += 1
        if plan is None:
            plan = Plan(self._entries_of(names))
            memo.put(names, plan)
        return plan

    def evaluate(self, intake: IntakeLike) -> Evaluation:
        """One intake to one Evaluation. Raises IntakeError on bad input, never a partial plan."""
        # A clean dict skips building the pydantic model (same facts; tests/test_precheck.py).
        data = precheck(intake)
        if data is None:
            model = parse_intake(intake)
            patient_id = model.patient_id
            facts = facts_from_intake(model)
        else:
            patient_id = data.get("patient_id")
            facts = facts_from_intake(data)
        plan = self._plan(self._fired_names(facts))
        suggestions, suppressed, codes, fired_ids = apply_plan(plan, facts)
        # Built from validated parts only, so it is constructed without re-validation.
        return trusted(
            Evaluation,
            {
                "patient_id": patient_id,
                "suggestions": suggestions,
                "suppressed": suppressed,
                "codes": codes,
                "fired_rules": fired_ids,
                "facts": facts,
                "not_recorded": missing_facts(facts),
                "rulebook_version": self._version,
            },
        )

    def evaluate_many(self, intakes: Iterable[IntakeLike]) -> Iterator[Evaluation]:
        """Evaluate lazily, in order; the same results as one by one."""
        for intake in intakes:
            yield self.evaluate(intake)

    def close(self) -> None:
        """Free the compiled rulesets inside durable_rules (they are never freed otherwise)."""
        for rs in self._rulesets:
            rs.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter teardown
            self.close()


_default_lock = threading.Lock()
_engines: dict[tuple[str, ...], tuple[tuple[float, ...], Engine]] = {}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # vanished between listing and stat: the rebuild reports it
        return -1.0


def _stamp(dirs: tuple[str, ...]) -> tuple[float, ...]:
    return tuple(_mtime(p) for d in dirs for p in sorted(Path(d).glob("*.yaml")))


def cached_engine(extra: str | Path | None = None) -> Engine:
    """The default rulebook (plus one site pack), compiled once per process and reused.

    Rebuilt when a rule file's modification time changes, so an edited pack is picked up.
    """
    dirs = (str(default_rules_dir()),) + ((str(Path(extra).resolve()),) if extra else ())
    with _default_lock:
        stamp = _stamp(dirs)
        hit = _engines.get(dirs)
        if hit is None or hit[0] != stamp:
            _engines[dirs] = (stamp, Engine.from_directory(*dirs))
        return _engines[dirs][1]
