"""Hypothesis strategies over the whole Intake JSON v1.1 space (valid intakes only).

Every field may be absent, so the strategies also exercise "not recorded" (S8). Numbers are
drawn often at the rulebook's thresholds. ``severe_chronic_ibs`` forces the premise of S19
(which random intakes almost never meet) and leaves everything else random.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from gbrules.clinical.intake import Conditions, Medications
from gbrules.io.scenarios.steps import ALARM_FREE

#: Every GI alarm feature recorded as absent (sections to merge into an intake).
item = st.integers(0, 3)
maybe_bool = st.none() | st.booleans()
#: A measurement day, ISO 8601 (validated, not yet used by the rules).
day = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 12, 31)).map(
    dt.date.isoformat
)


def _dated(strategy: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A measurement, sometimes with the day it was taken."""
    return st.tuples(strategy, st.none() | day).map(
        lambda pair: pair[0] if pair[1] is None else {**pair[0], "date": pair[1]}
    )


def _section(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict where each field is independently present or absent."""
    return st.fixed_dictionaries({}, optional=fields)


def _bools(*names: str) -> dict[str, st.SearchStrategy[Any]]:
    return {n: st.booleans() for n in names}


phq9 = _dated(
    st.one_of(
        st.builds(lambda xs: {"items": xs}, st.lists(item, min_size=9, max_size=9)),
        st.integers(0, 27).flatmap(
            lambda t: _section({"item9": st.integers(0, min(3, t))}).map(
                lambda d: {"total": t, **d}
            )
        ),
    )
)
gad7 = _dated(
    st.one_of(
        st.builds(lambda xs: {"items": xs}, st.lists(item, min_size=7, max_size=7)),
        st.builds(lambda t: {"total": t}, st.sampled_from([9, 10, 14, 15]) | st.integers(0, 21)),
    )
)
# Cluster numbers around the rulebook's thresholds so boundaries are hit often.
crp = _dated(
    st.builds(
        lambda v, u: {"value": v, "unit": u},
        st.sampled_from([0.0, 0.5, 1.0, 2.9, 3.0, 3.1, 9.9, 10.0, 10.1, 25.0, 0.3, 1.01])
        | st.floats(0, 100, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 2)),
        st.sampled_from(["mg/L", "mg/dL"]),
    )
)
calprotectin = _dated(
    st.builds(
        lambda v: {"value": v, "unit": "ug/g"},
        st.sampled_from([0.0, 30.0, 49.0, 50.0, 120.0, 200.0, 200.5, 201.0, 800.0])
        | st.floats(0, 3000, allow_nan=False).map(lambda x: round(x, 1)),
    )
)

gi = _section(
    {
        **_bools(
            "bloating",
            "irregular_bowel",
            "rectal_bleeding",
            "unintentional_weight_loss",
            "nocturnal_symptoms",
            "persistent_vomiting",
            "dysphagia",
            "change_in_bowel_habit",
            "diarrhea",
            "fever",
            "abdominal_mass",
            "diagnostic_doubt",
        ),
        "first_line_care_weeks": st.sampled_from([0, 11, 12, 13]) | st.integers(0, 5200),
        "abdominal_pain_score": st.sampled_from([4, 5, 6, 7, 8]) | st.integers(0, 10),
        "symptom_weeks": st.sampled_from([0, 6, 8, 11, 12, 13, 51, 52, 53, 1040])
        | st.integers(0, 5200),
        "symptom_onset": st.sampled_from(["sudden", "gradual"]),
        "ibs_sss": st.sampled_from([0, 74, 75, 174, 175, 299, 300, 500]) | st.integers(0, 500),
        "ibs_subtype": st.sampled_from(["IBS-C", "IBS-D", "IBS-M", "IBS-U"]),
    }
)
mood = _section(
    {
        "phq9": phq9,
        "gad7": gad7,
        "hamd17": st.builds(lambda t: {"total": t}, st.integers(0, 52)),
        "suicidal_ideation": st.booleans(),
        "severe_mood_change": st.booleans(),
    }
)
labs = _section(
    {
        "crp": crp,
        "celiac_serology": st.sampled_from(["negative", "positive", "not_done"]),
        "iron_deficiency_anemia": st.booleans(),
        "fecal_calprotectin": calprotectin,
    }
)
conditions = _section(_bools(*Conditions.model_fields))  # every field is a yes/no
medications = _section(_bools(*Medications.model_fields))
lifestyle = _section(
    {
        "sleep_hours": st.sampled_from([4.0, 6.9, 7.0, 7.5, 9.0])
        | st.floats(0, 24, allow_nan=False).map(lambda x: round(x, 1)),
        "sleep_quality_poor": st.booleans(),
        "stress_score": st.integers(0, 10),
        "exercise_minutes_per_week": st.sampled_from([0, 149, 150, 151]) | st.integers(0, 10080),
        "fiber_g_per_day": st.floats(0, 80, allow_nan=False).map(lambda x: round(x, 1)),
        "ultra_processed_food_high": st.booleans(),
        "caffeine_mg_per_day": st.sampled_from([0.0, 90.0, 100.0, 101.0, 200.0, 201.0, 400.0])
        | st.floats(0, 1500, allow_nan=False).map(lambda x: round(x, 0)),
        **_bools("gluten_free_diet", "wants_probiotic_trial"),
    }
)
AGES = [0, 1, 8, 11, 12, 13, 14, 17, 18, 35, 48, 49, 50, 51, 58, 60, 70, 72]


@st.composite
def intakes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid Intake JSON v1.1 document; any section or field may be missing."""
    sex = draw(st.none() | st.sampled_from(["female", "male", "other", "unknown"]))
    age = draw(st.sampled_from(AGES) | st.integers(0, 130))
    out: dict[str, Any] = {"age": age}
    if draw(st.booleans()):
        out["patient_id"] = draw(st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True))
    if sex is not None:
        out["sex"] = sex
    if sex != "male" and draw(st.booleans()):
        out["pregnant"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        out["breastfeeding"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        out["weight_kg"] = draw(
            st.sampled_from([3.5, 35.0, 36.0, 40.0, 70.0])
            | st.floats(0.3, 400, allow_nan=False).map(lambda x: round(x, 1))
        )
    for name, strat in (
        ("gi", gi),
        ("mood", mood),
        ("labs", labs),
        ("conditions", conditions),
        ("medications", medications),
        ("lifestyle", lifestyle),
    ):
        if draw(st.integers(0, 4)) > 0:
            out[name] = draw(strat)
    if "gi" in out and draw(st.integers(0, 3)) == 0:  # the onset age cannot exceed the age
        out["gi"]["onset_age"] = draw(
            st.sampled_from([x for x in (12, 17, 18, 49, 50, 51) if x <= age]) | st.integers(0, age)
            if age >= 12
            else st.integers(0, age)
        )
    return out


def _merge(base: dict[str, Any], forced: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in forced.items():
        out[key] = {**(out.get(key) or {}), **value} if isinstance(value, dict) else value
    return out


@st.composite
def severe_chronic_ibs(draw: st.DrawFn) -> dict[str, Any]:
    """An intake meeting S19's premise, everything else random.

    Adult, IBS, every S3 alarm recorded absent, no S12 trigger, onset under 50 or unknown, no
    crisis, no eating disorder, negative serology on a gluten-containing diet, not sudden, and
    severe (IBS-SSS >= 300 or pain >= 7).
    """
    base = draw(intakes())
    age = draw(st.integers(18, 90))
    weeks = draw(st.integers(0, 5200) | st.none())
    severe = draw(st.sampled_from(["pain", "sss", "both"]))
    gi: dict[str, Any] = {
        **ALARM_FREE["gi"],
        "fever": draw(st.sampled_from([False, None])),
        "abdominal_mass": draw(st.sampled_from([False, None])),
        "symptom_onset": draw(st.sampled_from(["gradual", None])),
        "onset_age": draw(st.integers(0, min(age, 49)) | st.none()),
        "symptom_weeks": weeks,
    }
    if severe in ("pain", "both"):
        gi["abdominal_pain_score"] = draw(st.integers(7, 10))
    if severe in ("sss", "both"):
        gi["ibs_sss"] = draw(st.integers(300, 500))
    labs: dict[str, Any] = {**ALARM_FREE["labs"], "celiac_serology": "negative"}
    # None: not recorded (a random CRP or calprotectin from the base could be an S12 trigger).
    crp_mg_l = draw(st.none() | st.sampled_from([0.5, 3.0, 9.9, 10.0]))
    labs["crp"] = None if crp_mg_l is None else {"value": crp_mg_l, "unit": "mg/L"}
    calpro = draw(st.none() | st.sampled_from([10.0, 49.0, 50.0, 200.0]))
    labs["fecal_calprotectin"] = None if calpro is None else {"value": calpro, "unit": "ug/g"}
    out = _merge(
        base,
        {
            "age": age,
            "gi": gi,
            "labs": labs,
            "conditions": {
                **ALARM_FREE["conditions"],
                "ibs": True,
                "eating_disorder": draw(st.sampled_from([False, None])),
            },
            "lifestyle": {"gluten_free_diet": draw(st.sampled_from([False, None]))},
            "mood": {"suicidal_ideation": draw(st.sampled_from([False, None]))},
        },
    )
    for section in ("gi", "conditions", "lifestyle", "mood", "labs"):  # None = leave it out
        out[section] = {k: v for k, v in out[section].items() if v is not None}
    phq = out["mood"].get("phq9")
    if phq is not None:  # no crisis: item 9 is 0 or not recorded
        if "items" in phq:
            phq["items"] = [*phq["items"][:8], 0]
            phq.pop("total", None)
            phq.pop("item9", None)
        else:
            phq.pop("item9", None)
    if weeks is not None and "onset_age" not in out["gi"] and age - weeks / 52 >= 50:
        out["gi"]["symptom_weeks"] = max(0, (age - 49) * 52)  # keep the onset under 50
    return out


@st.composite
def women_50_with_recent_bloating(draw: st.DrawFn) -> dict[str, Any]:
    """An intake meeting S14's premise (rare at random), everything else random."""
    base = draw(intakes())
    gi = {k: v for k, v in (base.get("gi") or {}).items() if k != "onset_age"}
    gi.update(bloating=True, symptom_weeks=draw(st.sampled_from([0, 8, 51]) | st.integers(0, 51)))
    return {**base, "age": draw(st.integers(50, 100)), "sex": "female", "gi": gi}
