"""The public Python API (README.md, `gbrules/__init__.py`) exists with its meaning."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

import gbrules
from gbrules.clinical.codes import CATEGORIES
from gbrules.clinical.domain import default_rules_dir
from gbrules.clinical.engine import cached_engine
from gbrules.core.vocabulary import PRIORITY_RANK

from .conftest import load_example
from .strategies import intakes


def test_contract_names_exist() -> None:
    for name in (
        "evaluate",
        "Engine",
        "IntakeError",
        "render_care_plan",
        "Intake",
        "Evaluation",
        "Suggestion",
        "Suppression",
    ):
        assert hasattr(gbrules, name), name
    assert issubclass(gbrules.IntakeError, ValueError)


def test_evaluation_fields_case2() -> None:
    ev = gbrules.evaluate(load_example("case2"))
    assert isinstance(ev.codes, frozenset)
    assert ev.codes == {s.code for s in ev.suggestions}
    assert ev.fired_rules and all(isinstance(r, str) for r in ev.fired_rules)
    assert ev.requires_immediate_action is False
    assert ev.facts["crp_mg_l"] == 4.2
    assert ev.rulebook_version.startswith("1.1.0+")
    for s in ev.suggestions:
        assert s.category == s.code.split(".")[0] and s.category in CATEGORIES
        assert s.rule_id in ev.fired_rules
        assert s.evidence
        assert s.rationale
        for fact, value in s.triggered_by.items():
            assert ev.facts[fact] == value
    dumped = json.loads(ev.model_dump_json())
    assert dumped["requires_immediate_action"] is False
    assert dumped["codes"] == sorted(ev.codes)


def test_rationale_names_values_and_thresholds() -> None:
    ev = gbrules.evaluate({"age": 40, "mood": {"phq9": {"total": 16, "item9": 0}}})
    s = ev.suggestion("referral.mental_health")
    assert s is not None
    assert "PHQ-9 total 16 (moderately severe; >= 10)" in s.rationale


def test_engine_from_directory_and_evaluate_many() -> None:
    engine = gbrules.Engine.from_directory(default_rules_dir())
    data = [load_example(n) for n in ("case1", "case2", "crisis")]
    many = list(engine.evaluate_many(iter(data)))
    assert [e.model_dump_json() for e in many] == [
        engine.evaluate(d).model_dump_json() for d in data
    ]
    engine.close()


def test_evaluate_accepts_a_model() -> None:
    data = load_example("case1")
    assert gbrules.evaluate(gbrules.Intake.model_validate(data)) == gbrules.evaluate(data)


def test_evaluate_with_site_pack(tmp_path: object) -> None:
    from pathlib import Path

    d = Path(str(tmp_path))
    (d / "site.yaml").write_text(
        "rules:\n"
        "  - id: site.no_diet\n"
        "    title: Site does diet work elsewhere\n"
        '    when: "age >= 0"\n'
        "    then: {code: education.adjunct_not_cure, rationale: site}\n"
        "    evidence: [site policy]\n"
        "    overrides:\n"
        '      - suppress: ["diet.*"]\n'
        "        reason: handled by the site's nutrition service\n"
    )
    ev = gbrules.evaluate(load_example("case1"), rules=d)
    assert not any(c.startswith("diet.") for c in ev.codes)
    assert {s.code for s in ev.suppressed} >= {"diet.fiber", "diet.reduce_caffeine"}
    assert "site.no_diet" in ev.fired_rules


def test_invalid_intake_raises_intake_error_not_a_plan() -> None:
    with pytest.raises(gbrules.IntakeError) as info:
        gbrules.evaluate({"age": 40, "mood": {"phq9": {"total": 99}}})
    assert [e.path for e in info.value.errors] == ["mood.phq9.total"]


@given(intakes())
def test_order_is_priority_then_rulebook_order(data: dict[str, object]) -> None:
    ev = gbrules.evaluate(data)
    engine = cached_engine()
    keys = [
        (PRIORITY_RANK[s.priority], engine.rulebook.rule(s.rule_id).order) for s in ev.suggestions
    ]
    assert keys == sorted(keys)
    assert ev.requires_immediate_action == any(s.priority == "critical" for s in ev.suggestions)
    assert len(ev.codes) == len(ev.suggestions)


def test_fast_model_building_matches_pydantic_on_this_version() -> None:
    # If this fails after a pydantic upgrade, gbrules already uses model_construct instead;
    # the test says the fast path is off, so the speed figures no longer hold.
    from gbrules.core.result import _trusted_matches_pydantic

    assert _trusted_matches_pydantic()
