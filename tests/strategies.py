"""Hypothesis strategies over the whole Intake JSON v1 space (valid intakes only).

Every field may be absent, so the strategies also exercise "not recorded" (S8).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

#: Every GI alarm feature recorded as absent (sections to merge into an intake).
ALARM_FREE = {
    "gi": {
        "rectal_bleeding": False,
        "unintentional_weight_loss": False,
        "nocturnal_symptoms": False,
        "persistent_vomiting": False,
        "dysphagia": False,
        "change_in_bowel_habit": False,
    },
    "labs": {"iron_deficiency_anemia": False},
    "conditions": {
        "family_history_colorectal_cancer": False,
        "family_history_ibd_or_celiac": False,
    },
}

item = st.integers(0, 3)
maybe_bool = st.none() | st.booleans()


def _section(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict where each field is independently present or absent."""
    return st.fixed_dictionaries({}, optional=fields)


def _bools(*names: str) -> dict[str, st.SearchStrategy[Any]]:
    return {n: st.booleans() for n in names}


phq9 = st.one_of(
    st.builds(lambda xs: {"items": xs}, st.lists(item, min_size=9, max_size=9)),
    st.integers(0, 27).flatmap(
        lambda t: _section({"item9": st.integers(0, min(3, t))}).map(lambda d: {"total": t, **d})
    ),
)
gad7 = st.one_of(
    st.builds(lambda xs: {"items": xs}, st.lists(item, min_size=7, max_size=7)),
    st.builds(lambda t: {"total": t}, st.integers(0, 21)),
)
# Cluster numbers around the rulebook's thresholds so boundaries are hit often.
crp = st.builds(
    lambda v, u: {"value": v, "unit": u},
    st.sampled_from([0.0, 0.5, 1.0, 2.9, 3.0, 3.1, 9.9, 10.0, 10.1, 25.0, 0.3, 1.01])
    | st.floats(0, 100, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 2)),
    st.sampled_from(["mg/L", "mg/dL"]),
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
        ),
        "abdominal_pain_score": st.integers(0, 10),
        "symptom_weeks": st.sampled_from([0, 6, 11, 12, 13, 52]) | st.integers(0, 5200),
    }
)
mood = _section(
    {
        "phq9": phq9,
        "gad7": gad7,
        "hamd17": st.builds(lambda t: {"total": t}, st.integers(0, 52)),
        "suicidal_ideation": st.booleans(),
    }
)
labs = _section(
    {
        "crp": crp,
        "celiac_serology": st.sampled_from(["negative", "positive", "not_done"]),
        "iron_deficiency_anemia": st.booleans(),
    }
)
conditions = _section(
    _bools(
        "ibs",
        "recurrent_depression",
        "anxiety_disorder",
        "inflammatory_bowel_disease",
        "celiac_disease",
        "immunocompromised",
        "central_venous_catheter",
        "critically_ill",
        "family_history_colorectal_cancer",
        "family_history_ibd_or_celiac",
    )
)
medications = _section(_bools("ssri", "recent_antibiotics", "probiotic"))
lifestyle = _section(
    {
        "sleep_hours": st.sampled_from([4.0, 6.9, 7.0, 7.5, 9.0])
        | st.floats(0, 24, allow_nan=False).map(lambda x: round(x, 1)),
        "sleep_quality_poor": st.booleans(),
        "stress_score": st.integers(0, 10),
        "exercise_minutes_per_week": st.sampled_from([0, 149, 150, 151]) | st.integers(0, 10080),
        "fiber_g_per_day": st.floats(0, 80, allow_nan=False).map(lambda x: round(x, 1)),
        "ultra_processed_food_high": st.booleans(),
        "caffeine_mg_per_day": st.sampled_from([0.0, 200.0, 201.0, 400.0, 401.0])
        | st.floats(0, 1500, allow_nan=False).map(lambda x: round(x, 0)),
    }
)


@st.composite
def intakes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid Intake JSON v1 document; any section or field may be missing."""
    sex = draw(st.none() | st.sampled_from(["female", "male", "other", "unknown"]))
    out: dict[str, Any] = {
        "age": draw(st.sampled_from([18, 35, 48, 49, 50, 51, 70]) | st.integers(0, 130))
    }
    if draw(st.booleans()):
        out["patient_id"] = draw(st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True))
    if sex is not None:
        out["sex"] = sex
    if sex != "male" and draw(st.booleans()):
        out["pregnant"] = draw(st.booleans())
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
    return out
