"""Suggestions and suppressions are memoised and shared between evaluations, so they must be
immutable all the way down, and still behave as the lists and dicts the public API promises."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest

import gbrules
from gbrules.core.result import Evaluation, FrozenDict, FrozenList, Suggestion

from .conftest import load_example


def _mutations_of_a_list() -> list[Any]:
    return [
        lambda x: x.append("e"),
        lambda x: x.extend(["e"]),
        lambda x: x.insert(0, "e"),
        lambda x: x.remove(x[0]),
        lambda x: x.pop(),
        lambda x: x.clear(),
        lambda x: x.sort(),
        lambda x: x.reverse(),
        lambda x: x.__setitem__(0, "e"),
        lambda x: x.__delitem__(0),
        lambda x: x.__iadd__(["e"]),
        lambda x: x.__imul__(2),
    ]


def _mutations_of_a_dict() -> list[Any]:
    return [
        lambda x: x.__setitem__("k", 1),
        lambda x: x.__delitem__(next(iter(x))),
        lambda x: x.clear(),
        lambda x: x.pop(next(iter(x))),
        lambda x: x.popitem(),
        lambda x: x.setdefault("k", 1),
        lambda x: x.update(k=1),
        lambda x: x.__ior__({"k": 1}),
    ]


@pytest.fixture(scope="module")
def case2() -> Evaluation:
    return gbrules.evaluate(load_example("case2"))


def test_suggestion_contents_cannot_be_changed(case2: Evaluation) -> None:
    s = case2.suggestions[0]
    assert isinstance(s.evidence, list) and isinstance(s.triggered_by, dict)
    before = s.model_dump_json()
    for mutate in _mutations_of_a_list():
        with pytest.raises(TypeError, match="read-only"):
            mutate(s.evidence)
    for mutate in _mutations_of_a_dict():
        with pytest.raises(TypeError, match="read-only"):
            mutate(s.triggered_by)
    assert s.model_dump_json() == before


def test_each_evaluation_owns_its_lists(case2: Evaluation) -> None:
    again = gbrules.evaluate(load_example("case2"))
    assert again.suggestions[0] is case2.suggestions[0]  # shared, because immutable
    again.suggestions.clear()
    again.fired_rules.append("x")
    again.not_recorded.clear()
    assert case2.suggestions and "x" not in case2.fired_rules
    third = gbrules.evaluate(load_example("case2"))
    assert third.model_dump_json() == case2.model_dump_json()


def test_copies_to_change_are_plain_and_mutable(case2: Evaluation) -> None:
    s = case2.suggestions[0]
    ev, tb = list(s.evidence), dict(s.triggered_by)
    ev.append("x")
    tb["x"] = 1
    assert type(s.triggered_by.copy()) is dict
    dumped = s.model_dump()
    assert type(dumped["evidence"]) is list and type(dumped["triggered_by"]) is dict
    dumped["evidence"].append("x")  # model_dump hands out new containers


def test_copy_pickle_json_and_equality(case2: Evaluation) -> None:
    for obj in (case2, case2.suggestions[0]):
        assert copy.deepcopy(obj) == obj
        assert copy.copy(obj) == obj
        assert pickle.loads(pickle.dumps(obj)) == obj
    s = case2.suggestions[0]
    assert json.loads(json.dumps(s.evidence)) == list(s.evidence)
    assert json.loads(json.dumps(s.triggered_by)) == dict(s.triggered_by)
    back = Evaluation.model_validate_json(case2.model_dump_json())
    assert back == case2 and case2 == back
    changed = s.model_copy(update={"title": "other"})
    assert changed.title == "other" and s.title != "other"
    assert Suggestion.model_validate(s.model_dump()) == s


def test_frozen_types_compare_like_their_bases() -> None:
    assert FrozenList(["a", "b"]) == ["a", "b"]
    assert FrozenDict({"a": 1}) == {"a": 1}
    assert pickle.loads(pickle.dumps(FrozenList(["a"]))) == ["a"]
    assert type(pickle.loads(pickle.dumps(FrozenDict({"a": 1})))) is FrozenDict
