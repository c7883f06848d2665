"""gbrules: declarative gut-brain care-plan drafting for clinicians.

>>> import gbrules
>>> ev = gbrules.evaluate({"age": 35, "mood": {"phq9": {"total": 12, "item9": 0}}})
>>> sorted(ev.codes)
['diet.mediterranean', 'medication.review', 'referral.mental_health', ...]

``import gbrules`` loads only the data models; the rule engine (durable_rules, YAML) and the
renderers (jinja2) load on first use, so embedding gbrules costs little at start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gbrules.clinical.intake import Intake
from gbrules.core.errors import EngineError, FieldError, IntakeError, RulebookError
from gbrules.core.result import Evaluation, Suggestion, Suppression

if TYPE_CHECKING:
    from gbrules.core.engine import Engine
    from gbrules.io.render import render_care_plan

__version__ = "0.1.0"

__all__ = [
    "Engine",
    "EngineError",
    "Evaluation",
    "FieldError",
    "Intake",
    "IntakeError",
    "RulebookError",
    "Suggestion",
    "Suppression",
    "evaluate",
    "render_care_plan",
]

_LAZY = {"Engine": "gbrules.core.engine", "render_care_plan": "gbrules.io.render"}


def evaluate(intake: Intake | Mapping[str, Any], rules: str | Path | None = None) -> Evaluation:
    """Evaluate one intake with the default rulebook (plus an optional site rule pack)."""
    from gbrules.core.engine import cached_engine

    return cached_engine(rules).evaluate(intake)


def __getattr__(name: str) -> Any:
    """The two names in ``_LAZY`` load on first use; nothing else is looked up here."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gbrules' has no attribute {name!r}")
