"""gbrules: declarative gut-brain care-plan drafting for clinicians, on a domain-agnostic core.

>>> import gbrules
>>> ev = gbrules.evaluate({"age": 35, "mood": {"phq9": {"total": 12, "item9": 0}}})
>>> sorted(ev.codes)
['diet.mediterranean', 'medication.review', 'referral.mental_health', ...]

Rules over any other facts run on the same core::

    vocab = gbrules.Vocabulary({"age": "number", "smoker": "bool", "stage": ["I", "II", "III"]})
    engine = gbrules.Engine.from_rules(rules, vocabulary=vocab)
    engine.fire({"age": 61, "smoker": True})

``import gbrules`` loads only the data models; the rule engine (durable_rules, YAML) and the
renderers (jinja2) load on first use, so embedding gbrules costs little at start-up.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gbrules.clinical.intake import Intake
from gbrules.core.errors import EngineError, FieldError, IntakeError, RulebookError
from gbrules.core.result import Evaluation, Suggestion, Suppression
from gbrules.core.vocabulary import CodeSpec, CodeVocabulary, FactSpec, Vocabulary

if TYPE_CHECKING:
    from gbrules.clinical.engine import Engine
    from gbrules.io.render import render_care_plan

__version__ = "0.1.0"

__all__ = [
    "CodeSpec",
    "CodeVocabulary",
    "Engine",
    "EngineError",
    "Evaluation",
    "FactSpec",
    "FieldError",
    "Intake",
    "IntakeError",
    "RulebookError",
    "Suggestion",
    "Suppression",
    "Vocabulary",
    "evaluate",
    "reload",
    "render_care_plan",
]

_LAZY = {"Engine": "gbrules.clinical.engine", "render_care_plan": "gbrules.io.render"}


def evaluate(
    intake: Intake | Mapping[str, Any], rules: str | os.PathLike[str] | None = None
) -> Evaluation:
    """Evaluate one intake with the bundled rulebook (plus an optional site rule pack).

    The compiled rulebook is kept between calls (``gbrules.clinical.engine.LOADER``); a
    changed rule file is picked up within a second, or at once after ``gbrules.reload()``.
    """
    from gbrules.clinical.engine import LOADER

    return LOADER.engine(rules).evaluate(intake)


def reload() -> None:
    """Rebuild the rulebooks ``evaluate`` uses from their files on its next call."""
    from gbrules.clinical.engine import LOADER

    LOADER.reload()


def __getattr__(name: str) -> Any:
    """The two names in ``_LAZY`` load on first use; nothing else is looked up here."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gbrules' has no attribute {name!r}")
