from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import gbrules
from gbrules.engine import cached_engine
from gbrules.evaluation import Evaluation

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXAMPLE_NAMES = ("case1", "case2", "crisis")
#: Every rendered test output uses this time, so goldens are byte-for-byte reproducible.
FIXED_TIME = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)

settings.register_profile(
    "default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("default")


@pytest.fixture(scope="session")
def engine() -> gbrules.Engine:
    return cached_engine()


@pytest.fixture(scope="session")
def evaluations() -> dict[str, Evaluation]:
    return {name: gbrules.evaluate(load_example(name)) for name in EXAMPLE_NAMES}


def load_example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data
