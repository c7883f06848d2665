"""Golden-file tests: case1, case2 and crisis, in every format, for both audiences.

The expected drafts live in ``tests/golden/{example}.{audience}.{md,html,txt}``, rendered with
a fixed ``generated_at`` (conftest.FIXED_TIME). After an intended change to the templates or
the rulebook (its version is printed on every draft), regenerate them and review the diff::

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_render_golden.py
    git diff tests/golden/

See docs/RENDERING.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gbrules import render_care_plan
from gbrules.core.result import Evaluation
from tests.conftest import EXAMPLE_NAMES, FIXED_TIME

GOLDEN = Path(__file__).parent / "golden"
FORMATS = {"markdown": "md", "html": "html", "text": "txt"}
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("audience", ["clinician", "patient"])
@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_golden(evaluations: dict[str, Evaluation], example: str, fmt: str, audience: str) -> None:
    out = render_care_plan(
        evaluations[example],
        fmt,  # type: ignore[arg-type]
        audience=audience,  # type: ignore[arg-type]
        generated_at=FIXED_TIME,
    )
    path = GOLDEN / f"{example}.{audience}.{FORMATS[fmt]}"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(out, encoding="utf-8")
    assert path.exists(), f"missing golden {path}; run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert out == expected, f"{path.name} differs; if intended, regenerate (UPDATE_GOLDEN=1)"


def test_same_input_same_bytes(evaluations: dict[str, Evaluation]) -> None:
    a = render_care_plan(evaluations["case2"], "html", generated_at=FIXED_TIME)
    b = render_care_plan(evaluations["case2"], "html", generated_at=FIXED_TIME)
    assert a == b
