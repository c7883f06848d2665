"""A deterministic synthetic population of intakes, and the diff of two rulebooks over it.

``population(n, seed)`` uses only ``random.Random(seed)``: the same ``n`` and ``seed`` give the
same intakes on every machine and Python version that keeps ``random``'s documented
reproducibility. Every field may be absent (missing is not false), and numbers cluster around
the rulebook's thresholds so a threshold change shows up in a modest population.

``diff_rulebooks(old, new, n, seed)`` evaluates the population under both rulebooks and reports
which codes appear, disappear or change priority, for how many intakes, with examples.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_NEAR: dict[str, list[float]] = {
    "phq9": [0, 4, 5, 9, 10, 14, 15, 19, 20, 27],
    "gad7": [0, 4, 5, 9, 10, 14, 15, 21],
    "hamd17": [0, 7, 8, 16, 17, 23, 24, 52],
    "crp": [0.5, 1.0, 2.9, 3.0, 3.1, 9.9, 10.0, 10.1, 25.0],
    "age": [18, 35, 48, 49, 50, 51, 70],
    "pain": [0, 3, 4, 5, 7, 8, 10],
    "weeks": [2, 6, 11, 12, 13, 30],
    "sleep": [4.5, 6.0, 6.9, 7.0, 7.5, 9.0],
    "stress": [2, 5, 6, 7, 9],
    "exercise": [0, 60, 149, 150, 151, 300],
    "fiber": [10.0, 18.0, 24.9, 25.0, 35.0],
    "caffeine": [0.0, 150.0, 200.0, 201.0, 400.0, 401.0, 600.0],
}


def _maybe(rng: random.Random, p: float = 0.7) -> bool:
    return rng.random() < p


def _num(rng: random.Random, key: str, lo: float, hi: float, integer: bool) -> float | int:
    if rng.random() < 0.7:
        return rng.choice(_NEAR[key])
    value = rng.uniform(lo, hi)
    return round(value) if integer else round(value, 1)


def _bools(rng: random.Random, names: list[str], p_true: float = 0.2) -> dict[str, bool]:
    return {n: rng.random() < p_true for n in names if _maybe(rng)}


def intake(rng: random.Random, index: int) -> dict[str, Any]:
    """One valid Intake JSON v1 document."""
    out: dict[str, Any] = {
        "patient_id": f"pop-{index:05d}",
        "age": int(_num(rng, "age", 0, 100, True)),
    }
    if _maybe(rng, 0.8):
        out["sex"] = rng.choice(["female", "male", "other", "unknown"])
    if out.get("sex") != "male" and _maybe(rng, 0.5):
        out["pregnant"] = rng.random() < 0.1
    if _maybe(rng):
        gi: dict[str, Any] = _bools(rng, ["bloating", "irregular_bowel"], 0.5)
        gi.update(
            _bools(
                rng,
                [
                    "rectal_bleeding",
                    "unintentional_weight_loss",
                    "nocturnal_symptoms",
                    "persistent_vomiting",
                    "dysphagia",
                    "change_in_bowel_habit",
                ],
                0.08,
            )
        )
        if _maybe(rng):
            gi["abdominal_pain_score"] = int(_num(rng, "pain", 0, 10, True))
        if _maybe(rng, 0.5):
            gi["symptom_weeks"] = int(_num(rng, "weeks", 0, 200, True))
        out["gi"] = gi
    if _maybe(rng):
        mood: dict[str, Any] = {}
        if _maybe(rng):
            if _maybe(rng, 0.4):
                mood["phq9"] = {"items": [rng.choice([0, 0, 1, 1, 2, 3]) for _ in range(9)]}
            else:
                total = int(_num(rng, "phq9", 0, 27, True))
                mood["phq9"] = {"total": total}
                if _maybe(rng, 0.6):
                    mood["phq9"]["item9"] = min(total, rng.choice([0, 0, 0, 0, 1, 2]))
        if _maybe(rng, 0.5):
            mood["gad7"] = {"total": int(_num(rng, "gad7", 0, 21, True))}
        if _maybe(rng, 0.3):
            mood["hamd17"] = {"total": int(_num(rng, "hamd17", 0, 52, True))}
        if _maybe(rng, 0.5):
            mood["suicidal_ideation"] = rng.random() < 0.05
        out["mood"] = mood
    if _maybe(rng, 0.6):
        labs: dict[str, Any] = {}
        if _maybe(rng, 0.6):
            unit = rng.choice(["mg/L", "mg/L", "mg/dL"])
            value = float(_num(rng, "crp", 0, 60, False))
            labs["crp"] = {
                "value": round(value / 10, 3) if unit == "mg/dL" else value,
                "unit": unit,
            }
        if _maybe(rng, 0.6):
            labs["celiac_serology"] = rng.choice(["negative", "negative", "not_done", "positive"])
        if _maybe(rng, 0.6):
            labs["iron_deficiency_anemia"] = rng.random() < 0.05
        out["labs"] = labs
    if _maybe(rng):
        cond = _bools(rng, ["ibs", "recurrent_depression", "anxiety_disorder"], 0.35)
        cond.update(
            _bools(
                rng,
                [
                    "inflammatory_bowel_disease",
                    "celiac_disease",
                    "immunocompromised",
                    "central_venous_catheter",
                    "critically_ill",
                    "family_history_colorectal_cancer",
                    "family_history_ibd_or_celiac",
                ],
                0.05,
            )
        )
        out["conditions"] = cond
    if _maybe(rng, 0.6):
        out["medications"] = _bools(rng, ["ssri", "recent_antibiotics", "probiotic"], 0.2)
    if _maybe(rng):
        life: dict[str, Any] = {}
        for key, name, lo, hi, integer in (
            ("sleep", "sleep_hours", 0, 12, False),
            ("stress", "stress_score", 0, 10, True),
            ("exercise", "exercise_minutes_per_week", 0, 600, True),
            ("fiber", "fiber_g_per_day", 0, 60, False),
            ("caffeine", "caffeine_mg_per_day", 0, 900, False),
        ):
            if _maybe(rng):
                life[name] = _num(rng, key, lo, hi, integer)
        life.update(_bools(rng, ["sleep_quality_poor", "ultra_processed_food_high"], 0.4))
        out["lifestyle"] = life
    return out


def population(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` synthetic intakes, the same for the same ``n`` and ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    return [intake(rng, i) for i in range(n)]


# ---------------------------------------------------------------- rulebook diff


@dataclass
class Change:
    """One code that behaves differently under the new rulebook."""

    code: str
    kind: str  # "appears" | "disappears" | "priority"
    detail: str = ""
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.kind,
            "detail": self.detail,
            "count": self.count,
            "examples": self.examples,
        }


@dataclass
class DiffReport:
    old: str
    new: str
    population: int
    seed: int
    changed_intakes: int
    changes: list[Change]

    def as_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "population": self.population,
            "seed": self.seed,
            "changed_intakes": self.changed_intakes,
            "changes": [c.as_dict() for c in self.changes],
        }

    def text(self) -> str:
        lines = [
            f"rulebook diff over {self.population} synthetic intakes (seed {self.seed})",
            f"  old: {self.old}",
            f"  new: {self.new}",
            f"{self.changed_intakes} intake(s) get a different plan",
        ]
        if not self.changes:
            lines.append("no code appears, disappears or changes priority")
        for c in self.changes:
            what = {"appears": "appears in", "disappears": "disappears from"}.get(
                c.kind, f"changes priority ({c.detail}) in"
            )
            lines.append("")
            lines.append(f"{c.code} {what} {c.count} intake(s); for example:")
            for ex in c.examples:
                lines.append("  " + json.dumps(ex, sort_keys=True, separators=(",", ":")))
        return "\n".join(lines) + "\n"


EXAMPLES_PER_CHANGE = 3


def diff_rulebooks(old_dir: str | Path, new_dir: str | Path, n: int, seed: int = 0) -> DiffReport:
    """Evaluate the same synthetic population under two rulebooks and compare the plans."""
    from gbrules.engine import Engine

    old = Engine.from_directory(old_dir)
    new = Engine.from_directory(new_dir)
    changes: dict[tuple[str, str, str], Change] = {}
    changed = 0
    try:
        for data in population(n, seed):
            a = {s.code: s.priority for s in old.evaluate(data).suggestions}
            b = {s.code: s.priority for s in new.evaluate(data).suggestions}
            if a != b:
                changed += 1
            keys = [(c, "appears", "") for c in b if c not in a]
            keys += [(c, "disappears", "") for c in a if c not in b]
            keys += [(c, "priority", f"{a[c]} -> {b[c]}") for c in a if c in b and a[c] != b[c]]
            for key in keys:
                ch = changes.setdefault(key, Change(*key))
                ch.count += 1
                if len(ch.examples) < EXAMPLES_PER_CHANGE:
                    ch.examples.append(data)
    finally:
        old.close()
        new.close()
    ordered = sorted(changes.values(), key=lambda c: (-c.count, c.code, c.kind, c.detail))
    return DiffReport(
        old=f"{old_dir} ({old.version})",
        new=f"{new_dir} ({new.version})",
        population=n,
        seed=seed,
        changed_intakes=changed,
        changes=ordered,
    )
