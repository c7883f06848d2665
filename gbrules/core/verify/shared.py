"""The one door from the verifier to what it shares with the engine.

The verifier reads conditions (rules, derived-fact definitions, invariants) but does not own
their syntax, and it models override plans but does not own their rules (priority ranks,
override patterns, protected codes). Everything it needs from those modules is named here, so
a change there (for example parsing against a vocabulary passed in rather than a global one,
or protected codes that come with the rulebook) is a change to this file alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gbrules.clinical.codes import PRIORITY_RANK, is_protected, matches
from gbrules.core import language
from gbrules.core.language import All, AnyOf, Cmp, Condition, ConditionError, Not, Recorded

__all__ = [
    "PRIORITY_RANK",
    "All",
    "AnyOf",
    "Cmp",
    "Condition",
    "ConditionError",
    "FactSpecLike",
    "Not",
    "Recorded",
    "is_protected",
    "kleene",
    "leaves",
    "matches",
    "parse",
]

FactValue = bool | int | float | str


class FactSpecLike(Protocol):
    """What the verifier reads about one fact of a vocabulary."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def lo(self) -> float | None: ...
    @property
    def hi(self) -> float | None: ...
    @property
    def values(self) -> tuple[str, ...]: ...
    @property
    def derived(self) -> bool: ...


Vocabulary = Mapping[str, FactSpecLike]


def parse(node: object, vocabulary: Vocabulary, where: str) -> Condition:
    """Parse one condition (YAML data) over ``vocabulary``.

    Today the language checks facts against the clinical vocabulary it imports itself; the
    vocabulary given here must be that one (``check_vocabulary`` in the callers' tests).
    """
    del vocabulary  # the language reads its own vocabulary until it takes one as a parameter
    return language.parse_condition(node, where)


def leaves(cond: Condition) -> list[Cmp | Recorded]:
    """A condition's comparison and recorded/missing leaves, depth first."""
    return language.leaves(cond)


def kleene(cond: Condition, facts: Mapping[str, FactValue]) -> bool | None:
    """The language's own three-valued evaluation: True, False or None (unknown)."""
    return language.evaluate(cond, facts)
