"""The fast pre-check agrees with pydantic: it accepts only what pydantic accepts, and the
facts and Evaluation built from a pre-checked dict equal those built from the model."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import gbrules
from gbrules.clinical.facts import facts_from_intake
from gbrules.clinical.intake import Intake
from gbrules.clinical.precheck import INTAKE, compile_check, precheck
from gbrules.core.engine import cached_engine
from gbrules.tools.synthetic import synthetic_intakes
from tests.strategies import intakes
from tests.test_hostile_input import intake_shaped, json_values, near_valid


def _typed(facts: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, repr(v)) for k, v in facts.items()]  # repr tells 1 from 1.0 and True


def agree(engine: gbrules.Engine, data: Any) -> bool:
    """Check one input; True when the fast path took it."""
    fast = precheck(data)
    try:
        model = Intake.model_validate(data)
    except (ValidationError, TypeError):
        assert fast is None, f"pre-check accepted what pydantic rejects: {data!r}"
        return False
    if fast is None:
        return False
    assert fast is data
    assert _typed(facts_from_intake(fast)) == _typed(facts_from_intake(model))
    assert engine.evaluate(data).model_dump_json() == engine.evaluate(model).model_dump_json()
    return True


def test_the_intake_model_is_compiled() -> None:
    assert INTAKE is not None
    assert INTAKE({"age": 40}) is True
    assert INTAKE({"age": 40, "gi": {"bloating": 1}}) is False


def dated(data: dict[str, Any]) -> bool:
    """Whether a measurement carries its day: those always go to pydantic (a date is a field
    the pre-check does not mirror), with the same result."""
    return any(
        "date" in ((data.get(section) or {}).get(key) or {})
        for section, key in (
            ("mood", "phq9"),
            ("mood", "gad7"),
            ("labs", "crp"),
            ("labs", "fecal_calprotectin"),
        )
    )


@settings(max_examples=300)
@given(intakes())
def test_valid_intakes_take_the_fast_path_with_the_same_result(data: dict[str, Any]) -> None:
    assert agree(cached_engine(), data) or dated(data), data


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
    agree(cached_engine(), data)


def test_synthetic_population_takes_the_fast_path(engine: gbrules.Engine) -> None:
    xs = list(synthetic_intakes(500, 99))
    taken = sum(agree(engine, x) for x in xs)
    assert taken == sum(not dated(x) for x in xs) > 300


class Sub(str):
    pass


class SubInt(int):
    pass


BASE: dict[str, Any] = {"age": 40}
SUSPECT = [
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
    {"age": 40, "lifestyle": {"sleep_hours": math.nan}},
    {"age": 40, "lifestyle": {"sleep_hours": math.inf}},
    {"age": 40, "lifestyle": {"sleep_hours": 25}},
    {"age": 40, "lifestyle": {"sleep_hours": True}},
    {"age": 40, "lifestyle": {"sleep_hours": "7"}},
    {"age": 40, "lifestyle": {"sleep_hour": 7}},
    {"age": 40, "gi": {"bloating": 1}},
    {"age": 40, "gi": []},
    {"age": 40, "gi": OrderedDict(bloating=True)},
    {"age": 40, "mood": {"phq9": {"items": (1, 1, 1, 1, 1, 1, 1, 1, 1)}}},
    {"age": 40, "mood": {"phq9": {"items": [1, 1, 1, 1, 1, 1, 1, 1, True]}}},
    {"age": 40, "mood": {"phq9": {"items": [1] * 8}}},
    {"age": 40, "mood": {"phq9": {"items": [1] * 9, "total": 10}}},
    {"age": 40, "mood": {"phq9": {"items": [1] * 9, "item9": 2}}},
    {"age": 40, "mood": {"phq9": {"total": 2, "item9": 3}}},
    {"age": 40, "mood": {"phq9": {}}},
    {"age": 40, "mood": {"gad7": {"items": [1] * 7, "total": 8}}},
    {"age": 40, "mood": {"hamd17": {}}},
    {"age": 40, "mood": {"hamd17": {"total": None}}},
    {"age": 40, "labs": {"crp": {"value": 101, "unit": "mg/dL"}}},
    {"age": 40, "labs": {"crp": {"value": 5}}},
    {"age": 40, "labs": {"crp": {"value": 5, "unit": "mg/l"}}},
    {"age": 40, "sex": "male", "pregnant": True},
    {"age": 40, 1: 2},
    {"age": 40, None: 1},
]


@pytest.mark.parametrize("data", SUSPECT, ids=range(len(SUSPECT)))
def test_suspect_input_goes_to_pydantic(data: dict[str, Any]) -> None:
    assert precheck(data) is None


def test_odd_but_valid_input_agrees(engine: gbrules.Engine) -> None:
    for data in (
        {"age": 40, "lifestyle": {"sleep_hours": 7, "caffeine_mg_per_day": 0}},
        {"age": 40, "lifestyle": {"sleep_hours": -0.0}},
        {"age": 40, "labs": {"crp": {"value": 10, "unit": "mg/dL"}}},
        {"age": 40, "patient_id": "\u202e\U0001f4a9\x00"},
        {"age": 40, "gi": None, "mood": {"phq9": None, "gad7": {"total": 3}}},
        {"age": 40, "mood": {"phq9": {"total": 12}}},
    ):
        assert agree(engine, data), data


def test_a_model_with_a_validator_but_no_problem_is_not_prechecked() -> None:
    class Opaque(BaseModel):
        model_config = ConfigDict(extra="forbid")
        x: int | None = None

        @model_validator(mode="after")
        def _rule(self) -> Opaque:
            return self

    assert compile_check(Opaque) is None


def test_unknown_constraints_and_lax_extra_are_not_prechecked() -> None:
    class Patterned(BaseModel):
        model_config = ConfigDict(extra="forbid")
        code: str = Field(pattern="^[A-Z]+$")

    class Lax(BaseModel):
        x: int | None = None

    # A field it cannot mirror never takes the fast path (the rest of a model still could).
    patterned = compile_check(Patterned)
    assert patterned is None or not patterned.check({"code": "AB"})
    assert compile_check(Lax) is None


def test_a_measurement_date_goes_to_pydantic_and_the_rest_stays_fast() -> None:
    crp = {"value": 4.0, "unit": "mg/L"}
    assert precheck({"age": 40, "labs": {"crp": crp}}) is not None
    assert precheck({"age": 40, "labs": {"crp": {**crp, "date": "2025-01-31"}}}) is None
