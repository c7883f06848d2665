"""The intake reference is generated from the models and cannot drift from them.

docs/INTAKE.md and ``gbrules schema intake`` come from the pydantic models that validate every
intake; these tests fail when the page is stale, when a field lacks a description or an example,
and when the JSON Schema and the models disagree about an intake.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from gbrules.clinical.examples import example_names, load_example
from gbrules.clinical.intake import Intake, parse_intake
from gbrules.clinical.intake_doc import REGENERATE, complete_example, fields, intake_markdown
from gbrules.core.errors import IntakeError
from gbrules.io.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _cli_json(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_docs_intake_md_is_current() -> None:
    doc = (ROOT / "docs" / "INTAKE.md").read_text(encoding="utf-8")
    assert doc == intake_markdown(), f"docs/INTAKE.md is stale: run `.venv/bin/{REGENERATE}`"


def test_cli_markdown_is_the_page() -> None:
    result = runner.invoke(app, ["schema", "intake", "--format", "markdown"])
    assert result.exit_code == 0
    assert result.stdout == intake_markdown()


def _model_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        out.append(path)
        nested = [
            a
            for a in getattr(info.annotation, "__args__", (info.annotation,))
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        for sub in nested:
            out += _model_paths(sub, path)
    return out


def test_every_model_field_is_documented_with_meaning_and_example() -> None:
    rows = [row for _, _, section in fields() for row in section]
    assert sorted(r.path for r in rows) == sorted(_model_paths(Intake))
    undocumented = [r.path for r in rows if not r.meaning]
    assert not undocumented, f"add a description to these fields in intake.py: {undocumented}"
    no_example = [r.path for r in rows if r.section is None and not r.example]
    assert not no_example, f"add an example to these fields in intake.py: {no_example}"
    sections = [(p, d) for p, d, _ in fields() if p]
    assert all(d for _, d in sections), "every section model needs a docstring"


def test_every_number_has_its_range_and_unit_where_it_has_one() -> None:
    rows = {r.path: r for _, _, section in fields() for r in section}
    assert rows["age"].range == "0-130" and rows["age"].unit == "years"
    assert rows["lifestyle.sleep_hours"].unit == "hours/night"
    assert rows["mood.phq9.items"].range == "each 0-3"
    assert rows["labs.crp.unit"].range == "one of `mg/L`, `mg/dL`"
    numbers = [r for r in rows.values() if r.type.startswith(("number", "whole number"))]
    assert all(r.range for r in numbers)


def test_the_complete_example_is_a_valid_intake_with_every_field() -> None:
    example = complete_example()
    intake = parse_intake(example)
    assert intake.model_dump(mode="json", exclude_none=True) == example


def test_json_schema_agrees_with_the_models() -> None:
    schema = _cli_json("schema", "intake")
    assert schema["$schema"].startswith("https://json-schema.org/")
    validator = jsonschema_rs.validator_for(schema)
    good = [complete_example(), {"age": 48}] + [load_example(n) for n in example_names()]
    for intake in good:
        parse_intake(intake)
        assert validator.is_valid(intake), intake
    bad = [
        {"age": 300},
        {"age": 40, "lifestyle": {"sleep_hourz": 5}},
        {"age": 40, "gi": {"bloating": "yes"}},
        {"age": 40, "mood": {"phq9": {"items": [1, 2, 3]}}},
        {"age": 40, "labs": {"crp": {"value": 4, "unit": "g/L"}}},
        {"sex": "female"},
    ]
    for intake in bad:
        with pytest.raises(IntakeError):
            parse_intake(intake)
        assert not validator.is_valid(intake), intake


def test_evaluation_schema_describes_real_output() -> None:
    schema = _cli_json("schema", "evaluation")
    validator = jsonschema_rs.validator_for(schema)
    for name in ("case1", "crisis"):
        evaluation = _cli_json("evaluate", "--example", name, "--format", "json")
        assert validator.is_valid(evaluation), list(validator.iter_errors(evaluation))
    assert not validator.is_valid({"suggestions": "none"})
