"""Vocabularies are parameters of the rule core: fact and code vocabularies of any domain."""

from __future__ import annotations

import math

import pytest

import gbrules
from gbrules.core import engine as core_engine
from gbrules.core.domain import Domain
from gbrules.core.errors import IntakeError, RulebookError
from gbrules.core.rulebook import rulebook_from_rules
from gbrules.core.vocabulary import CodeSpec, CodeVocabulary, FactSpec, Vocabulary

SHORT = Vocabulary({"age": "number", "smoker": "bool", "stage": ["I", "II", "III"], "n": "int"})


def rule(when: str, code: str = "x.y", **extra: object) -> dict[str, object]:
    return {"id": "r1", "when": when, "then": {"code": code}, **extra}


def problems(rules: list[dict[str, object]], domain: Domain) -> str:
    with pytest.raises(RulebookError) as info:
        rulebook_from_rules(rules, domain)
    return "\n".join(info.value.problems)


def test_the_short_form_declares_types_and_enum_values() -> None:
    assert [(s.name, s.type) for s in SHORT.values()] == [
        ("age", "number"),
        ("smoker", "bool"),
        ("stage", "enum"),
        ("n", "int"),
    ]
    assert SHORT["stage"].values == ("I", "II", "III")
    assert SHORT["age"].label == "age"


def test_a_bad_declaration_names_every_problem() -> None:
    with pytest.raises(ValueError) as info:
        Vocabulary({"Age": "number", "x": "float", "e": "enum", "id": "int", "y": []})
    text = str(info.value)
    for name in ("'Age'", "'x'", "'e'", "'id'", "'y'"):
        assert name in text


def test_read_names_every_bad_fact_and_keeps_missing_missing() -> None:
    with pytest.raises(IntakeError) as info:
        SHORT.read({"age": "61", "smoker": 1, "stage": "IV", "n": 2.5, "agee": 3})
    assert {e.path for e in info.value.errors} == {"age", "smoker", "stage", "n", "agee"}
    assert SHORT.read({"age": 61, "smoker": None}) == {"age": 61.0}
    facts = SHORT.read({"age": -0.0, "n": 3.0, "stage": "II"})
    assert repr(facts["age"]) == "0.0" and facts["n"] == 3 and type(facts["n"]) is int
    assert SHORT.read({"age": 1 / 3})["age"] == 0.3333  # no exponent ever reaches the engine


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_read_refuses_non_finite_numbers(value: float) -> None:
    with pytest.raises(IntakeError):
        SHORT.read({"age": value})


def test_ranges_are_checked_on_read() -> None:
    vocab = Vocabulary([FactSpec("score", "int", lo=0, hi=10)])
    with pytest.raises(IntakeError, match="outside 0-10"):
        vocab.read({"score": 11})
    assert vocab.read({"score": 11}, ranges=False) == {"score": 11}


def test_without_a_code_vocabulary_any_dotted_code_is_accepted() -> None:
    domain = Domain.of(SHORT)
    book = rulebook_from_rules([rule("age > 1", "anything.at_all")], domain)
    assert book.rules[0].code == "anything.at_all" and book.rules[0].priority == "routine"
    assert "not category.name" in problems([rule("age > 1", "nodot")], domain)


def test_a_code_vocabulary_closes_the_codes_and_protects_some() -> None:
    codes = CodeVocabulary.of(
        [CodeSpec("alert.fire", "critical", "Evacuate"), CodeSpec("note.log", "routine", "Log")],
        protected=["alert.*"],
    )
    domain = Domain.of(SHORT, codes)
    assert "unknown suggestion code 'x.y'" in problems([rule("age > 1")], domain)
    demoted = rule("age > 1", "alert.fire")
    demoted["then"] = {"code": "alert.fire", "priority": "routine"}
    assert "cannot be emitted below 'critical'" in problems([demoted], domain)
    silencer = rule("age > 1", "note.log", overrides=[{"suppress": ["alert.*"], "reason": "x"}])
    assert "protected safety code (alert.*)" in problems([silencer], domain)
    ok = rule("age > 1", "note.log", overrides=[{"suppress": ["note.*"], "reason": "x"}])
    assert rulebook_from_rules([ok], domain).rules[0].overrides[0].patterns == ("note.*",)


def test_protected_codes_stay_in_the_plan_of_any_domain() -> None:
    codes = CodeVocabulary.of(
        [CodeSpec("alert.fire", "critical", "Evacuate"), CodeSpec("note.log", "routine", "Log")],
        protected=["alert.*"],
    )
    engine = gbrules.Engine.from_rules(
        [
            {"id": "a", "when": "smoker == true", "then": {"code": "alert.fire"}},
            {
                "id": "b",
                "when": "age >= 0",
                "then": {"code": "note.log"},
                "overrides": [{"defer": ["note.*"], "reason": "alarm first"}],
            },
        ],
        vocabulary=SHORT,
        codes=codes,
    )
    ev = engine.evaluate({"age": 3, "smoker": True})
    assert [s.code for s in ev.suggestions] == ["alert.fire"]
    assert ev.requires_immediate_action
    assert [(s.code, s.by_rule) for s in ev.suppressed] == [("note.log", "b")]
    engine.close()


def test_a_generic_rule_needs_only_id_when_and_code_but_a_clinical_one_needs_more() -> None:
    generic = rulebook_from_rules([rule("age > 1")], Domain.of(SHORT)).rules[0]
    assert generic.title == "r1" and generic.evidence == ()
    from gbrules.clinical.domain import CLINICAL

    text = problems([{"id": "x.y", "when": "age > 1", "then": {"code": "diet.fiber"}}], CLINICAL)
    assert "title" in text and "evidence" in text and "rationale" in text


def test_the_core_engine_has_no_domain_of_its_own(tmp_path: object) -> None:
    with pytest.raises(TypeError, match="no default domain"):
        core_engine.Engine.default()
    engine = core_engine.Engine.from_rules([rule("age > 1")], vocabulary=SHORT)
    assert [r.id for r in engine.fire({"age": 2})] == ["r1"]
    engine.close()


def test_fire_checks_the_facts_it_is_given() -> None:
    engine = gbrules.Engine.from_rules([rule("age > 1")], vocabulary=SHORT)
    with pytest.raises(IntakeError) as info:
        engine.fire({"age": "old", "colour": "red"})
    assert {e.path for e in info.value.errors} == {"age", "colour"}
    engine.close()
