"""The messages a newcomer meets first say what is wrong in their terms, and where to look.

Each test is one trap found by trying gbrules as a new user would (issue 17, item 8): the
audit secret blamed on the wrong variable, a unit printed twice, Python's integer-digit hint
for a mistyped age, and lint errors that did not say where the valid codes are.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gbrules.clinical.domain import CLINICAL
from gbrules.core.lint import Finding
from gbrules.core.lint import lint as core_lint
from gbrules.io.cli import app
from gbrules.io.json_input import loads

runner = CliRunner()


def lint(directory: Path) -> list[Finding]:
    """The linter on the clinical domain, as `gbrules rules lint DIR` runs it."""
    return core_lint(directory, CLINICAL)


def _pack(tmp_path: Path, when: str, code: str) -> Path:
    (tmp_path / "site.yaml").write_text(
        textwrap.dedent(
            f"""\
            rules:
              - id: site.rule
                title: A site rule
                when: "{when}"
                then: {{code: {code}, rationale: "why"}}
                evidence: ["Buysse 1989, Psychiatry Res 28:193"]
            """
        )
    )
    return tmp_path


# ------------------------------------------------------------------ huge integers


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ('{"age": ' + "9" * 5000 + "}", "age", "less than or equal to 130"),
        ('{"age": -' + "9" * 5000 + "}", "age", "greater than or equal to 0"),
        (
            '{"age": 40, "mood": {"gad7": {"total": ' + "1" * 4301 + "}}}",
            "mood.gad7.total",
            "less than or equal to 21",
        ),
    ],
)
def test_a_5000_digit_number_is_an_intake_error_naming_the_field(
    text: str, path: str, message: str
) -> None:
    result = runner.invoke(app, ["evaluate", "-"], input=text)
    assert result.exit_code == 2
    assert f"{path}: Input should be {message}" in result.stderr
    assert "set_int_max_str_digits" not in result.output
    assert "4300" not in result.output
    assert "Traceback" not in result.output


def test_json_input_keeps_ordinary_integers_exact() -> None:
    assert loads('{"a": 12, "b": -3, "c": [0, 4300]}') == {"a": 12, "b": -3, "c": [0, 4300]}
    assert loads("1" + "0" * 4299) == 10**4299  # at the limit: read exactly
    assert loads("1" * 5000) >= 10**4999  # past it: the same magnitude, no error


# ------------------------------------------------------------------ serve --audit-db


def test_audit_db_without_secret_blames_the_missing_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("uvicorn")
    monkeypatch.delenv("GBRULES_AUDIT_SECRET", raising=False)
    monkeypatch.delenv("GBRULES_AUDIT_DB", raising=False)
    result = runner.invoke(app, ["serve", "--audit-db", str(tmp_path / "audit.db")])
    assert result.exit_code == 2
    assert "GBRULES_AUDIT_SECRET" in result.stderr
    assert "--audit-db" in result.stderr
    assert "GBRULES_AUDIT_DB" not in result.stderr
    assert not (tmp_path / "audit.db").exists()


# ------------------------------------------------------------------ lint


def test_a_rating_range_is_printed_once(tmp_path: Path) -> None:
    (finding,) = [
        f
        for f in lint(_pack(tmp_path, "stress_score > 11", "sleep.hygiene"))
        if f.kind == "out-of-range"
    ]
    assert finding.message.endswith("outside the range of stress_score (0-10)")


def test_a_range_with_a_unit_keeps_it(tmp_path: Path) -> None:
    findings = lint(_pack(tmp_path, "age > 140", "sleep.hygiene"))
    assert any(f.message.endswith("(0-130 years)") for f in findings)


def test_an_unknown_code_names_the_nearest_and_where_codes_are_listed(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["rules", "lint", str(_pack(tmp_path, "sleep_hours < 6", "sleep.nap"))]
    )
    assert result.exit_code == 1
    assert "unknown suggestion code 'sleep.nap' (did you mean 'sleep.hygiene'?" in result.stdout
    assert "docs/RULES.md" in result.stdout
    assert "docs/RULES.md" in result.stderr  # the closing pointer to the guide


def test_a_misspelt_code_gets_its_closest_match_only(tmp_path: Path) -> None:
    (finding,) = lint(_pack(tmp_path, "sleep_hours < 6", "referral.mental_healt"))
    assert "did you mean 'referral.mental_health'?" in finding.message


def test_an_unknown_fact_names_the_nearest_and_the_fact_list(tmp_path: Path) -> None:
    (finding,) = lint(_pack(tmp_path, "phq9_totl >= 10", "sleep.hygiene"))
    assert "unknown fact 'phq9_totl'" in finding.message
    assert "did you mean 'phq9_total'?" in finding.message
    assert "docs/FACTS.md" in finding.message


# ------------------------------------------------------------------ unknown intake keys


def test_fact_names_and_misplaced_fields_say_where_they_belong() -> None:
    # The newcomer's first try: the rules' fact names at the top level.
    result = runner.invoke(
        app, ["evaluate", "-"], input='{"age": 40, "phq9_total": 12, "sleep_hours": 6}'
    )
    assert result.exit_code == 2
    assert "phq9_total: unknown field; did you mean mood.phq9.total?" in result.stderr
    assert "sleep_hours: unknown field; did you mean lifestyle.sleep_hours?" in result.stderr
    assert "docs/INTAKE.md" in result.stderr


def test_a_misspelt_key_gets_its_sibling_and_a_nonsense_key_no_guess() -> None:
    from gbrules.clinical.intake import Intake
    from gbrules.clinical.intake_hints import likely_paths

    assert likely_paths("lifestyle.sleep_hourz", Intake) == ["lifestyle.sleep_hours"]
    assert likely_paths("gi.blodting", Intake) == ["gi.bloating"]
    assert likely_paths("gi.xyz", Intake) == []
    assert likely_paths('gi["a b"]', Intake) == []


def test_the_fact_name_table_points_at_real_fields() -> None:
    from gbrules.clinical.facts import VOCABULARY
    from gbrules.clinical.intake_doc import fields
    from gbrules.clinical.intake_hints import FACT_FIELDS

    paths = {row.path for _, _, section in fields() for row in section}
    for fact, path in FACT_FIELDS.items():
        assert fact in VOCABULARY, fact
        assert path in paths, path


def test_a_missing_rules_folder_points_at_the_bundled_rulebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gbrules.clinical.engine import Engine
    from gbrules.core.errors import RulebookError

    monkeypatch.chdir(tmp_path)  # as after `pip install`, away from the clone's rules/
    with pytest.raises(RulebookError) as caught:
        Engine.from_directory("rules/")
    (problem,) = caught.value.problems
    assert "not a directory" in problem and "Engine.default()" in problem
    engine = Engine.default()
    try:
        assert engine.evaluate({"age": 30, "lifestyle": {"sleep_hours": 5}}).codes
    finally:
        engine.close()
