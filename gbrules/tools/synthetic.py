"""Deterministic synthetic intakes (Intake JSON v1.1 dicts) for tests, benchmarks and batch runs.

``synthetic_intakes(n, seed)`` yields ``n`` *valid* intakes. The same ``(n, seed)`` always gives
the same dicts, and a longer run starts with the shorter one (intake ``i`` depends only on the
seed and ``i``'s place in the stream), so a failing case can be reproduced from its index.

The generator covers the whole v1.1 space on purpose, because exactness bugs live at the edges:

* every section may be missing, present but empty, or fully filled, and every optional field
  inside a section may be missing (S8: "not recorded" is not false);
* both spellings of the instruments (PHQ-9 items or total with or without item 9; GAD-7 items or
  total), CRP in mg/L and mg/dL;
* numbers are drawn often *at* the rule thresholds (PHQ-9 10/15/20, GAD-7 10/15, HAM-D
  8/17/24, CRP 3/10 mg/L, calprotectin 50/200 ug/g, IBS-SSS 175/300, age 12/18/50, onset 50,
  symptom weeks 12/52, sleep 7/8/9 h, caffeine 100/200/400 mg and 2.5 mg/kg, fiber 25 g,
  activity 150/420 min, pain 5/7/8, ...) and one step either side, as well as anywhere in the
  valid range, including 0 and the maximum;
* the v1.1 fields (onset, diarrhoea, fever, mass, IBS-SSS and subtype, calprotectin, bipolar
  and eating disorders, the new probiotic cautions and medicines, gluten-free diet, the wish
  for a probiotic trial, breastfeeding, weight, measurement days) in a minority of intakes, as
  a clinic that has only begun sending them would.

Only the standard library is used; the dicts are plain JSON values (str, int, float, bool,
list, dict).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SEXES = ("female", "male", "other", "unknown")
SEROLOGY = ("negative", "positive", "not_done")
IBS_SUBTYPES = ("IBS-C", "IBS-D", "IBS-M", "IBS-U")

# Thresholds that appear in the default rulebook, used as hot spots for numeric draws.
_EDGES: dict[str, tuple[float, ...]] = {
    "age": (0, 1, 8, 11, 12, 13, 17, 18, 49, 50, 51, 58, 65, 72, 130),
    "pain": (0, 1, 4, 5, 6, 7, 8, 10),
    "weeks": (0, 4, 8, 11, 12, 13, 51, 52, 53, 5200),
    "onset": (0, 12, 18, 49, 50, 51, 70),
    "ibs_sss": (0, 74, 75, 174, 175, 299, 300, 500),
    "calprotectin": (0.0, 30.0, 49.9, 50.0, 120.0, 200.0, 200.1, 600.0, 10000.0),
    "weight": (0.3, 3.5, 20.0, 35.0, 36.0, 40.0, 70.0, 400.0),
    "phq9": (0, 4, 5, 9, 10, 14, 15, 19, 20, 27),
    "gad7": (0, 4, 5, 9, 10, 14, 15, 21),
    "hamd": (0, 7, 8, 16, 17, 23, 24, 52),
    "crp_mg_l": (0.0, 0.5, 1.0, 2.9999, 3.0, 3.0001, 9.99, 10.0, 10.01, 50.0, 1000.0),
    "sleep": (0.0, 4.5, 6.99, 7.0, 7.01, 7.99, 8.0, 8.99, 9.0, 24.0),
    "stress": (0, 6, 7, 8, 10),
    "exercise": (0, 30, 149, 150, 151, 300, 419, 420, 10080),
    "fiber": (0.0, 12.0, 24.9, 25.0, 25.1, 40.0, 500.0),
    "caffeine": (0.0, 90.0, 100.0, 100.5, 150.0, 200.0, 200.5, 399.9, 400.0, 400.1, 800.0, 10000.0),
}


class _Draw:
    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def maybe(self, p: float = 0.75) -> bool:
        return self.r.random() < p

    def opt_bool(self, p_present: float = 0.7, p_true: float = 0.35) -> bool | None:
        if self.r.random() >= p_present:
            return None
        return self.r.random() < p_true

    def int_in(self, lo: int, hi: int, edges: str) -> int:
        if self.r.random() < 0.5:
            return int(self.r.choice(_EDGES[edges]))
        return self.r.randint(lo, hi)

    def num_in(self, lo: float, hi: float, edges: str, typical_hi: float) -> float | int:
        roll = self.r.random()
        if roll < 0.45:
            return float(self.r.choice(_EDGES[edges]))
        if roll < 0.55:
            return self.r.randint(int(lo), int(min(hi, typical_hi)))  # a JSON int is fine too
        return round(self.r.uniform(lo, typical_hi), self.r.choice((1, 2, 3)))


def _fields(spec: dict[str, Any]) -> dict[str, Any]:
    """Keep each field with its own probability; None values mean 'leave it out'."""
    return {k: v for k, v in spec.items() if v is not None}


def _day(d: _Draw) -> str:
    """A measurement day (ISO 8601) in the recent past."""
    return f"{d.r.randint(2015, 2026):04d}-{d.r.randint(1, 12):02d}-{d.r.randint(1, 28):02d}"


def _dated(d: _Draw, measurement: dict[str, Any]) -> dict[str, Any]:
    if d.maybe(0.2):
        measurement["date"] = _day(d)
    return measurement


def _gi(d: _Draw, age: int) -> dict[str, Any]:
    p = d.r.choice((0.0, 0.5, 0.9, 1.0))  # empty section .. everything recorded
    flag = 0.15 if d.maybe(0.7) else 0.5  # alarm features mostly rare, sometimes common
    q = p * 0.4  # v1.1 fields: recorded less often
    onset = d.int_in(0, age, "onset") if d.maybe(q) else None
    return _fields(
        {
            "bloating": d.opt_bool(p, 0.5),
            "irregular_bowel": d.opt_bool(p, 0.5),
            "abdominal_pain_score": d.int_in(0, 10, "pain") if d.maybe(p) else None,
            "rectal_bleeding": d.opt_bool(p, flag),
            "unintentional_weight_loss": d.opt_bool(p, flag),
            "nocturnal_symptoms": d.opt_bool(p, flag),
            "persistent_vomiting": d.opt_bool(p, flag),
            "dysphagia": d.opt_bool(p, flag),
            "symptom_weeks": d.int_in(0, 5200, "weeks") if d.maybe(p) else None,
            "change_in_bowel_habit": d.opt_bool(p, 0.4),
            "onset_age": onset if onset is not None and onset <= age else None,
            "symptom_onset": d.r.choice(("sudden", "gradual")) if d.maybe(q) else None,
            "diarrhea": d.opt_bool(q, 0.4),
            "fever": d.opt_bool(q, flag),
            "abdominal_mass": d.opt_bool(q, flag * 0.5),
            "ibs_sss": d.int_in(0, 500, "ibs_sss") if d.maybe(q) else None,
            "ibs_subtype": d.r.choice(IBS_SUBTYPES) if d.maybe(q) else None,
            "first_line_care_weeks": d.int_in(0, 5200, "weeks") if d.maybe(q) else None,
            "diagnostic_doubt": d.opt_bool(q, 0.1),
        },
    )


def _items(d: _Draw, n: int, target: int | None) -> list[int]:
    if target is None:
        return [d.r.randint(0, 3) for _ in range(n)]
    items = [0] * n
    left = target
    for _ in range(target * 4):
        if left == 0:
            break
        i = d.r.randrange(n)
        if items[i] < 3:
            items[i] += 1
            left -= 1
    return items


def _phq9(d: _Draw) -> dict[str, Any]:
    total = d.int_in(0, 27, "phq9")
    form = d.r.random()
    if form < 0.4:
        items = _items(d, 9, total)
        if d.maybe(0.3):
            items[8] = d.r.randint(0, 3)  # item 9 independent of the rest
        out: dict[str, Any] = {"items": items}
        if d.maybe(0.15):
            out["total"] = sum(items)  # both, agreeing
        if d.maybe(0.1):
            out["item9"] = items[8]
        return _dated(d, out)
    out = {"total": total}
    if d.maybe(0.6):
        out["item9"] = d.r.randint(0, min(3, total))
    return _dated(d, out)


def _gad7(d: _Draw) -> dict[str, Any]:
    total = d.int_in(0, 21, "gad7")
    if d.maybe(0.4):
        items = _items(d, 7, total)
        out: dict[str, Any] = {"items": items}
        if d.maybe(0.2):
            out["total"] = sum(items)
        return _dated(d, out)
    return _dated(d, {"total": total})


def _mood(d: _Draw) -> dict[str, Any]:
    p = d.r.choice((0.0, 0.5, 0.8, 1.0))
    return _fields(
        {
            "phq9": _phq9(d) if d.maybe(p) else None,
            "gad7": _gad7(d) if d.maybe(p) else None,
            "hamd17": {"total": d.int_in(0, 52, "hamd")} if d.maybe(p * 0.6) else None,
            "suicidal_ideation": d.opt_bool(p * 0.8, 0.1),
            "severe_mood_change": d.opt_bool(p * 0.4, 0.05),
        },
    )


def _crp(d: _Draw) -> dict[str, Any]:
    mg_l = d.num_in(0, 1000, "crp_mg_l", 30.0)
    if d.maybe(0.3):  # the same kind of value in mg/dL (x10 = mg/L), never above 100 mg/dL
        value: float | int = round(float(mg_l) / 10.0, 4)
        return _dated(d, {"value": value, "unit": "mg/dL"})
    return _dated(d, {"value": mg_l, "unit": "mg/L"})


def _labs(d: _Draw) -> dict[str, Any]:
    p = d.r.choice((0.0, 0.5, 0.9))
    return _fields(
        {
            "crp": _crp(d) if d.maybe(p) else None,
            "celiac_serology": d.r.choice(SEROLOGY) if d.maybe(p) else None,
            "iron_deficiency_anemia": d.opt_bool(p, 0.1),
            "fecal_calprotectin": _dated(
                d, {"value": d.num_in(0, 10000, "calprotectin", 800.0), "unit": "ug/g"}
            )
            if d.maybe(p * 0.3)
            else None,
        },
    )


_CONDITIONS = (
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
# v1.1, recorded less often (a clinic that has only begun sending them).
_CONDITIONS_V11 = (
    "bipolar_disorder",
    "eating_disorder",
    "prosthetic_heart_valve",
    "short_bowel_syndrome",
    "acute_pancreatitis",
)
_MEDICATIONS_V11 = (
    "maoi",
    "st_johns_wort",
    "other_serotonergic",
    "nsaid",
    "anticoagulant",
    "supplements",
    "melatonin",
)


def _conditions(d: _Draw) -> dict[str, Any]:
    p = d.r.choice((0.0, 0.5, 0.9, 1.0))
    truth = {"ibs": 0.5, "recurrent_depression": 0.3, "anxiety_disorder": 0.3}
    out = {k: d.opt_bool(p, truth.get(k, 0.1)) for k in _CONDITIONS}
    out.update({k: d.opt_bool(p * 0.4, 0.1) for k in _CONDITIONS_V11})
    return _fields(out)


def _medications(d: _Draw) -> dict[str, Any]:
    p = d.r.choice((0.0, 0.6, 1.0))
    out = {
        "ssri": d.opt_bool(p, 0.3),
        "recent_antibiotics": d.opt_bool(p, 0.2),
        "probiotic": d.opt_bool(p, 0.3),
    }
    out.update({k: d.opt_bool(p * 0.4, 0.15) for k in _MEDICATIONS_V11})
    return _fields(out)


def _lifestyle(d: _Draw) -> dict[str, Any]:
    p = d.r.choice((0.0, 0.5, 0.9, 1.0))
    return _fields(
        {
            "sleep_hours": d.num_in(0, 24, "sleep", 10.0) if d.maybe(p) else None,
            "sleep_quality_poor": d.opt_bool(p, 0.4),
            "stress_score": d.int_in(0, 10, "stress") if d.maybe(p) else None,
            "exercise_minutes_per_week": d.int_in(0, 10080, "exercise") if d.maybe(p) else None,
            "fiber_g_per_day": d.num_in(0, 500, "fiber", 45.0) if d.maybe(p) else None,
            "ultra_processed_food_high": d.opt_bool(p, 0.4),
            "caffeine_mg_per_day": d.num_in(0, 10000, "caffeine", 700.0) if d.maybe(p) else None,
            "gluten_free_diet": d.opt_bool(p * 0.4, 0.15),
            "wants_probiotic_trial": d.opt_bool(p * 0.4, 0.6),
        },
    )


def synthetic_intake(rng: random.Random, index: int = 0, seed: int = 0) -> dict[str, Any]:
    """One valid intake drawn from ``rng``."""
    d = _Draw(rng)
    out: dict[str, Any] = {}
    if d.maybe(0.9):
        out["patient_id"] = f"syn-{seed}-{index}"
    out["age"] = d.int_in(0, 130, "age")
    sex = d.r.choice(SEXES) if d.maybe(0.85) else None
    if sex is not None:
        out["sex"] = sex
    pregnant = d.opt_bool(0.5, 0.1)
    if pregnant is not None and not (pregnant and sex == "male"):
        out["pregnant"] = pregnant
    breastfeeding = d.opt_bool(0.2, 0.1)
    if breastfeeding is not None and sex != "male":
        out["breastfeeding"] = breastfeeding
    if d.maybe(0.2):
        out["weight_kg"] = d.num_in(0.3, 400, "weight", 120.0) or 0.3
    age = out["age"]
    if d.maybe(0.002):
        return out  # age (and id) only: nothing else recorded
    for name, make, p in (
        ("gi", lambda d: _gi(d, age), 0.8),
        ("mood", _mood, 0.8),
        ("labs", _labs, 0.6),
        ("conditions", _conditions, 0.75),
        ("medications", _medications, 0.6),
        ("lifestyle", _lifestyle, 0.7),
    ):
        if d.maybe(p):
            out[name] = make(d)
    if d.maybe(0.2):
        _calm(d, out)
    return out


_ALARM_FLAGS = (
    "rectal_bleeding",
    "unintentional_weight_loss",
    "nocturnal_symptoms",
    "persistent_vomiting",
    "dysphagia",
)


def _calm(d: _Draw, out: dict[str, Any]) -> None:
    """Record every alarm feature and probiotic caution as absent (so gi_alarm == false and
    probiotic_risk == false can hold); otherwise those rare all-known-false states go untested."""
    gi = out.setdefault("gi", {})
    gi.update(dict.fromkeys(_ALARM_FLAGS, False))
    gi.setdefault("change_in_bowel_habit", d.r.random() < 0.3)
    gi.setdefault("abdominal_pain_score", d.int_in(0, 10, "pain"))
    if d.maybe(0.5):
        gi["fever"] = gi["abdominal_mass"] = False
    if d.maybe(0.15):  # no GI symptom at all, every one recorded (a mood-only consultation)
        gi.update(bloating=False, irregular_bowel=False, diarrhea=False, abdominal_pain_score=0)
        gi["change_in_bowel_habit"] = False
    labs = out.setdefault("labs", {})
    labs["iron_deficiency_anemia"] = False
    if d.maybe(0.6):
        labs["celiac_serology"] = "negative"
    cond = out.setdefault("conditions", {})
    for k in ("immunocompromised", "central_venous_catheter", "critically_ill"):
        cond[k] = False
    if d.maybe(0.7):
        for k in ("prosthetic_heart_valve", "short_bowel_syndrome", "acute_pancreatitis"):
            cond[k] = False
    cond["family_history_colorectal_cancer"] = False
    cond["family_history_ibd_or_celiac"] = False
    if out.get("sex") != "male" and out.get("pregnant") is None and d.maybe(0.7):
        out["pregnant"] = False


def synthetic_intakes(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """``n`` valid Intake JSON v1 dicts, deterministic in ``seed``; lazy (constant memory)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    for i in range(n):
        yield synthetic_intake(rng, i, seed)


def replicated_rulebook(
    dest: str | Path, copies: int = 4, source: str | Path | None = None
) -> Path:
    """Write ``copies`` copies of a rulebook into ``dest``, rule ids renamed (``<id>_x<k>``).

    A bigger rulebook with the same logic, for scale tests and benchmarks: every copy fires
    exactly when the original does. Returns ``dest``.
    """
    import copy

    import yaml

    from gbrules.clinical.domain import default_rules_dir
    from gbrules.core.rulebook import MANIFEST

    src = Path(source) if source is not None else default_rules_dir()
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    manifest = yaml.safe_load((src / MANIFEST).read_text(encoding="utf-8"))
    files: list[str] = []
    for k in range(1, copies + 1):
        for name in manifest["files"]:
            data = yaml.safe_load((src / name).read_text(encoding="utf-8"))
            rules = copy.deepcopy(data["rules"])
            for rule in rules:
                rule["id"] = f"{rule['id']}_x{k}"
            target = f"x{k}_{name}"
            text = yaml.safe_dump({"rules": rules}, sort_keys=False, allow_unicode=True)
            (out / target).write_text(text, encoding="utf-8")
            files.append(target)
    manifest = {**manifest, "files": files, "name": f"{manifest['name']} x{copies}"}
    (out / MANIFEST).write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return out
