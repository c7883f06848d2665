"""What the verifier needs from a domain besides its rules (no solver needed to build one)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gbrules.core.verify.factmodel import FactModel
from gbrules.core.verify.shared import FactValue

Document = dict[str, Any]


@dataclass(frozen=True)
class ProofDomain:
    """What the verifier needs from a domain besides its rules.

    ``model``: the vocabulary with its derived-fact definitions and impossible combinations.
    ``to_input``: recorded input facts -> an input document the engine accepts (the inverse of
    the fact builder). ``given_steps``: an input document -> Gherkin Given steps in the
    domain's step vocabulary. ``required``: input facts every document has (never counted
    when shrinking a counterexample). ``typical``: values a counterexample takes when any
    value would do (a readable adult age rather than 0).
    """

    model: FactModel
    to_input: Callable[[Mapping[str, FactValue]], Document]
    given_steps: Callable[[Mapping[str, Any]], list[str]]
    required: tuple[str, ...] = ()
    typical: Mapping[str, FactValue] = field(default_factory=dict)
