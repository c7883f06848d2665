"""The hazard log (``docs/safety/hazards.yaml``) as typed data.

A clinical safety officer signs a hazard log, not code. Keeping the log as data lets the test
suite check that every control it names (a rule, an invariant, a scenario, a test) still exists
and still passes, so the signed document cannot drift from what runs. The review book renders
the same models.
"""

from __future__ import annotations

from datetime import date
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class Severity(IntEnum):
    """DCB0129's five severity levels, ordered so they can be compared and scored."""

    minor = 1
    significant = 2
    considerable = 3
    major = 4
    catastrophic = 5


class Likelihood(IntEnum):
    very_low = 1
    low = 2
    medium = 3
    high = 4
    very_high = 5


def _by_name(enum: type[IntEnum]) -> BeforeValidator:
    """YAML writes the level's name ("major"); the model keeps the ordered enum member."""

    def parse(value: object) -> object:
        return enum[value] if isinstance(value, str) and value in enum.__members__ else value

    return BeforeValidator(parse)


SeverityField = Annotated[Severity, _by_name(Severity)]
LikelihoodField = Annotated[Likelihood, _by_name(Likelihood)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleControl(_Strict):
    rule: str


class InvariantControl(_Strict):
    invariant: str = Field(pattern=r"^S\d+$")


class ScenarioControl(_Strict):
    scenario: str = Field(pattern=r"^[\w.-]+\.feature: .+$")

    @property
    def feature_file(self) -> str:
        return self.scenario.split(": ", 1)[0]

    @property
    def name(self) -> str:
        return self.scenario.split(": ", 1)[1]


class AutomatedTestControl(_Strict):
    test: str = Field(pattern=r"^tests/[\w/]+\.py::\w+$")

    @property
    def path(self) -> str:
        return self.test.split("::", 1)[0]

    @property
    def function(self) -> str:
        return self.test.split("::", 1)[1]


class PendingControl(_Strict):
    """A control that is planned but not in place: it lowers no risk until it exists."""

    pending: str = Field(min_length=10)


Control = RuleControl | InvariantControl | ScenarioControl | AutomatedTestControl | PendingControl


class Hazard(_Strict):
    id: str = Field(pattern=r"^H\d{2,}$")
    title: str
    cause: str
    effect: str
    severity: SeverityField
    likelihood: LikelihoodField
    residual: LikelihoodField
    controls: list[Control] = Field(min_length=1)

    @property
    def initial_risk(self) -> int:
        """Severity x likelihood (1-25), before the controls."""
        return int(self.severity) * int(self.likelihood)

    @property
    def residual_risk(self) -> int:
        return int(self.severity) * int(self.residual)

    @property
    def open_controls(self) -> list[PendingControl]:
        return [c for c in self.controls if isinstance(c, PendingControl)]


class HazardLog(_Strict):
    version: int
    reviewed_on: date
    status: Literal["draft", "approved"]
    hazards: list[Hazard]


def default_hazard_log_path() -> Path:
    """``docs/safety/hazards.yaml`` in a source checkout (the log is not shipped in the wheel)."""
    return Path(__file__).resolve().parents[2] / "docs" / "safety" / "hazards.yaml"


def load_hazard_log(path: Path | None = None) -> HazardLog:
    text = (path or default_hazard_log_path()).read_text(encoding="utf-8")
    return HazardLog.model_validate(yaml.safe_load(text))
