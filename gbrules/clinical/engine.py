"""The clinical engine: the rule core's Engine with the clinical domain as its default.

``Engine.from_directory``, ``Engine.default`` and ``Engine.from_rules`` load rules against the
clinical facts and codes and read Intake JSON; ``Engine.from_rules(rules, vocabulary=...)``
still runs rules over any other vocabulary (the core does the work either way).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from gbrules.clinical.domain import CLINICAL, default_rules_dir
from gbrules.core import engine
from gbrules.core.domain import Domain
from gbrules.core.loader import EngineLoader


class Engine(engine.Engine):
    """A compiled rulebook; by default gbrules' clinical one (see the module docstring)."""

    domain: ClassVar[Domain | None] = CLINICAL


def _base() -> tuple[Path, ...]:
    return (default_rules_dir(),)


#: The engines ``gbrules.evaluate`` uses: the bundled rulebook plus at most one site pack each.
LOADER = EngineLoader(Engine.from_directory, _base)


def cached_engine(pack: str | os.PathLike[str] | None = None) -> Engine:
    """The bundled rulebook (plus one site pack), compiled once and reused (``LOADER``)."""
    return LOADER.engine(pack)
