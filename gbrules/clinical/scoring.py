"""Instrument scores and their bands, with the cut-offs from the validation papers.

Bands are computed here, once, so that rules compare names ("moderate") or totals and never
re-derive a cut-off of their own. Each function takes a total already range-checked by the
intake models.
"""

from __future__ import annotations

from typing import Literal

PHQ9Band = Literal["minimal", "mild", "moderate", "moderately_severe", "severe"]
GAD7Band = Literal["minimal", "mild", "moderate", "severe"]
HAMDBand = Literal["none", "mild", "moderate", "severe"]
CRPBand = Literal["low", "average", "high", "acute"]
IBSSSSBand = Literal["remission", "mild", "moderate", "severe"]

PHQ9_MAX = 27
GAD7_MAX = 21
HAMD17_MAX = 52


def phq9_band(total: int) -> PHQ9Band:
    """PHQ-9 severity (Kroenke, Spitzer, Williams 2001): 0-4, 5-9, 10-14, 15-19, 20-27."""
    if total >= 20:
        return "severe"
    if total >= 15:
        return "moderately_severe"
    if total >= 10:
        return "moderate"
    if total >= 5:
        return "mild"
    return "minimal"


def gad7_band(total: int) -> GAD7Band:
    """GAD-7 severity (Spitzer 2006): 5 mild, 10 moderate, 15 severe."""
    if total >= 15:
        return "severe"
    if total >= 10:
        return "moderate"
    if total >= 5:
        return "mild"
    return "minimal"


def hamd17_band(total: int) -> HAMDBand:
    """HAM-D 17 severity (Zimmerman 2013): 0-7 none, 8-16 mild, 17-23 moderate, >= 24 severe."""
    if total >= 24:
        return "severe"
    if total >= 17:
        return "moderate"
    if total >= 8:
        return "mild"
    return "none"


def ibs_sss_band(total: int) -> IBSSSSBand:
    """IBS-SSS severity (Francis 1997): < 75 remission, 75-174 mild, 175-299 moderate,
    >= 300 severe (the paper's "> 300" read as ">= 300", the more cautious side)."""
    if total >= 300:
        return "severe"
    if total >= 175:
        return "moderate"
    if total >= 75:
        return "mild"
    return "remission"


def crp_band(mg_l: float) -> CRPBand:
    """CRP band in mg/L (Pearson 2003 AHA/CDC): < 1 low, 1-3 average, > 3 high, > 10 acute.

    Above 10 mg/L an acute process is likely, so the value is not read as low-grade
    inflammation; exactly 3 is still "average" and exactly 10 still "high".
    """
    if mg_l > 10:
        return "acute"
    if mg_l > 3:
        return "high"
    if mg_l >= 1:
        return "average"
    return "low"


def crp_to_mg_l(value: float, unit: str) -> float:
    """Normalise CRP to mg/L (1 mg/dL = 10 mg/L)."""
    if unit == "mg/dL":
        return value * 10.0
    return value
