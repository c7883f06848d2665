"""Where the bundled rulebook lives (its own module, so that the rulebook's data readers, such as
``gbrules.clinical.crisis``, and the domain can both use it without importing each other)."""

from __future__ import annotations

from pathlib import Path


def default_rules_dir() -> Path:
    """The bundled rulebook: inside the wheel, or the repo's ``rules/`` in a source checkout."""
    package = Path(__file__).resolve().parents[1]  # gbrules/
    bundled = package / "_bundled" / "rules"
    return bundled if bundled.is_dir() else package.parent / "rules"
