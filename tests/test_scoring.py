from __future__ import annotations

import pytest

from gbrules.clinical import scoring


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_bands(total: int, band: str) -> None:
    assert scoring.phq9_band(total) == band


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_bands(total: int, band: str) -> None:
    assert scoring.gad7_band(total) == band


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "none"),
        (7, "none"),
        (8, "mild"),
        (16, "mild"),
        (17, "moderate"),
        (23, "moderate"),
        (24, "severe"),
        (52, "severe"),
    ],
)
def test_hamd17_bands(total: int, band: str) -> None:
    assert scoring.hamd17_band(total) == band


@pytest.mark.parametrize(
    ("mg_l", "band"),
    [
        (0.0, "low"),
        (0.99, "low"),
        (1.0, "average"),
        (3.0, "average"),
        (3.01, "high"),
        (10.0, "high"),
        (10.01, "acute"),
        (250.0, "acute"),
    ],
)
def test_crp_bands(mg_l: float, band: str) -> None:
    assert scoring.crp_band(mg_l) == band


def test_crp_units() -> None:
    assert scoring.crp_to_mg_l(0.5, "mg/dL") == 5.0
    assert scoring.crp_to_mg_l(0.5, "mg/L") == 0.5
