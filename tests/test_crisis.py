"""Crisis lines are data (rules/crisis_lines.yaml): US and UK sets ship, the default names its
country, and a broken file fails loudly instead of drafting a banner without numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gbrules.clinical.crisis import crisis_file, crisis_set


def test_us_and_uk_ship_and_the_default_is_the_us() -> None:
    data = crisis_file()
    assert {"US", "UK"} <= set(data.countries)
    assert data.default_country == "US"
    assert crisis_set().country == "US"
    assert crisis_set({"crisis_country": "UK"}).emergency == "999"
    for chosen in data.countries.values():
        assert chosen.lines and all(line.url.startswith("https://") for line in chosen.lines)


def test_every_text_names_the_country() -> None:
    uk = crisis_set({"crisis_country": "UK"})
    assert "(United Kingdom)" in uk.clinician_text()
    assert "Samaritans" in " ".join(uk.patient_lines())
    assert "999" in uk.patient_lines()[1]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "default_country: FR\ncountries:\n  US: {name: U, lines: [], emergency: '911'}\n",
            ValidationError,
        ),
        (
            "default_country: FR\ncountries:\n  US:\n    name: U\n    emergency: '911'\n"
            "    lines: [{label: L, contact: c, url: https://x}]\n",
            ValueError,
        ),
    ],
)
def test_a_broken_crisis_file_is_refused(tmp_path: Path, text: str, error: type[Exception]) -> None:
    path = tmp_path / "crisis_lines.yaml"
    path.write_text(text)
    with pytest.raises(error):
        crisis_file(path)
