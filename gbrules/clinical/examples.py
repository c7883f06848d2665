"""The bundled example intakes (``examples/*.json``), found in a checkout or inside the wheel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def examples_dir() -> Path:
    package = Path(__file__).resolve().parents[1]  # gbrules/
    bundled = package / "_bundled" / "examples"
    return bundled if bundled.is_dir() else package.parent / "examples"


def example_names() -> list[str]:
    return sorted(p.stem for p in examples_dir().glob("*.json"))


def load_example(name: str) -> dict[str, Any]:
    path = examples_dir() / f"{name}.json"
    if not path.is_file() or "/" in name:
        raise KeyError(f"no bundled example {name!r}; choose from {', '.join(example_names())}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
