"""The one door from the verifier to what it shares with the engine.

The verifier reads conditions (rules, derived-fact definitions, invariants) but does not own
their syntax, and it models override plans but does not own their rules (priority ranks,
override patterns). Everything it needs from those core modules is named here, so a change
there is a change to this file alone. Which codes are protected comes with the rulebook's
domain (``Rulebook.domain.codes``), never from a domain module: the verifier is in the core.
"""

from __future__ import annotations

from collections.abc import Mapping

from gbrules.core import language
from gbrules.core.language import All, AnyOf, Cmp, Condition, ConditionError, Not, Recorded
from gbrules.core.vocabulary import PRIORITY_RANK, FactSpec, FactValue, Vocabulary, matches

__all__ = [
    "PRIORITY_RANK",
    "All",
    "AnyOf",
    "Cmp",
    "Condition",
    "ConditionError",
    "FactSpec",
    "FactValue",
    "Not",
    "Recorded",
    "Vocabulary",
    "kleene",
    "leaves",
    "matches",
    "parse",
]


def parse(node: object, vocabulary: Vocabulary, where: str) -> Condition:
    """Parse one condition (YAML data) over ``vocabulary`` (the rulebook's domain's)."""
    return language.parse_condition(node, vocabulary, where)


def leaves(cond: Condition) -> list[Cmp | Recorded]:
    """A condition's comparison and recorded/missing leaves, depth first."""
    return language.leaves(cond)


def kleene(cond: Condition, facts: Mapping[str, FactValue]) -> bool | None:
    """The language's own three-valued evaluation: True, False or None (unknown)."""
    return language.evaluate(cond, facts)
