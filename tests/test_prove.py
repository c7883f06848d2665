"""``gbrules rules prove``: invariants proved for every intake, or an engine-confirmed
counterexample whose scenario fails; ``--require-proved``; the rule questions of ``query``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import z3
from hypothesis import given, settings
from typer.testing import CliRunner

import gbrules
from gbrules.clinical.domain import default_rules_dir, load_rulebook
from gbrules.clinical.engine import Engine
from gbrules.clinical.facts import VOCABULARY, facts_from_intake
from gbrules.clinical.proof import clinical_proof_domain, intake_from_facts
from gbrules.core.rulebook import Rulebook
from gbrules.core.verify.factmodel import Free, load_fact_model
from gbrules.core.verify.invariants import (
    InvariantFileError,
    Outcome,
    PlanTest,
    load_invariants,
)
from gbrules.core.verify.prove import InvariantsBroken, Prover, prove, require_proved
from gbrules.io.cli import app

from .strategies import intakes

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = clinical_proof_domain()
runner = CliRunner()
CONTRACT_V1 = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9")

# A site pack that hands mood follow-up in IBS to a local pathway: it breaks S6 (a probiotic
# trial with moderate depression and no mental-health care left in the plan).
BREAKS_S6 = """
rules:
  - id: site.ibs.own_pathway
    title: This site runs its own IBS pathway
    when:
      all:
        - "ibs == true"
        - "phq9_total < 20"
    then:
      code: stress.breathing
      rationale: The site's IBS pathway includes a breathing practice.
    evidence: ["Site IBS pathway 2024, NICE CG61"]
    overrides:
      - suppress: [referral.mental_health, medication.review]
        reason: The site's IBS pathway handles mood follow-up itself.
"""


@pytest.fixture(scope="module")
def default_book() -> Rulebook:
    return load_rulebook(default_rules_dir())


@pytest.fixture(scope="module")
def default_prover(default_book: Rulebook) -> Prover:
    return Prover(default_book, DOMAIN)


@pytest.fixture
def s6_pack(tmp_path: Path) -> Path:
    pack = tmp_path / "site"
    pack.mkdir()
    (pack / "site.yaml").write_text(BREAKS_S6)
    return pack


def test_the_default_rulebook_is_proved(default_book: Rulebook) -> None:
    report = prove(default_book, DOMAIN)
    assert report.ok, [(r.invariant.id, r.status, r.detail) for r in report.broken()]
    status = {r.invariant.id: r.status for r in report.results}
    for inv in CONTRACT_V1:
        assert status[inv] == "proved", inv
    assert not [r for r in report.results if r.status == "encoding-error"]


def test_pending_invariants_say_why_and_are_not_already_proved(default_book: Rulebook) -> None:
    """A pending invariant either names what does not exist yet, or is still broken: one
    that now holds must lose its pending mark (so it becomes required)."""
    for r in prove(default_book, DOMAIN).results:
        inv = r.invariant
        if inv.pending is None:
            continue
        assert inv.pending
        if inv.checkable:
            assert r.status == "counterexample", f"{inv.id} is proved: drop its pending mark"
        else:
            assert r.status == "pending" and "not defined yet" in inv.pending


def test_a_site_pack_breaking_s6_gets_a_counterexample_the_engine_confirms(
    s6_pack: Path,
) -> None:
    book = load_rulebook(default_rules_dir(), s6_pack)
    result = next(r for r in prove(book, DOMAIN).results if r.invariant.id == "S6")
    assert result.status == "counterexample"
    cx = result.counterexample
    assert cx is not None and cx.scenario is not None
    # Independently of the prover: the engine with this pack breaks S6 on that intake ...
    ev = Engine.from_directory(default_rules_dir(), s6_pack).evaluate(cx.intake)
    phq9 = ev.facts["phq9_total"]
    assert isinstance(phq9, int) and phq9 >= 10
    assert "probiotic.trial" in ev.codes
    assert not ev.codes & {"referral.mental_health", "medication.review"}
    assert "site.ibs.own_pathway" in cx.fired
    # ... and the default rulebook does not.
    assert "referral.mental_health" in gbrules.evaluate(cx.intake).codes
    # Minimal: without any one of its recorded fields (age aside) the engine keeps S6, so the
    # reader sees only what the break needs (PHQ-9, IBS, what a probiotic trial needs absent).
    engine = Engine.from_directory(default_rules_dir(), s6_pack)
    inputs = {k: v for k, v in facts_from_intake(cx.intake).items() if k in DOMAIN.model.inputs}
    for name in inputs:
        if name in DOMAIN.required:
            continue
        fewer = engine.evaluate(intake_from_facts({k: v for k, v in inputs.items() if k != name}))
        phq9_now = fewer.facts.get("phq9_total")
        breaks = (
            isinstance(phq9_now, int)
            and phq9_now >= 10
            and "probiotic.trial" in fewer.codes
            and not fewer.codes & {"referral.mental_health", "medication.review"}
        )
        assert not breaks, f"{name} is not needed for the counterexample"


def test_the_counterexample_scenario_fails_in_features_and_passes_without_the_pack(
    s6_pack: Path, tmp_path: Path
) -> None:
    book = load_rulebook(default_rules_dir(), s6_pack)
    result = next(r for r in prove(book, DOMAIN).results if r.invariant.id == "S6")
    assert result.counterexample is not None and result.counterexample.scenario is not None
    scenario = result.counterexample.scenario
    assert f'the site rule pack "{s6_pack.resolve()}"' in scenario

    # One run, two scenarios: the counterexample as printed, and the same without the pack.
    without = "\n".join(line for line in scenario.splitlines() if "site rule pack" not in line)
    without = without.replace("Scenario: S6 holds", "Scenario: default rulebook, S6 holds")
    run = _run_features(_feature_dir(tmp_path / "features", scenario + "\n" + without))
    assert run.returncode == 1, run.stdout[-2000:]
    assert "1 failed, 1 passed" in run.stdout
    failed = [ln for ln in run.stdout.splitlines() if ln.startswith("FAILED")]
    assert len(failed) == 1 and "default_rulebook" not in failed[0], failed
    assert "referral.mental_health not suggested" in run.stdout


def _feature_dir(path: Path, scenario: str) -> Path:
    path.mkdir(parents=True)
    body = textwrap.indent(scenario, "  ")
    (path / "counterexample.feature").write_text(f"Feature: a counterexample\n\n{body}\n")
    return path


def _run_features(features: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GBRULES_FEATURES_DIR": str(features)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_features.py", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_require_proved_refuses_the_pack_naming_the_invariant(s6_pack: Path) -> None:
    book = load_rulebook(default_rules_dir(), s6_pack)
    with pytest.raises(InvariantsBroken) as err:
        require_proved(book, DOMAIN)
    text = "\n".join(err.value.problems)
    assert "invariant S6" in text and "site.ibs.own_pathway" in text
    assert {r.invariant.id for r in err.value.report.broken()} >= {"S5", "S6"}
    require_proved(load_rulebook(default_rules_dir()), DOMAIN)  # the default passes


@pytest.mark.parametrize("how", ["option", "environment"])
def test_evaluate_require_proved(s6_pack: Path, how: str) -> None:
    args = ["evaluate", "--example", "case1", "--rules", str(s6_pack), "--format", "json"]
    env = {}
    if how == "option":
        args.append("--require-proved")
    else:
        env["GBRULES_REQUIRE_PROVED"] = "1"
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert "invariant S6" in result.stderr and "Traceback" not in result.output
    ok = runner.invoke(app, ["evaluate", "--example", "case1", "--require-proved"])
    assert ok.exit_code == 0, ok.output


def test_batch_require_proved(s6_pack: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.ndjson"
    src.write_text(json.dumps({"age": 40}) + "\n")
    out = tmp_path / "out.ndjson"
    args = ["batch", str(src), str(out), "--rules", str(s6_pack), "--require-proved"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "invariant S6" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("how", ["option", "environment"])
def test_serve_require_proved_refuses_before_listening(s6_pack: Path, how: str) -> None:
    """The service never starts on a rulebook + site pack that breaks an invariant (the
    refusal comes before uvicorn binds a port, so no server is left behind)."""
    args = ["serve", "--rules", str(s6_pack), "--port", "1"]
    env = {}
    if how == "option":
        args.append("--require-proved")
    else:
        env["GBRULES_REQUIRE_PROVED"] = "1"
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert "invariant S6" in result.stderr and "Traceback" not in result.output


def test_an_encoding_bug_is_reported_never_a_false_alarm(default_book: Rulebook) -> None:
    """A wrong declaration (gi_alarm without dysphagia) makes the solver believe S3 breaks;
    the engine's re-run disagrees, so the answer is an encoding error, not a counterexample."""
    import yaml

    data = yaml.safe_load((ROOT / "gbrules/clinical/fact_model.yaml").read_text())
    alarm = data["derived"]["gi_alarm"]["truth"]["any"]
    alarm.remove("dysphagia == true")
    wrong = replace(DOMAIN, model=load_fact_model(data, VOCABULARY))
    result = next(r for r in prove(default_book, wrong).results if r.invariant.id == "S3")
    assert result.status == "encoding-error"
    assert result.counterexample is None
    assert "gi_alarm: solver None, engine True" in result.detail
    assert result.blocking


@given(intakes())
@settings(max_examples=150)
def test_the_encoding_agrees_with_the_engine(
    default_prover: Prover, intake: dict[str, Any]
) -> None:
    """Fix one real intake in the solver: every rule and plan predicate is what the engine
    computes (merging, overrides, their order, priorities, the plan's first item)."""
    ev = gbrules.evaluate(intake)
    facts = facts_from_intake(intake)
    free = {n for n, d in DOMAIN.model.derived.items() if isinstance(d, Free)}
    model = default_prover.model_of(
        {k: v for k, v in facts.items() if k in DOMAIN.model.inputs or k in free}
    )
    plan = default_prover.plan

    def true(formula: Any) -> bool:
        return bool(z3.is_true(model.evaluate(formula, model_completion=True)))

    for name in default_prover.world.rec:
        if name in free:  # arithmetic facts: the model declares only whether they are recorded
            assert (default_prover.world.value_of(model, name) is None) == (name not in ev.facts)
            continue
        assert default_prover.world.value_of(model, name) == ev.facts.get(name), name
    assert [r for r, f in plan.fired.items() if true(f)] == ev.fired_rules
    outcome = Outcome.of(ev, default_prover.rulebook)
    tests = [PlanTest("immediate")]
    for code in plan.codes:
        tests += [PlanTest(p, code) for p in ("active", "proposed", "first")]  # type: ignore[arg-type]
        tests += [PlanTest(p, code) for p in ("deferred", "suppressed", "held")]  # type: ignore[arg-type]
        tests += [PlanTest("priority", code, priorities=(p,)) for p in ("urgent", "routine")]
        tests.append(PlanTest("says", code, regex="review"))
    for category in {c.split(".")[0] for c in plan.codes}:
        tests += [PlanTest("active", f"{category}.*"), PlanTest("deferred", f"{category}.*")]
    from gbrules.core.verify.invariants import evaluate

    for t in tests:
        assert true(plan.test(t)) == evaluate(t, outcome), t.text()


def test_s8_leaves_out_only_rules_about_recording(default_prover: Prover) -> None:
    result = default_prover.check(load_book().get("S8"))
    assert result.status == "proved"
    watched = int(result.detail.split()[0])
    # Rules that look at recording itself ("x is missing" / "x is recorded") are the only ones
    # allowed to fire on less; read from the rules' own text, not from the prover.
    about_recording = {
        r.id
        for r in default_prover.rulebook.rules
        if re.search(r"\bis (missing|recorded)\b", r.condition.text())
    }
    assert about_recording  # the default rulebook has reminders to record things
    # ... and rules over a fact that is about recording, or computed by arithmetic whose value
    # recording more can move (onset age: the recorded one replaces age - weeks / 52).
    moving = {"phq9_item9_recorded"} | {
        n for n, d in DOMAIN.model.derived.items() if isinstance(d, Free)
    }
    about_recording |= {r.id for r in default_prover.rulebook.rules if moving & set(r.facts)}
    assert watched == len(default_prover.rulebook.rules) - len(about_recording)


def load_book() -> Any:
    return load_invariants(ROOT / "rules/invariants.yaml", VOCABULARY, load_rulebook().codes)


def test_rule_questions(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "site.yaml").write_text(
        textwrap.dedent(
            """
            rules:
              - id: site.dead
                title: a band that contradicts its own total
                when: {all: ["phq9_band == severe", "phq9_total < 20"]}
                then: {code: sleep.hygiene, rationale: Never.}
                evidence: ["Kroenke 2001"]
              - id: site.overridden
                title: a trial where a caution always takes it out
                when: {all: ["probiotic_risk == true", "ibs == true"]}
                then: {code: probiotic.trial, rationale: Always suppressed.}
                evidence: ["Williams 2010"]
              - id: site.shadowed
                title: routine referral where the urgent one always fires
                when: {all: ["phq9_total >= 20", "age >= 18"]}
                then: {code: referral.mental_health, rationale: Always merged.}
                evidence: ["Kroenke 2001"]
              - id: site.twin
                title: the same intakes as site.shadowed, written another way
                when: {not: {any: ["phq9_total < 20", "age < 18"]}}
                then: {code: stress.breathing, rationale: Same intakes.}
                evidence: ["Kroenke 2001"]
            """
        )
    )
    prover = Prover(load_rulebook(default_rules_dir(), pack), DOMAIN)
    dead = prover.dead_rules()
    assert [f.rule.id for f in dead] == ["site.dead"]
    overridden = prover.always_overridden([f.rule for f in dead])
    assert [f.rule.id for f in overridden] == ["site.overridden"]
    unseen = prover.never_shown([f.rule for f in dead + overridden])
    assert [f.rule.id for f in unseen] == ["site.shadowed"]
    pairs = {(f.other.id if f.other else "", f.rule.id) for f in prover.equivalent_rules()}
    assert ("site.shadowed", "site.twin") in pairs
    assert not [p for p in pairs if "site.dead" in p]

    result = runner.invoke(app, ["rules", "query", str(pack)])
    assert result.exit_code == 0
    for rid, kind in [
        ("site.dead", "dead"),
        ("site.overridden", "always-overridden"),
        ("site.shadowed", "never-shown"),
        ("site.twin", "equivalent"),
    ]:
        assert f"rule {rid}: [{kind}]" in result.stdout


def test_which_intakes_get_x_but_not_y() -> None:
    result = runner.invoke(
        app, ["rules", "query", "--gets", "referral.urgent_gi", "--not", "probiotic.consult_first"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.splitlines()[1].split("intake: ", 1)[1])
    ev = gbrules.evaluate(doc)
    assert "referral.urgent_gi" in ev.codes and "probiotic.consult_first" not in ev.codes

    never = runner.invoke(
        app, ["rules", "query", "--gets", "probiotic.trial", "--not", "education.adjunct_not_cure"]
    )
    assert never.exit_code == 1
    assert never.stdout.startswith("no intake")
    bad = runner.invoke(app, ["rules", "query", "--where", "body_temperature > 38"])
    assert bad.exit_code == 2 and "body_temperature" in bad.stderr


def test_prove_command_table_and_json(s6_pack: Path) -> None:
    result = runner.invoke(app, ["rules", "prove"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["invariant", "status", "time"]
    for inv in (*CONTRACT_V1, *(f"S{n}" for n in range(10, 22))):  # S1-S21, all required
        assert any(line.split()[:2] == [inv, "proved"] for line in lines), inv
    assert not [line for line in lines[2:] if line.split()[1:2] == ["pending"]]

    broken = runner.invoke(app, ["rules", "prove", str(s6_pack), "--format", "json"])
    assert broken.exit_code == 1
    data = json.loads(broken.stdout)
    s6 = next(i for i in data["invariants"] if i["id"] == "S6")
    assert s6["status"] == "counterexample" and not data["ok"]
    assert "site.ibs.own_pathway" in s6["counterexample"]["fired_rules"]

    one = runner.invoke(app, ["rules", "prove", "--only", "S1", "--only", "S2"])
    assert [ln.split()[0] for ln in one.stdout.splitlines()[2:4]] == ["S1", "S2"]
    assert runner.invoke(app, ["rules", "prove", "--only", "S99"]).exit_code == 2


def _inv(**fields: str) -> dict[str, str]:
    return {"id": "X1", "wording": "w", "source": "s", **fields}


@pytest.mark.parametrize(
    ("item", "text"),
    [
        (_inv(conclusion="actve(safety.crisis)"), "actve"),
        (_inv(conclusion="first(diet.*)"), "first"),
        (_inv(conclusion="priority(diet.fiber) == hi"), "priorities"),
        (_inv(conclusion="age >= old"), "age"),
        (_inv(), "conclusion"),
        (_inv(kind="monotone", conclusion="x"), "kind"),
        ({"wording": "w"}, "needs id"),
    ],
)
def test_a_bad_invariant_is_named(item: dict[str, Any], text: str) -> None:
    with pytest.raises(InvariantFileError) as err:
        load_invariants({"invariants": [item]}, VOCABULARY, load_rulebook().codes)
    assert any(text in p for p in err.value.problems), err.value.problems


def test_unknown_names_make_an_invariant_pending_not_skipped() -> None:
    book = load_invariants(
        {
            "invariants": [
                {
                    "id": "X1",
                    "wording": "w",
                    "source": "s",
                    "premise": "body_temperature > 38",
                    "conclusion": "active(lab.blood_culture)",
                }
            ]
        },
        VOCABULARY,
        load_rulebook().codes,
    )
    inv = book.get("X1")
    assert not inv.checkable
    assert (
        inv.pending is not None
        and "fact 'body_temperature'" in inv.pending
        and "lab.blood_culture" in inv.pending
    )
