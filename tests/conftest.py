from __future__ import annotations

from datetime import UTC, datetime

import pytest

import gbrules
from gbrules.evaluation import Evaluation
from gbrules.examples import load_example

#: Every rendered test output uses this time, so goldens are byte-for-byte reproducible.
FIXED_TIME = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)
EXAMPLES = ("case1", "case2", "crisis")


@pytest.fixture(scope="session")
def evaluations() -> dict[str, Evaluation]:
    return {name: gbrules.evaluate(load_example(name)) for name in EXAMPLES}
