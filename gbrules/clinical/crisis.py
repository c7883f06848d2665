"""Crisis resources by country, as the rulebook configures them.

The numbers are data (``rules/crisis_lines.yaml``), not code: the rulebook's
``settings.crisis_country`` (a site pack may set another) chooses the set that the draft's
crisis banner, the CDS card and the CarePlan show. Without a setting, the file's
``default_country`` applies, and every text names that country, so a reader never mistakes one
country's numbers for another's.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from gbrules.clinical.paths import default_rules_dir

CRISIS_FILE = "crisis_lines.yaml"
SETTING = "crisis_country"


class CrisisLine(BaseModel):
    """One line to call: its name, how to reach it, and its web page."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(min_length=1)
    contact: str = Field(min_length=1)
    url: str = Field(min_length=1)


class CrisisSet(BaseModel):
    """One country's crisis lines and emergency number."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    country: str = ""
    name: str = Field(min_length=1)
    lines: tuple[CrisisLine, ...] = Field(min_length=1)
    emergency: str = Field(min_length=1)

    def clinician_text(self) -> str:
        """One sentence for a clinician: every line, then the emergency number."""
        lines = "; ".join(f"{line.label} ({line.contact})" for line in self.lines)
        return f"Crisis resources ({self.name}): {lines}; in an emergency call {self.emergency}."

    def patient_lines(self) -> tuple[str, str]:
        """Two sentences for a patient: who to call now, and the emergency number."""
        lines = " or ".join(f"{line.label}: {line.contact}" for line in self.lines)
        return (
            "If you are thinking about harming yourself, or feel you might act on such "
            f"thoughts, contact a crisis line now ({lines}). It is free and open day and night.",
            f"In an emergency, or if you are in immediate danger, call {self.emergency}.",
        )

    def short_text(self) -> str:
        """A parenthesis for lists: the first line's contact and the emergency number."""
        return f"{self.lines[0].contact}; in an emergency call {self.emergency}"


class CrisisFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    default_country: str
    countries: dict[str, CrisisSet] = Field(min_length=1)


@functools.cache
def crisis_file(path: Path | None = None) -> CrisisFile:
    """The bundled crisis data (validated once; a broken file is a load error, not a banner
    without numbers)."""
    chosen = path if path is not None else default_rules_dir() / CRISIS_FILE
    data = yaml.safe_load(chosen.read_text(encoding="utf-8"))
    parsed = CrisisFile.model_validate(data)
    if parsed.default_country not in parsed.countries:
        raise ValueError(f"{chosen}: default_country {parsed.default_country!r} has no set")
    return parsed


def countries() -> tuple[str, ...]:
    """The countries a rulebook may choose (``settings.crisis_country``)."""
    return tuple(crisis_file().countries)


def crisis_set(settings: Mapping[str, str] | None = None) -> CrisisSet:
    """The crisis set a rulebook's (or an Evaluation's) settings choose; the default without."""
    data = crisis_file()
    country = (settings or {}).get(SETTING) or data.default_country
    chosen = data.countries.get(country) or data.countries[data.default_country]
    return chosen.model_copy(update={"country": country})
