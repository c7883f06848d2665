"""A domain: all the rule core is told about the world its rules describe.

The core (language, rulebook, compiled rules, engine, lint) is written against a ``Domain``
and never imports one: the fact ``Vocabulary``, the ``CodeVocabulary``, how an input becomes
facts (``read``), where the domain's own rulebook lives, and what it asks of every rule
(``Policy``). ``gbrules.clinical.domain.CLINICAL`` is the gut-brain domain; ``Domain.of``
makes a plain one whose input is the facts themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from gbrules.core.vocabulary import CodeVocabulary, FactValue, Vocabulary


class Reading(NamedTuple):
    """One input as the engine sees it: who it is about (if known) and its facts."""

    patient_id: str | None
    facts: dict[str, FactValue]


Reader = Callable[[object], Reading]


@dataclass(frozen=True)
class Policy:
    """What a domain asks of every rule beyond the condition language.

    ``strict``: every rule has a dotted id, a title, a rationale and at least one evidence
    entry (a load error otherwise). The linter reports an evidence entry that does not match
    ``evidence_source`` and a title or rationale that matches ``wording`` (with
    ``wording_advice`` saying how to phrase it instead). ``not_evidence`` marks entries that may
    be listed but cannot carry a rule on their own (the clinical domain: the scenario a rule
    mirrors, a regulation): a rule whose every entry matches it is reported.
    """

    strict: bool = False
    evidence_source: re.Pattern[str] | None = None
    not_evidence: re.Pattern[str] | None = None
    not_evidence_advice: str = ""
    wording: re.Pattern[str] | None = None
    wording_advice: str = ""
    facts_help: str = ""  # where a rule author finds the fact names, added to unknown-fact errors


@dataclass(frozen=True)
class Domain:
    """Facts, codes, input reader, home rulebook and rule policy of one field of application."""

    vocabulary: Vocabulary
    codes: CodeVocabulary = field(default_factory=CodeVocabulary)
    read: Reader | None = None  # None: the input is a facts mapping (Vocabulary.read)
    rules_dir: Path | None = None  # the domain's own rulebook, if it ships one
    policy: Policy = field(default_factory=Policy)
    # The site settings a rulebook manifest may set, each with its allowed values (the
    # clinical domain: crisis_country). Anything else in ``settings:`` is a load error.
    settings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, vocabulary: Vocabulary, codes: CodeVocabulary | None = None) -> Domain:
        """A plain domain: rules over ``vocabulary``, any dotted code unless ``codes`` says."""
        return cls(vocabulary, codes if codes is not None else CodeVocabulary())

    def reader(self) -> Reader:
        """How one input becomes a Reading (the facts themselves when ``read`` is None)."""
        if self.read is not None:
            return self.read
        read_facts = self.vocabulary.read
        return lambda data: Reading(None, read_facts(data))
