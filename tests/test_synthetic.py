from __future__ import annotations

from gbrules.clinical.intake import parse_intake
from gbrules.core.errors import IntakeError
from gbrules.tools.synthetic import synthetic_intakes

SECTIONS = ("gi", "mood", "labs", "conditions", "medications", "lifestyle")


def test_deterministic_and_prefix_stable() -> None:
    a = list(synthetic_intakes(300, 11))
    assert a == list(synthetic_intakes(300, 11))
    assert a[:100] == list(synthetic_intakes(100, 11))
    assert a != list(synthetic_intakes(300, 12))


def test_every_intake_is_valid() -> None:
    for i, data in enumerate(synthetic_intakes(3000, 5)):
        try:
            parse_intake(data)
        except IntakeError as exc:  # pragma: no cover - shows the culprit
            raise AssertionError(f"synthetic intake #{i} is invalid: {exc}\n{data}") from exc


def test_covers_the_space() -> None:
    xs = list(synthetic_intakes(3000, 6))
    for s in SECTIONS:
        assert any(s in x for x in xs), f"{s} never present"
        assert any(s not in x for x in xs), f"{s} never missing"
        assert any(x.get(s) == {} for x in xs), f"{s} never present but empty"
    assert any("items" in x.get("mood", {}).get("phq9", {}) for x in xs)
    assert any("total" in x.get("mood", {}).get("phq9", {}) for x in xs)
    assert any(x.get("labs", {}).get("crp", {}).get("unit") == "mg/dL" for x in xs)
    assert any(not set(x) & set(SECTIONS) for x in xs), "no intake without any section"
    assert any("patient_id" not in x for x in xs)


def test_covers_the_v1_1_fields() -> None:
    xs = list(synthetic_intakes(3000, 6))

    def seen(section: str, key: str) -> bool:
        return any(key in (x.get(section) or {}) for x in xs)

    for key in ("onset_age", "symptom_onset", "diarrhea", "fever", "abdominal_mass", "ibs_sss"):
        assert seen("gi", key), key
    assert seen("gi", "ibs_subtype") and seen("labs", "fecal_calprotectin")
    for key in ("bipolar_disorder", "eating_disorder", "prosthetic_heart_valve"):
        assert seen("conditions", key), key
    for key in ("maoi", "st_johns_wort", "other_serotonergic", "nsaid", "anticoagulant"):
        assert seen("medications", key), key
    assert seen("lifestyle", "gluten_free_diet") and seen("lifestyle", "wants_probiotic_trial")
    assert any("weight_kg" in x for x in xs) and any("breastfeeding" in x for x in xs)
    assert any("date" in (x.get("labs") or {}).get("crp", {}) for x in xs)
    assert any("date" in (x.get("mood") or {}).get("phq9", {}) for x in xs)
    assert any(x["age"] < 12 for x in xs) and any(12 <= x["age"] < 18 for x in xs)
