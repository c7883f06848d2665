"""The errors gbrules raises on purpose.

Every failure an integrator can act on has its own type, so a caller can tell bad input
(fix the intake) from a bad rulebook (fix the rules) from an engine fault (retry, report).
"""

from __future__ import annotations

from dataclasses import dataclass

SHOWN_PROBLEMS = 100  # a junk file can yield one problem per line; the message shows the first


@dataclass(frozen=True)
class FieldError:
    """One bad field: where it is (a JSON path such as ``mood.phq9.items[8]``) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class IntakeError(ValueError):
    """The intake is invalid. ``errors`` lists *every* bad field, not just the first.

    Raised instead of returning a partial plan: a care plan drawn from half an intake could
    miss a safety item silently.
    """

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"invalid intake ({len(errors)} error(s)):\n{lines}")


class RulebookError(ValueError):
    """A rulebook failed to load or validate. Each problem names its file and rule id."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems[:SHOWN_PROBLEMS])
        if len(problems) > SHOWN_PROBLEMS:  # all of them stay in .problems
            lines += f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more"
        super().__init__(f"invalid rulebook ({len(problems)} problem(s)):\n{lines}")


class EngineError(RuntimeError):
    """The rule engine failed mid-evaluation; no plan was produced for this intake."""
