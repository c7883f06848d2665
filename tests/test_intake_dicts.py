"""One validator: the dict validator derived from the Intake models (``INTAKE_DICT``) accepts
exactly what the models accept, and the facts and Evaluation built from its dicts equal those
built from the models. Error messages always come from the models (tests/test_intake.py)."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import gbrules
from gbrules.clinical.engine import cached_engine
from gbrules.clinical.facts import facts_from_intake
from gbrules.clinical.intake import INTAKE_DICT, Intake, _as_typed_dict, _Section
from gbrules.tools.synthetic import synthetic_intakes
from tests.strategies import intakes
from tests.test_hostile_input import intake_shaped, json_values, near_valid


def _typed(facts: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, repr(v)) for k, v in facts.items()]  # repr tells 1 from 1.0 and True


def agree(engine: gbrules.Engine, data: Any) -> bool:
    """Both validators on one input: the same verdict, and the same facts when valid."""
    try:
        model = Intake.model_validate(data)
    except (ValidationError, TypeError):
        with pytest.raises(ValidationError):
            INTAKE_DICT.validate_python(data)
        return False
    checked = INTAKE_DICT.validate_python(data)
    assert type(checked) is dict
    assert _typed(facts_from_intake(checked)) == _typed(facts_from_intake(model))
    assert engine.evaluate(data).model_dump_json() == engine.evaluate(model).model_dump_json()
    return True


@settings(max_examples=300)
@given(intakes())
def test_valid_intakes_are_valid_dicts_with_the_same_result(data: dict[str, Any]) -> None:
    assert agree(cached_engine(), data), data


@settings(max_examples=300)
@given(near_valid())
def test_near_valid_intakes_agree(data: dict[str, Any]) -> None:
    agree(cached_engine(), data)


@settings(max_examples=300)
@given(intake_shaped())
def test_intake_shaped_wild_values_agree(data: dict[str, Any]) -> None:
    agree(cached_engine(), data)


@settings(max_examples=100)
@given(json_values)
def test_arbitrary_json_agrees(data: Any) -> None:
    if isinstance(data, dict):
        agree(cached_engine(), data)


def test_the_synthetic_population_is_valid_as_dicts(engine: gbrules.Engine) -> None:
    assert all(agree(engine, x) for x in synthetic_intakes(500, 99))


class Sub(str):
    pass


class SubInt(int):
    pass


SUSPECT: list[dict[Any, Any]] = [
    {"age": True},
    {"age": 40.0},
    {"age": SubInt(40)},
    {"age": 131},
    {"age": -1},
    {"age": None},
    {},
    {"age": 40, "sex": Sub("male")},
    {"age": 40, "sex": "Male"},
    {"age": 40, "patient_id": "\ud800"},
    {"age": 40, "patient_id": ""},
    {"age": 40, "patient_id": "x" * 129},
    {"age": 40, "patient_id": "\u202e\U0001f4a9\x00"},
    {"age": 40, "lifestyle": {"sleep_hours": math.nan}},
    {"age": 40, "lifestyle": {"sleep_hours": math.inf}},
    {"age": 40, "lifestyle": {"sleep_hours": 25}},
    {"age": 40, "lifestyle": {"sleep_hours": True}},
    {"age": 40, "lifestyle": {"sleep_hours": "7"}},
    {"age": 40, "lifestyle": {"sleep_hours": 7, "caffeine_mg_per_day": 0}},
    {"age": 40, "lifestyle": {"sleep_hours": -0.0}},
    {"age": 40, "lifestyle": {"sleep_hour": 7}},
    {"age": 40, "gi": {"bloating": 1}},
    {"age": 40, "gi": []},
    {"age": 40, "gi": None, "mood": {"phq9": None, "gad7": {"total": 3}}},
    {"age": 40, "gi": OrderedDict(bloating=True)},
    {"age": 40, "mood": {"phq9": {"items": (1, 1, 1, 1, 1, 1, 1, 1, 1)}}},
    {"age": 40, "mood": {"phq9": {"items": [1, 1, 1, 1, 1, 1, 1, 1, True]}}},
    {"age": 40, "mood": {"phq9": {"items": [1] * 8}}},
    {"age": 40, "mood": {"phq9": {"items": [1] * 9, "total": 10}}},
    {"age": 40, "mood": {"phq9": {"items": [1] * 9, "item9": 2}}},
    {"age": 40, "mood": {"phq9": {"total": 2, "item9": 3}}},
    {"age": 40, "mood": {"phq9": {"total": 12}}},
    {"age": 40, "mood": {"phq9": {}}},
    {"age": 40, "mood": {"gad7": {"items": [1] * 7, "total": 8}}},
    {"age": 40, "mood": {"hamd17": {}}},
    {"age": 40, "mood": {"hamd17": {"total": None}}},
    {"age": 40, "labs": {"crp": {"value": 101, "unit": "mg/dL"}}},
    {"age": 40, "labs": {"crp": {"value": 10, "unit": "mg/dL"}}},
    {"age": 40, "labs": {"crp": {"value": 5}}},
    {"age": 40, "labs": {"crp": {"value": 5, "unit": "mg/l"}}},
    {"age": 40, "sex": "male", "pregnant": True},
    {"age": 40, 1: 2},
    {"age": 40, None: 1},
]


@pytest.mark.parametrize("data", SUSPECT, ids=range(len(SUSPECT)))
def test_suspect_input_gets_one_verdict(engine: gbrules.Engine, data: dict[Any, Any]) -> None:
    agree(engine, data)


def test_a_model_rule_the_dict_cannot_carry_stops_the_import() -> None:
    class Checked(_Section):
        x: int | None = None

        @field_validator("x")
        @classmethod
        def _even(cls, v: int | None) -> int | None:
            return v

    class Lax(BaseModel):
        model_config = ConfigDict(extra="ignore")
        x: int | None = None

    class Aliased(_Section):
        x: int | None = Field(default=None, alias="X")

    for model in (Checked, Lax, Aliased):
        with pytest.raises(TypeError):
            _as_typed_dict(model)  # type: ignore[arg-type]
