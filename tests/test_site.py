"""Site configuration (gbrules/clinical/site.py) and data freshness: both sides of every
window, the care setting's own-service referrals, switched-off codes, and what is refused."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gbrules.clinical.engine import cached_engine
from gbrules.clinical.site import (
    DEFAULT_FRESHNESS_DAYS,
    SiteConfig,
    SiteError,
    evaluate_at_site,
    freshen,
    load_site,
)
from gbrules.io.cli import app
from gbrules.io.render import render_care_plan

runner = CliRunner()
AS_OF = date(2026, 11, 30)

GOOD: dict[str, Any] = {
    "site": "St Elsewhere GI clinic",
    "country": "GB",
    "care_setting": "gastroenterology",
    "population": {"min_age": 18},
    "codes_off": ["lab.repeat_crp"],
    "order_codes": {
        "lab.fecal_calprotectin": {
            "system": "https://example.org/orders",
            "code": "FCAL",
            "display": "Faecal calprotectin",
        }
    },
    "freshness_days": {"crp": 30},
}


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    p = tmp_path / "site.yaml"
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return p


# -- the file and `gbrules site check` ----------------------------------------------------------


def test_site_check_accepts_a_good_file(tmp_path: Path) -> None:
    r = runner.invoke(app, ["site", "check", str(write(tmp_path, GOOD))])
    assert r.exit_code == 0, r.output
    assert "care setting gastroenterology" in r.output and "ok" in r.output


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"codes_off": ["safety.crisis"]}, "cannot be switched off"),
        ({"codes_off": ["referral.urgent_gi"]}, "cannot be switched off"),
        ({"rules_off": ["safety.crisis.self_harm_thoughts"]}, "cannot be switched off"),
        ({"country": "XX"}, "no crisis-line set"),
        ({"care_setting": "cardiology"}, "care_setting"),
        ({"enabled_hooks": ["encounter-start"]}, "unknown hook"),
        ({"freshness_days": {"phq9": 30}}, "not lengthen"),
        ({"colour": "blue"}, "colour"),
        ({"population": {"min_age": 30, "max_age": 20}}, "max_age"),
    ],
)
def test_site_check_refuses_and_names_the_setting(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    r = runner.invoke(app, ["site", "check", str(write(tmp_path, {**GOOD, **change}))])
    assert r.exit_code == 2
    assert named in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"population": {"min_age": 10}}, "below the rulebook's 12"),
        ({"codes_off": ["lab.no_such_thing"]}, "'lab.no_such_thing' is not a rulebook code"),
        ({"order_codes": {"lab.nope": GOOD["order_codes"]["lab.fecal_calprotectin"]}}, "lab.nope"),
    ],
)
def test_site_check_refuses_what_the_rulebook_does_not_allow(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    r = runner.invoke(app, ["site", "check", str(write(tmp_path, {**GOOD, **change}))])
    assert r.exit_code == 2 and named in r.output


def test_audit_schema_v2_upgrades_a_v1_database(tmp_path: Path) -> None:
    """A database made by the previous gbrules (schema v1) gains the shadow and admin tables."""
    from gbrules.io.audit import AuditLog
    from gbrules.io.audit import schema as audit_schema

    a = AuditLog(tmp_path / "a.db", secret=b"s" * 16)
    with a.engine.begin() as conn:
        audit_schema.migrations_table.create(conn)
        audit_schema.MIGRATIONS[0].apply(conn)
        conn.execute(
            audit_schema.migrations_table.insert().values(
                version=1, name="v1", applied_at=audit_schema.utc_naive(None)
            )
        )
    assert a.migrate() == [2]
    a.record_admin("dr.ops", "promote", "{}")
    assert [e["action"] for e in a.admin_events()] == ["promote"]
    a.close()


def test_load_site_names_every_bad_field(tmp_path: Path) -> None:
    with pytest.raises(SiteError) as err:
        load_site(write(tmp_path, {**GOOD, "country": "XX", "codes_off": ["safety.crisis"]}))
    assert len(err.value.problems) == 2


# -- care setting and switched-off codes ---------------------------------------------------------

PERSISTENT_IBS: dict[str, Any] = {
    "age": 40,
    # Not settled after 12 weeks of documented first-line care: the routine referral's trigger.
    "gi": {"symptom_weeks": 20, "first_line_care_weeks": 12},
    "conditions": {"ibs": True},
}


def _site(**change: Any) -> SiteConfig:
    return SiteConfig.model_validate({"site": "S", "country": "US", **change})


def test_a_gi_clinic_is_not_told_to_refer_to_gastroenterology() -> None:
    engine = cached_engine()
    primary = evaluate_at_site(engine, PERSISTENT_IBS, site=_site(care_setting="primary_care"))
    assert "referral.gastroenterology" in primary.codes
    gi = evaluate_at_site(engine, PERSISTENT_IBS, site=_site(care_setting="gastroenterology"))
    assert "referral.gastroenterology" not in gi.codes
    s = gi.suppression("referral.gastroenterology")
    assert s is not None and s.by_rule == "site.care_setting" and "own service" in s.reason


def test_safety_is_never_suppressed_by_a_site() -> None:
    crisis = {"age": 40, "mood": {"suicidal_ideation": True}, "conditions": {"ibs": True}}
    ev = evaluate_at_site(
        cached_engine(),
        crisis,
        site=_site(care_setting="mental_health", population={"min_age": 50}),
    )
    assert "safety.crisis" in ev.codes
    assert all(not s.code.startswith("safety.") for s in ev.suppressed if s.by_rule[:5] == "site.")
    # Outside the site's population: everything but safety is held back, with the reason.
    assert {s.by_rule for s in ev.suppressed} >= {"site.population"}


def test_a_switched_off_code_is_suppressed_with_its_reason() -> None:
    data = {"age": 40, "labs": {"crp": {"value": 30, "unit": "mg/L"}}}
    engine = cached_engine()
    assert "lab.inflammatory_workup" in engine.evaluate(data).codes
    ev = evaluate_at_site(
        engine,
        data,
        site=_site(care_setting="primary_care", codes_off=["lab.inflammatory_workup"]),
    )
    assert "lab.inflammatory_workup" not in ev.codes
    s = ev.suppression("lab.inflammatory_workup")
    assert s is not None and s.by_rule == "site.code_off"


# -- data freshness -------------------------------------------------------------------------------

DATED: dict[str, dict[str, Any]] = {
    "phq9": {"mood": {"phq9": {"total": 12, "item9": 0}}},
    "gad7": {"mood": {"gad7": {"total": 12}}},
    "crp": {"labs": {"crp": {"value": 30, "unit": "mg/L"}}},
    "fecal_calprotectin": {"labs": {"fecal_calprotectin": {"value": 120, "unit": "ug/g"}}},
}


def _dated(kind: str, day: date) -> dict[str, Any]:
    section, inner = next(iter(DATED[kind].items()))
    key, value = next(iter(inner.items()))
    return {"age": 30, section: {key: {**value, "date": day.isoformat()}}}


@pytest.mark.parametrize("kind", sorted(DEFAULT_FRESHNESS_DAYS))
def test_each_window_on_both_sides(kind: str) -> None:
    days = DEFAULT_FRESHNESS_DAYS[kind]
    current = freshen(_dated(kind, AS_OF - timedelta(days=days)), AS_OF)
    assert current.stale == {}
    assert current.data == _dated(kind, AS_OF - timedelta(days=days))
    old = AS_OF - timedelta(days=days + 1)
    stale = freshen(_dated(kind, old), AS_OF)
    assert stale.stale == {kind: old.isoformat()}
    section = next(iter(DATED[kind]))
    assert kind not in stale.data[section]


@pytest.mark.parametrize("kind", sorted(DEFAULT_FRESHNESS_DAYS))
def test_a_stale_value_is_not_recorded_for_the_rules(kind: str) -> None:
    """Through the engine: the fresh value drives the rules, the stale one does not, and the
    evaluation lists it as stale with its date."""
    engine = cached_engine()
    days = DEFAULT_FRESHNESS_DAYS[kind]
    fresh = evaluate_at_site(engine, _dated(kind, AS_OF - timedelta(days=days)), as_of=AS_OF)
    old_day = AS_OF - timedelta(days=days + 1)
    stale = evaluate_at_site(engine, _dated(kind, old_day), as_of=AS_OF)
    undated = {k: v for k, v in _dated(kind, old_day).items()}
    section = next(iter(DATED[kind]))
    undated[section] = {}
    nothing = engine.evaluate(undated)
    assert fresh.codes != nothing.codes  # the value matters to the rules ...
    assert stale.codes == nothing.codes  # ... and a stale one counts as not recorded
    assert stale.stale == {kind: old_day.isoformat()}
    assert set(nothing.not_recorded) <= set(stale.not_recorded)


def test_a_stale_normal_calprotectin_does_not_withhold_the_test() -> None:
    """gi.calprotectin.recent_symptoms asks for calprotectin when none is recorded: an old
    normal result must not stand in for a current one."""
    base = {"age": 30, "gi": {"symptom_weeks": 10, "diarrhea": True}}
    engine = cached_engine()

    def with_fcal(day: date) -> dict[str, Any]:
        return {
            **base,
            "labs": {"fecal_calprotectin": {"value": 20, "unit": "ug/g", "date": day.isoformat()}},
        }

    recent = evaluate_at_site(engine, with_fcal(AS_OF - timedelta(days=90)), as_of=AS_OF)
    assert "lab.fecal_calprotectin" not in recent.codes
    old = evaluate_at_site(engine, with_fcal(AS_OF - timedelta(days=91)), as_of=AS_OF)
    assert "lab.fecal_calprotectin" in old.codes


def test_a_site_can_shorten_a_window() -> None:
    site = _site(care_setting="primary_care", freshness_days={"crp": 30})
    data = _dated("crp", AS_OF - timedelta(days=31))
    ev = evaluate_at_site(cached_engine(), data, as_of=AS_OF, site=site)
    assert ev.stale == {"crp": (AS_OF - timedelta(days=31)).isoformat()}
    ev30 = evaluate_at_site(
        cached_engine(), _dated("crp", AS_OF - timedelta(days=30)), as_of=AS_OF, site=site
    )
    assert ev30.stale == {}


def test_an_old_positive_item9_still_raises_the_crisis_alert() -> None:
    data = {"age": 30, "mood": {"phq9": {"total": 12, "item9": 2, "date": "2026-01-01"}}}
    ev = evaluate_at_site(cached_engine(), data, as_of=AS_OF)
    assert ev.stale == {"phq9": "2026-01-01"}
    assert "safety.crisis" in ev.codes and ev.requires_immediate_action


def test_the_draft_lists_a_stale_value_with_its_date() -> None:
    ev = evaluate_at_site(cached_engine(), _dated("crp", date(2024, 1, 5)), as_of=AS_OF)
    for fmt in ("markdown", "text", "html"):
        assert "CRP: stale (measured 2024-01-05)" in render_care_plan(ev, fmt)  # type: ignore[arg-type]


def test_evaluate_cli_takes_site_and_as_of(tmp_path: Path) -> None:
    intake = tmp_path / "intake.json"
    intake.write_text(json.dumps(_dated("crp", date(2026, 10, 1))), encoding="utf-8")
    site = write(tmp_path, GOOD)  # shortens CRP to 30 days and switches lab.repeat_crp off
    r = runner.invoke(app, ["evaluate", str(intake), "--format", "json", "--as-of", "2026-11-30"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["stale"] == {}
    r = runner.invoke(
        app,
        ["evaluate", str(intake), "--format", "json", "--as-of", "2026-11-30", "--site", str(site)],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["stale"] == {"crp": "2026-10-01"}
    bad = runner.invoke(app, ["evaluate", str(intake), "--as-of", "30/11/2026"])
    assert bad.exit_code == 2 and "--as-of" in bad.output


def test_batch_takes_site_and_as_of(tmp_path: Path) -> None:
    source = tmp_path / "in.ndjson"
    rows = [_dated("crp", date(2026, 10, 1)), _dated("crp", date(2026, 11, 20))]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.ndjson"
    site = write(tmp_path, GOOD)  # CRP current for 30 days at this site
    r = runner.invoke(
        app, ["batch", str(source), str(out), "--site", str(site), "--as-of", "2026-11-30"]
    )
    assert r.exit_code == 0, r.output
    evs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [e["stale"] for e in evs] == [{"crp": "2026-10-01"}, {}]
    bad = write(tmp_path, {**GOOD, "codes_off": ["safety.crisis"]})
    r = runner.invoke(app, ["batch", str(source), str(tmp_path / "o2.ndjson"), "--site", str(bad)])
    assert r.exit_code == 2 and "cannot be switched off" in r.output


def test_the_site_country_reaches_the_templates(tmp_path: Path) -> None:
    """The crisis-line content selects by the site's country: the templates receive it."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "clinician.txt.j2").write_text("country={{ country }}\n", encoding="utf-8")
    r = runner.invoke(
        app,
        [
            "evaluate",
            "--example",
            "case1",
            "--format",
            "text",
            "--templates",
            str(templates),
            "--site",
            str(write(tmp_path, GOOD)),
        ],
    )
    assert r.exit_code == 0, r.output
    assert r.output == "country=GB\n"
