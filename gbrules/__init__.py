"""gbrules: declarative gut-brain care-plan drafting for clinicians.

>>> import gbrules
>>> ev = gbrules.evaluate({"age": 35, "mood": {"phq9": {"total": 12, "item9": 0}}})
>>> ev.codes
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gbrules.engine import Engine, IntakeLike, cached_engine
from gbrules.errors import EngineError, FieldError, IntakeError, RulebookError
from gbrules.evaluation import Evaluation, Suggestion, Suppression
from gbrules.intake import Intake

if TYPE_CHECKING:
    from gbrules.render import render_care_plan

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


def evaluate(intake: IntakeLike, rules: str | Path | None = None) -> Evaluation:
    """Evaluate one intake with the default rulebook (plus an optional site rule pack)."""
    return cached_engine(rules).evaluate(intake)


def __getattr__(name: str) -> Any:
    # Rendering pulls in jinja2; load it only when asked for.
    if name == "render_care_plan":
        from gbrules.render import render_care_plan

        return render_care_plan
    raise AttributeError(f"module 'gbrules' has no attribute {name!r}")
