"""The Engine: a rulebook compiled once into durable_rules, evaluated many times.

``Engine.evaluate`` runs the one-way flow: input -> facts (the domain's reader) ->
durable_rules -> proposals -> overrides -> Evaluation. Between evaluations an engine keeps its
compiled rules and their bounded memos of pure functions (a rule's Suggestion for given fact
values, the override plan for a given set of fired rules), so an evaluation still depends only
on its input and the rulebook. The engine knows no domain: the rulebook carries one
(``gbrules.core.domain``); a subclass may name a default one (``gbrules.clinical.engine``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from gbrules.core import language, review
from gbrules.core.backends import durable
from gbrules.core.compiled import CompiledRule, Plan, suggestions
from gbrules.core.domain import Domain, Reading
from gbrules.core.errors import EngineError
from gbrules.core.memo import Memo
from gbrules.core.result import Evaluation, FrozenDict, Suggestion, trusted
from gbrules.core.rulebook import Rule, Rulebook, load_rulebook, rulebook_from_rules
from gbrules.core.vocabulary import CodeVocabulary, FactValue, Vocabulary

#: Inputs ``Engine.evaluate_many`` takes at once, stage by stage (measured best of 32-128).
MANY_AT_ONCE = 64


class Engine:
    """A validated, compiled rulebook. Build once, reuse for every input.

    Thread-safe: durable_rules calls are serialised behind one process-wide lock.
    """

    #: The domain ``from_directory``, ``default`` and ``from_rules`` use when given none.
    domain: ClassVar[Domain | None] = None

    def __init__(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook
        review.register(rulebook)  # so a draft's footer can say the rulebook is draft
        vocabulary = rulebook.domain.vocabulary
        durable.check_hash_collisions(vocabulary)
        # Only facts some rule mentions are sent to the engine (in vocabulary order).
        mentioned = {name for rule in rulebook.rules for name in rule.facts}
        self._encoder = durable.FactEncoder(name for name in vocabulary if name in mentioned)
        self._read = rulebook.domain.reader()
        self._missing = vocabulary.missing
        # durable rule name ("r0007") -> the compiled rule; name order is rule order
        self._compiled: dict[str, CompiledRule] = {}
        compiled: list[tuple[str, dict[str, Any]]] = []
        width = max(4, len(str(max((r.order for r in rulebook.rules), default=0))))
        codes = rulebook.domain.codes
        for rule in rulebook.rules:
            name = f"r{rule.order:0{width}d}"  # fixed width: name order is rule order
            self._compiled[name] = CompiledRule(rule, vocabulary, codes)
            compiled.append((name, self._encoder.rename(language.to_durable(rule.condition))))
        self._version = rulebook.version_label
        self._settings = FrozenDict(rulebook.settings)
        self._plans: Memo[Plan] = Memo(limit=16384)
        label = rulebook.content_hash[:12]
        self._rulesets = [
            durable.CompiledRuleset(label, group)
            for group in durable.partition(
                compiled, {name: entry.rule_id for name, entry in self._compiled.items()}
            )
        ]
        self._fired_names({})  # warm-up: the first assertion on a fresh ruleset is special

    @classmethod
    def _domain(cls, domain: Domain | None) -> Domain:
        chosen = domain if domain is not None else cls.domain
        if chosen is None:
            raise TypeError(f"{cls.__name__} has no default domain: pass domain= or vocabulary=")
        return chosen

    @classmethod
    def from_directory(
        cls, path: str | Path, *site_packs: str | Path, domain: Domain | None = None
    ) -> Self:
        """Load, validate and compile the rulebook in ``path`` (plus optional site packs)."""
        return cls(load_rulebook(path, *site_packs, domain=cls._domain(domain)))

    @classmethod
    def default(cls, *site_packs: str | Path, domain: Domain | None = None) -> Self:
        """The domain's own rulebook, plus optional site packs."""
        chosen = cls._domain(domain)
        if chosen.rules_dir is None:
            raise TypeError("this domain ships no rulebook: use from_directory or from_rules")
        return cls(load_rulebook(chosen.rules_dir, *site_packs, domain=chosen))

    @classmethod
    def from_rules(
        cls,
        rules: Iterable[Mapping[str, Any]],
        vocabulary: Vocabulary | None = None,
        codes: CodeVocabulary | None = None,
        *,
        domain: Domain | None = None,
    ) -> Self:
        """Compile rule dicts over any fact vocabulary.

        With ``vocabulary`` the rules run over those facts (``fire`` and ``evaluate`` take a
        facts mapping; missing facts are not recorded) and emit any dotted code unless
        ``codes`` lists them. Without, the class's domain (or ``domain``) applies.
        """
        chosen = Domain.of(vocabulary, codes) if vocabulary is not None else cls._domain(domain)
        return cls(rulebook_from_rules(rules, chosen))

    @property
    def version(self) -> str:
        return self._version

    def fire(self, facts: Mapping[str, FactValue | None]) -> list[Rule]:
        """The rules whose conditions hold for these facts, in rulebook order.

        The facts are checked against the vocabulary first (``Vocabulary.read``: an unknown
        name or a value of the wrong type raises IntakeError; ranges are ``evaluate``'s
        business); a fact that is absent or None is not recorded.
        """
        names = self._fired_names(self.rulebook.domain.vocabulary.read(facts, ranges=False))
        return [entry.rule for entry in self._entries_of(names)]

    def _fired_names(self, facts: Mapping[str, FactValue]) -> frozenset[str]:
        """The durable names of the rules that fire for these (already checked) facts."""
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

    def _entries_of(self, names: Iterable[str]) -> list[CompiledRule]:
        """The fired rules, compiled, in rulebook order ("r0007": name order is rule order)."""
        try:
            return [self._compiled[n] for n in sorted(names)]
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

    def evaluate(self, data: object) -> Evaluation:
        """One input to one Evaluation. Raises IntakeError on bad input, never a partial plan."""
        patient_id, facts = self._read(data)
        return self._evaluation(patient_id, facts, self._fired_names(facts))

    def _evaluation(
        self, patient_id: str | None, facts: dict[str, FactValue], fired: frozenset[str]
    ) -> Evaluation:
        """The Evaluation of checked facts whose fired rules are known."""
        plan = self._plan(fired)
        return self._result(patient_id, facts, plan, suggestions(plan.survivors, facts))

    def _result(
        self,
        patient_id: str | None,
        facts: dict[str, FactValue],
        plan: Plan,
        made: list[Suggestion],
    ) -> Evaluation:
        """The Evaluation of checked facts, their override plan and its suggestions (``made``,
        explained with these facts); each Evaluation owns its lists."""
        # Built from validated parts only, so it is constructed without re-validation.
        return trusted(
            Evaluation,
            {
                "patient_id": patient_id,
                "suggestions": made,
                "suppressed": list(plan.suppressed),
                "codes": plan.codes,
                "fired_rules": list(plan.fired_ids),
                "facts": facts,
                "not_recorded": self._missing(facts),
                "rulebook_version": self._version,
                "stale": {},
                "settings": self._settings,
            },
        )

    def evaluate_many(self, inputs: Iterable[object]) -> Iterator[Evaluation]:
        """Evaluate in order, with the same results and errors as one by one.

        Inputs are taken ``MANY_AT_ONCE`` at a time and each stage runs over all of them
        before the next (reading, the engine, plans and explanations): each stage's code and
        data then stay in the CPU's caches, about a tenth faster on a screen of new intakes
        (docs/PERFORMANCE.md). An input that fails raises, as ``evaluate`` would, after the
        results of the inputs before it, and nothing after it is evaluated; an iterator of
        inputs is read up to ``MANY_AT_ONCE - 1`` inputs ahead of the results handed out.
        """
        it = iter(inputs)
        while chunk := list(itertools.islice(it, MANY_AT_ONCE)):
            read: list[Reading] = []
            failure: Exception | None = None
            for data in chunk:
                try:
                    read.append(self._read(data))
                except Exception as exc:  # raised below, in its place in the order
                    failure = exc
                    break
            fired: list[frozenset[str]] = []
            for _, facts in read:
                try:
                    fired.append(self._fired_names(facts))
                except Exception as exc:  # an earlier input than any read failure
                    failure = exc
                    break
            for (patient_id, facts), names in zip(read, fired, strict=False):
                yield self._evaluation(patient_id, facts, names)
            if failure is not None:
                raise failure

    def clear_caches(self) -> None:
        """Forget every memoised Suggestion, wording and plan (they are rebuilt on demand)."""
        self._plans.clear()
        for entry in self._compiled.values():
            entry.memo.clear()
            entry.explainer.wordings.clear()

    def close(self) -> None:
        """Free the compiled rulesets inside durable_rules (they are never freed otherwise)."""
        for rs in self._rulesets:
            rs.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter teardown
            self.close()
