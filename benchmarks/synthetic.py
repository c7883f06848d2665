"""Deterministic, valid synthetic intakes for soak and concurrency checks (no patient data).

``intake(i)`` is a pure function of ``i``: the same index always gives the same intake, so
runs can be compared across threads, processes and machines. Values cluster around the
rulebook's thresholds so that most rules fire for some share of the population.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any


def _maybe(rng: random.Random, p: float = 0.7) -> bool:
    return rng.random() < p


def intake(i: int, seed: int = 20240601) -> dict[str, Any]:
    rng = random.Random(seed * 1_000_003 + i)
    sex = rng.choice(["female", "male", "other", "unknown"])
    out: dict[str, Any] = {"patient_id": f"synthetic-{i}", "age": rng.randint(16, 90), "sex": sex}
    if sex != "male" and _maybe(rng, 0.2):
        out["pregnant"] = rng.random() < 0.1
    if _maybe(rng):
        gi: dict[str, Any] = {}
        for name in ("bloating", "irregular_bowel", "change_in_bowel_habit"):
            if _maybe(rng):
                gi[name] = rng.random() < 0.5
        for name in (
            "rectal_bleeding",
            "unintentional_weight_loss",
            "nocturnal_symptoms",
            "persistent_vomiting",
            "dysphagia",
        ):
            if _maybe(rng, 0.5):
                gi[name] = rng.random() < 0.05
        if _maybe(rng):
            gi["abdominal_pain_score"] = rng.randint(0, 10)
        if _maybe(rng):
            gi["symptom_weeks"] = rng.choice([2, 6, 11, 12, 13, 26, 52, 104])
        out["gi"] = gi
    if _maybe(rng):
        mood: dict[str, Any] = {}
        if _maybe(rng, 0.8):
            if rng.random() < 0.5:
                mood["phq9"] = {"items": [rng.choice([0, 0, 1, 1, 2, 3]) for _ in range(9)]}
            else:
                total = rng.randint(0, 27)
                mood["phq9"] = {"total": total}
                if _maybe(rng):
                    mood["phq9"]["item9"] = rng.randint(0, min(3, total))
        if _maybe(rng, 0.5):
            mood["gad7"] = {"total": rng.randint(0, 21)}
        if _maybe(rng, 0.2):
            mood["hamd17"] = {"total": rng.randint(0, 52)}
        if _maybe(rng, 0.3):
            mood["suicidal_ideation"] = rng.random() < 0.05
        out["mood"] = mood
    if _maybe(rng, 0.6):
        labs: dict[str, Any] = {}
        if _maybe(rng):
            unit = rng.choice(["mg/L", "mg/dL"])
            value = round(
                rng.choice([0.5, 2.9, 3.0, 3.1, 9.9, 10.0, 10.1, 25.0, rng.random() * 40]), 2
            )
            labs["crp"] = {"value": value / 10 if unit == "mg/dL" else value, "unit": unit}
        if _maybe(rng):
            labs["celiac_serology"] = rng.choice(["negative", "positive", "not_done"])
        if _maybe(rng, 0.5):
            labs["iron_deficiency_anemia"] = rng.random() < 0.05
        out["labs"] = labs
    if _maybe(rng, 0.6):
        out["conditions"] = {
            name: rng.random() < 0.15
            for name in (
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
            if _maybe(rng)
        }
    if _maybe(rng, 0.5):
        out["medications"] = {
            name: rng.random() < 0.3
            for name in ("ssri", "recent_antibiotics", "probiotic")
            if _maybe(rng)
        }
    if _maybe(rng):
        life: dict[str, Any] = {}
        if _maybe(rng):
            life["sleep_hours"] = rng.choice([4.0, 5.5, 6.9, 7.0, 7.5, 9.0])
        if _maybe(rng):
            life["sleep_quality_poor"] = rng.random() < 0.4
        if _maybe(rng):
            life["stress_score"] = rng.randint(0, 10)
        if _maybe(rng):
            life["exercise_minutes_per_week"] = rng.choice([0, 30, 149, 150, 151, 300])
        if _maybe(rng):
            life["fiber_g_per_day"] = rng.choice([8.0, 12.5, 24.9, 25.0, 35.0])
        if _maybe(rng):
            life["ultra_processed_food_high"] = rng.random() < 0.4
        if _maybe(rng):
            life["caffeine_mg_per_day"] = rng.choice([0.0, 200.0, 400.0, 401.0, 600.0])
        out["lifestyle"] = life
    return out


def intakes(n: int, start: int = 0, seed: int = 20240601) -> Iterator[dict[str, Any]]:
    for i in range(start, start + n):
        yield intake(i, seed)
