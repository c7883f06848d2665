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
