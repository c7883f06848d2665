"""The safety invariants (docs/RULES.md, "Safety invariants"), one property test each (S1..S20).

Every intake comes from ``tests/strategies.py`` (any section or field may be absent). The
invariants are stated here from the *intake*, independently of the rulebook's own derived facts
where that is possible, so a rule edit that breaks one is caught even if the facts agree with it.

Precedence (docs/RULEBOOK.md): S1, S2, S3 and S15 hold at every age. Otherwise, where the
premises of two invariants hold at once the higher one decides and the lower one does not
apply: S10 (out of scope) > S12, S13 (acuity, onset at 50+) > S4, S17 (probiotic cautions,
eating disorder) > S19 (severe IBS: low-FODMAP). S11-S14 and S16-S19 apply from the declared
minimum age up, as does S4. Under 18, S5's and S18's ``referral.mental_health`` is satisfied by
``referral.paediatric`` at the same priority.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import assume, given, settings

import gbrules
from gbrules.clinical.engine import cached_engine
from gbrules.core.language import Recorded, leaves
from gbrules.core.result import Evaluation

from .strategies import intakes, severe_chronic_ibs, women_50_with_recent_bloating
from .wording import proposes_antidepressant

ALARM_GI = (
    "rectal_bleeding",
    "unintentional_weight_loss",
    "persistent_vomiting",
    "dysphagia",
    "nocturnal_symptoms",
)
SECTIONS = ("gi", "mood", "labs", "conditions", "medications", "lifestyle")


def run(intake: dict[str, Any]) -> Evaluation:
    return cached_engine().evaluate(intake)


def _get(intake: dict[str, Any], section: str, key: str) -> Any:
    return (intake.get(section) or {}).get(key)


def phq9_total(intake: dict[str, Any]) -> int | None:
    phq = _get(intake, "mood", "phq9")
    if phq is None:
        return None
    return sum(phq["items"]) if "items" in phq else int(phq["total"])


def phq9_item9(intake: dict[str, Any]) -> int | None:
    phq = _get(intake, "mood", "phq9")
    if phq is None:
        return None
    return phq["items"][8] if "items" in phq else phq.get("item9")


def gi_symptoms_present(intake: dict[str, Any]) -> bool:
    gi = intake.get("gi") or {}
    return bool(
        gi.get("bloating")
        or gi.get("irregular_bowel")
        or gi.get("change_in_bowel_habit")
        or gi.get("diarrhea")
        or (gi.get("abdominal_pain_score") or 0) >= 1
    )


def gi_symptoms_absent(intake: dict[str, Any]) -> bool:
    """Every GI symptom recorded, and none present."""
    gi = intake.get("gi") or {}
    flags = ("bloating", "irregular_bowel", "change_in_bowel_habit", "diarrhea")
    return all(gi.get(k) is False for k in flags) and gi.get("abdominal_pain_score") == 0


def min_age() -> int:
    declared = cached_engine().rulebook.min_age
    assert declared is not None, "rules/rulebook.yaml declares population.min_age"
    return declared


def crisis_premise(intake: dict[str, Any]) -> bool:
    item9 = phq9_item9(intake)
    return (item9 is not None and item9 >= 1) or _get(intake, "mood", "suicidal_ideation") is True


def crp_mg_l(intake: dict[str, Any]) -> float | None:
    crp = _get(intake, "labs", "crp")
    if crp is None:
        return None
    return float(crp["value"]) * (10.0 if crp["unit"] == "mg/dL" else 1.0)


def s12_trigger(intake: dict[str, Any]) -> bool:
    """CRP > 10 mg/L, faecal calprotectin > 200 ug/g, or fever (S12's list)."""
    crp = crp_mg_l(intake)
    calpro = _get(intake, "labs", "fecal_calprotectin")
    return (
        (crp is not None and crp > 10)
        or (calpro is not None and calpro["value"] > 200)
        or _get(intake, "gi", "fever") is True
    )


def s12_premise(intake: dict[str, Any]) -> bool:
    return gi_symptoms_present(intake) and s12_trigger(intake)


def began_at_50(intake: dict[str, Any]) -> bool:
    """Onset at 50+ (docs/FACTS.md): onset_age >= 50, or without it age - symptom_weeks / 52 >= 50
    (compared in whole numbers: 52 * age - weeks >= 2600)."""
    gi = intake.get("gi") or {}
    if gi.get("onset_age") is not None:
        return bool(gi["onset_age"] >= 50)
    weeks = gi.get("symptom_weeks")
    return weeks is not None and 52 * intake["age"] - weeks >= 2600


def s13_premise(intake: dict[str, Any]) -> bool:
    return gi_symptoms_present(intake) and began_at_50(intake)


SERIOUS_CAUTIONS = (
    "immunocompromised",
    "central_venous_catheter",
    "critically_ill",
    "prosthetic_heart_valve",
    "short_bowel_syndrome",
    "acute_pancreatitis",
)


def serious_caution(intake: dict[str, Any]) -> bool:
    cond = intake.get("conditions") or {}
    return any(cond.get(k) is True for k in SERIOUS_CAUTIONS)


def any_caution(intake: dict[str, Any]) -> bool:
    """The S4 list plus S15's: every probiotic caution, pregnancy included."""
    return serious_caution(intake) or intake.get("pregnant") is True


def in_scope(intake: dict[str, Any]) -> bool:
    return bool(intake["age"] >= min_age())


def mental_health_or_paediatric(ev: Evaluation, age: int) -> Any:
    """The referral S5 and S18 ask for: referral.mental_health, or under 18 referral.paediatric."""
    s = ev.suggestion("referral.mental_health")
    if s is None and age < 18:
        s = ev.suggestion("referral.paediatric")
    return s


def any_gi_alarm(intake: dict[str, Any]) -> bool:
    """The alarm features invariant S3 lists, read straight from the intake."""
    gi = intake.get("gi") or {}
    if any(gi.get(k) is True for k in ALARM_GI):
        return True
    if _get(intake, "labs", "iron_deficiency_anemia") is True:
        return True
    if gi.get("change_in_bowel_habit") is True and intake["age"] >= 50:
        return True
    return _get(
        intake, "conditions", "family_history_colorectal_cancer"
    ) is True and gi_symptoms_present(intake)


def proposed(ev: Evaluation, code: str) -> bool:
    rb = cached_engine().rulebook
    return any(rb.rule(r).code == code for r in ev.fired_rules)


@given(intakes())
def test_S1_crisis_is_first_critical_and_immediate(intake: dict[str, Any]) -> None:
    ev = run(intake)
    if "safety.crisis" in ev.codes:
        assert ev.suggestions[0].code == "safety.crisis"
        assert ev.suggestions[0].priority == "critical"
        assert ev.requires_immediate_action
    item9 = phq9_item9(intake)
    if (item9 is not None and item9 >= 1) or _get(intake, "mood", "suicidal_ideation") is True:
        assert "safety.crisis" in ev.codes


@given(intakes())
def test_S2_crisis_defers_diet_probiotic_exercise(intake: dict[str, Any]) -> None:
    ev = run(intake)
    if "safety.crisis" not in ev.codes:
        return
    active = [c for c in ev.codes if c.split(".")[0] in ("diet", "probiotic", "exercise")]
    assert not active, active
    held = {s.code for s in ev.suppressed}
    for rule_id in ev.fired_rules:
        code = cached_engine().rulebook.rule(rule_id).code
        if code.split(".")[0] in ("diet", "probiotic", "exercise"):
            assert code in held, f"{code} proposed by {rule_id} but not shown as deferred"


@given(intakes())
def test_S3_gi_alarm_means_urgent_gi_and_no_trials(intake: dict[str, Any]) -> None:
    ev = run(intake)
    if any_gi_alarm(intake):
        assert "referral.urgent_gi" in ev.codes
        assert "diet.low_fodmap_trial" not in ev.codes
        assert "probiotic.trial" not in ev.codes
        for code in ("diet.low_fodmap_trial", "probiotic.trial"):
            if proposed(ev, code):
                assert ev.suppression(code) is not None


@given(intakes())
def test_S4_probiotic_cautions_mean_consult_first(intake: dict[str, Any]) -> None:
    ev = run(intake)
    cond = intake.get("conditions") or {}
    caution = intake.get("pregnant") is True or any(
        cond.get(k) is True
        for k in ("immunocompromised", "central_venous_catheter", "critically_ill")
    )
    # S4 applies from the minimum age up, and S12 and S13 outrank it.
    if not caution or not in_scope(intake) or s12_premise(intake) or s13_premise(intake):
        return
    assert "probiotic.trial" not in ev.codes
    probiotic_in_view = (
        cond.get("ibs") is True
        or gi_symptoms_present(intake)
        or _get(intake, "medications", "probiotic") is True
    )
    if probiotic_in_view and "safety.crisis" not in ev.codes:
        assert "probiotic.consult_first" in ev.codes


@given(intakes())
def test_S5_severe_depression_means_urgent_mental_health(intake: dict[str, Any]) -> None:
    ev = run(intake)
    phq = phq9_total(intake)
    hamd = (_get(intake, "mood", "hamd17") or {}).get("total")
    if (phq is not None and phq >= 20) or (hamd is not None and hamd >= 24):
        s = mental_health_or_paediatric(ev, intake["age"])
        assert s is not None
        assert s.priority == "urgent"


@given(intakes())
def test_S6_probiotic_trial_with_depression_keeps_care(intake: dict[str, Any]) -> None:
    ev = run(intake)
    phq = phq9_total(intake)
    if "probiotic.trial" in ev.codes and phq is not None and phq >= 10:
        assert ev.codes & {"referral.mental_health", "medication.review"}
        assert "education.adjunct_not_cure" in ev.codes
    if "probiotic.trial" in ev.codes:
        assert "education.adjunct_not_cure" in ev.codes


@given(intakes())
def test_S7_low_fodmap_only_after_negative_celiac_serology(intake: dict[str, Any]) -> None:
    ev = run(intake)
    serology = _get(intake, "labs", "celiac_serology")
    if "diet.low_fodmap_trial" in ev.codes:
        assert serology == "negative"
    indicated = (_get(intake, "conditions", "ibs") is True or gi_symptoms_present(intake)) and _get(
        intake, "conditions", "celiac_disease"
    ) is not True
    if indicated and serology in (None, "not_done"):
        assert "lab.celiac_serology" in ev.codes
        assert "diet.low_fodmap_trial" not in ev.codes


def _mentions_recorded(rule_id: str) -> bool:
    rule = cached_engine().rulebook.rule(rule_id)
    return any(isinstance(leaf, Recorded) for leaf in leaves(rule.condition))


def _without(intake: dict[str, Any], section: str, key: str | None) -> dict[str, Any]:
    out = copy.deepcopy(intake)
    if key is None:
        out.pop(section, None)
    else:
        out[section].pop(key, None)
    return out


@given(intakes())
@settings(max_examples=100)
def test_S8_unrecorded_is_never_false_or_zero(intake: dict[str, Any]) -> None:
    ev = run(intake)
    rb = cached_engine().rulebook
    # (a) every fact a suggestion says it relied on was really recorded (or derived from it).
    for s in ev.suggestions:
        for fact, value in s.triggered_by.items():
            assert ev.facts.get(fact) == value, (s.rule_id, fact)
        # ...and every comparison leaf of its basis names a fact that is present.
        rule = rb.rule(s.rule_id)
        for leaf in leaves(rule.condition):
            if not isinstance(leaf, Recorded) and leaf.fact in s.triggered_by:
                assert leaf.fact in ev.facts
    # (b) forgetting something recorded never adds a rule, unless the rule is about
    # missing data ("x is missing" / "x is recorded").
    before = set(ev.fired_rules)
    variants = [_without(intake, sec, None) for sec in SECTIONS if sec in intake]
    for sec in SECTIONS:
        for key in intake.get(sec) or {}:
            variants.append(_without(intake, sec, key))
    for k in ("pregnant", "sex", "breastfeeding", "weight_kg"):
        if k in intake:
            variants.append({a: b for a, b in intake.items() if a != k})
    for variant in variants:
        added = set(run(variant).fired_rules) - before
        bad = [r for r in added if not _mentions_recorded(r) and not _fallback(intake, variant, r)]
        assert not bad, f"dropping data added {bad}"


def _fallback(intake: dict[str, Any], variant: dict[str, Any], rule_id: str) -> bool:
    """Without a recorded onset age, the contract dates the onset from the recorded symptom
    weeks instead (docs/FACTS.md): a rule on that date may then fire from recorded data."""
    dropped_onset = "onset_age" in (intake.get("gi") or {}) and "onset_age" not in (
        variant.get("gi") or {}
    )
    return dropped_onset and "gi_began_at_age" in cached_engine().rulebook.rule(rule_id).facts


@pytest.fixture(scope="module")
def fresh_engine() -> gbrules.Engine:
    return gbrules.Engine.default()


@given(intakes())
def test_S9_same_intake_same_bytes(fresh_engine: gbrules.Engine, intake: dict[str, Any]) -> None:
    first = run(intake).model_dump_json()
    assert run(copy.deepcopy(intake)).model_dump_json() == first
    assert fresh_engine.evaluate(intake).model_dump_json() == first
    assert gbrules.evaluate(intake).model_dump_json() == first


# ---------------------------------------------------------------- v1.1: S10-S20


@given(intakes())
def test_S10_below_the_minimum_age_is_out_of_scope(intake: dict[str, Any]) -> None:
    if in_scope(intake):
        return
    ev = run(intake)
    assert "safety.out_of_scope" in ev.codes
    held = [c for c in ev.codes if c.split(".")[0] in ("diet", "probiotic")]
    assert not held, held
    review = ev.suggestion("medication.review")
    if review is not None:  # only S15's urgent review of a probiotic taken despite a caution
        assert _get(intake, "medications", "probiotic") is True and serious_caution(intake)
        assert review.priority == "urgent"


@given(intakes())
def test_S11_adolescents_get_paediatric_care_and_no_antidepressant_proposal(
    intake: dict[str, Any],
) -> None:
    age = intake["age"]
    if not in_scope(intake) or age >= 18:
        return
    ev = run(intake)
    phq = phq9_total(intake)
    gad = _get(intake, "mood", "gad7")
    gad_total = None if gad is None else (sum(gad["items"]) if "items" in gad else gad["total"])
    if (phq is not None and phq >= 10) or (gad_total is not None and gad_total >= 10):
        assert "referral.paediatric" in ev.codes
    if _get(intake, "medications", "ssri") is not True:
        proposing = [s.rule_id for s in ev.suggestions if proposes_antidepressant(s)]
        assert not proposing, proposing


@given(intakes())
def test_S12_acute_or_inflammatory_findings_hold_the_trials(intake: dict[str, Any]) -> None:
    if not in_scope(intake) or not s12_premise(intake):
        return
    ev = run(intake)
    assert "referral.urgent_gi" in ev.codes
    assert "diet.low_fodmap_trial" not in ev.codes
    assert "probiotic.trial" not in ev.codes


@given(intakes())
def test_S13_symptoms_that_began_at_50_or_over_hold_the_trials(intake: dict[str, Any]) -> None:
    if not in_scope(intake) or not s13_premise(intake):
        return
    ev = run(intake)
    assert "referral.urgent_gi" in ev.codes
    assert "diet.low_fodmap_trial" not in ev.codes
    assert "probiotic.trial" not in ev.codes


@given(intakes() | women_50_with_recent_bloating())
def test_S14_bloating_in_a_woman_of_50_or_over_gets_ca125(intake: dict[str, Any]) -> None:
    weeks = _get(intake, "gi", "symptom_weeks")
    premise = (
        intake.get("sex") == "female"
        and intake["age"] >= 50
        and _get(intake, "gi", "bloating") is True
        and weeks is not None
        and weeks < 52
    )
    if premise:
        assert "lab.ca125" in run(intake).codes


@given(intakes())
def test_S15_a_probiotic_taken_despite_a_caution_is_reviewed_urgently(
    intake: dict[str, Any],
) -> None:
    ev = run(intake)  # every age
    if _get(intake, "medications", "probiotic") is True and serious_caution(intake):
        review = ev.suggestion("medication.review")
        assert review is not None and review.priority == "urgent"
    if any_caution(intake):
        assert "probiotic.trial" not in ev.codes


@given(intakes())
def test_S16_serotonergic_combinations_are_checked(intake: dict[str, Any]) -> None:
    if not in_scope(intake) or _get(intake, "medications", "ssri") is not True:
        return
    ev = run(intake)
    check = ev.suggestion("medication.interaction_check")
    if _get(intake, "medications", "maoi") is True:
        assert check is not None and check.priority == "critical"
        assert ev.requires_immediate_action
    if any(_get(intake, "medications", k) is True for k in ("st_johns_wort", "other_serotonergic")):
        assert check is not None


RESTRICTIVE_DIETS = ("diet.low_fodmap_trial",)


@given(intakes())
def test_S17_an_eating_disorder_holds_restrictive_diets(intake: dict[str, Any]) -> None:
    # S10, S12 and S13 outrank S17.
    if not in_scope(intake) or s12_premise(intake) or s13_premise(intake):
        return
    if _get(intake, "conditions", "eating_disorder") is not True:
        return
    ev = run(intake)
    assert not ev.codes & set(RESTRICTIVE_DIETS)
    if _get(intake, "conditions", "ibs") is True:
        assert "referral.eating_disorder" in ev.codes


@given(intakes())
def test_S18_bipolar_disorder_gets_no_antidepressant_proposal(intake: dict[str, Any]) -> None:
    if not in_scope(intake) or _get(intake, "conditions", "bipolar_disorder") is not True:
        return
    ev = run(intake)
    if _get(intake, "medications", "ssri") is not True:
        proposing = [s.rule_id for s in ev.suggestions if proposes_antidepressant(s)]
        assert not proposing, proposing
    phq = phq9_total(intake)
    if phq is not None and phq >= 10:
        assert mental_health_or_paediatric(ev, intake["age"]) is not None


def s19_premise(intake: dict[str, Any]) -> bool:
    gi = intake.get("gi") or {}
    alarms_absent = (
        all(gi.get(k) is False for k in ALARM_GI)
        and _get(intake, "labs", "iron_deficiency_anemia") is False
        and (intake["age"] < 50 or gi.get("change_in_bowel_habit") is False)
        and (
            _get(intake, "conditions", "family_history_colorectal_cancer") is False
            or gi_symptoms_absent(intake)
        )
    )
    pain = gi.get("abdominal_pain_score")
    sss = gi.get("ibs_sss")
    severe = (sss is not None and sss >= 300) or (pain is not None and pain >= 7)
    return (
        intake["age"] >= 18
        and _get(intake, "conditions", "ibs") is True
        and alarms_absent
        and not s12_trigger(intake)
        and gi.get("abdominal_mass") is not True
        and not began_at_50(intake)
        and not crisis_premise(intake)
        and _get(intake, "conditions", "eating_disorder") is not True
        and _get(intake, "labs", "celiac_serology") == "negative"
        and _get(intake, "lifestyle", "gluten_free_diet") is not True
        and gi.get("symptom_onset") != "sudden"
        and severe
    )


def _check_s19(intake: dict[str, Any]) -> None:
    ev = run(intake)
    assert "diet.low_fodmap_trial" in ev.codes, [s.by_rule for s in ev.suppressed]
    assert "referral.urgent_gi" not in ev.codes, ev.suggestion("referral.urgent_gi")


@given(intakes())
def test_S19_severe_chronic_ibs_gets_low_fodmap_not_urgency(intake: dict[str, Any]) -> None:
    if in_scope(intake) and s19_premise(intake):
        _check_s19(intake)


@given(severe_chronic_ibs())
def test_S19_on_intakes_built_to_meet_its_premise(intake: dict[str, Any]) -> None:
    assume(s19_premise(intake))
    _check_s19(intake)


@given(intakes())
def test_S19_sudden_severe_pain_is_urgent(intake: dict[str, Any]) -> None:
    gi = intake.get("gi") or {}
    sudden_severe = (
        gi.get("symptom_onset") == "sudden" and (gi.get("abdominal_pain_score") or 0) >= 7
    )
    if in_scope(intake) and sudden_severe:
        assert "referral.urgent_gi" in run(intake).codes


@given(intakes())
def test_S20_one_gi_referral(intake: dict[str, Any]) -> None:
    ev = run(intake)
    if "referral.urgent_gi" in ev.codes:
        assert "referral.gastroenterology" not in ev.codes


@pytest.mark.slow
def test_the_invariants_hold_on_the_synthetic_population() -> None:
    """The same properties over 1,000 intakes of the synthetic population that ``gbrules rules
    diff`` uses (its own distribution: many children, v1.1 fields in a minority)."""
    from gbrules.tools.synthetic import synthetic_intakes

    checks = [
        fn.hypothesis.inner_test  # type: ignore[attr-defined]
        for name, fn in sorted(globals().items())
        if name.startswith("test_S")
        and not name.startswith(("test_S8_", "test_S9_"))
        and "built_to_meet" not in name
    ]
    assert len(checks) >= 19
    for intake in synthetic_intakes(1000, 1):
        for check in checks:
            check(intake)
