"""Monitoring after go-live (gbrules/io/audit/monitor.py), on real SQLite and PostgreSQL trails.

Six busy weeks are written through the real AuditLog: for three weeks most patients look like
Case 1, then most look like Case 2. Rules that fire for only one of the two must be flagged in
the week of the switch and rules common to both never; a card that clinicians start overriding
is flagged on its override rate; a quiet week with a wild rate is not judged.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gbrules.io.audit import AuditLog
from gbrules.io.audit.monitor import collect, render_html, week_of
from gbrules.io.cli import app
from tests.audit_support import SECRET, cards_for, example_evaluation

START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)  # a Monday
SWITCH_WEEK = 3
OVERRIDE_FROM_WEEK = 4
runner = CliRunner()


@dataclass(frozen=True)
class Trail:
    """A seeded audit database and the rule sets the assertions need."""

    url: str
    watched: str  # the rule whose cards clinicians start overriding
    only_case1: set[str]
    only_case2: set[str]
    common: set[str]


@pytest.fixture
def trail(db_url: str) -> Iterator[Trail]:
    case1, case2 = example_evaluation("case1"), example_evaluation("case2")
    only1 = set(case1.fired_rules) - set(case2.fired_rules)
    only2 = set(case2.fired_rules) - set(case1.fired_rules)
    common = set(case1.fired_rules) & set(case2.fired_rules)
    watched = next(s.rule_id for s in case1.suggestions if s.rule_id in common)
    with AuditLog(db_url, secret=SECRET) as audit:
        for week in range(6):
            mostly = case1 if week < SWITCH_WEEK else case2
            other = case2 if week < SWITCH_WEEK else case1
            for i in range(30):
                ev = mostly if i < 24 else other
                at = START + timedelta(weeks=week, minutes=i)
                cards = cards_for(ev)
                audit.record_request("patient-view", str(uuid.uuid4()), "gbrules", ev, cards, at=at)
                for card in cards:
                    if card.rule_id == watched:
                        late = week >= OVERRIDE_FROM_WEEK
                        outcome = "overridden" if late else "accepted"
                        reasons = ["not-indicated"] if late else []
                        audit.record_feedback(card.uuid, outcome, [], reasons, at)
        # A quiet seventh week: two requests, both Case 1 (a 100% swing nobody should act on).
        for i in range(2):
            at = START + timedelta(weeks=6, minutes=i)
            audit.record_request(
                "patient-view", str(uuid.uuid4()), "gbrules", case1, cards_for(case1), at=at
            )
    yield Trail(db_url, watched, only1, only2, common)


def test_weekly_rates_and_drift(trail: Trail) -> None:
    url, watched, only1, only2, common = (
        trail.url,
        trail.watched,
        trail.only_case1,
        trail.only_case2,
        trail.common,
    )
    with AuditLog(url, secret=SECRET) as audit:
        m = audit.monitoring(band=0.2)
    assert m.weeks == [week_of(START) + timedelta(weeks=w) for w in range(7)]
    assert m.requests[m.weeks[0]] == 30 and m.requests[m.weeks[6]] == 2
    switch = m.weeks[SWITCH_WEEK]
    firing = {(d.rule_id, d.week) for d in m.drifts if d.metric == "firing_rate"}
    assert firing == {(rule, switch) for rule in only1 | only2}
    assert not any(d.rule_id in common and d.metric == "firing_rate" for d in m.drifts)
    for rule in only1:
        rates = m.series(rule, "firing_rate")
        assert rates[0] == pytest.approx(24 / 30) and rates[SWITCH_WEEK] == pytest.approx(6 / 30)
    override = [d for d in m.drifts if d.metric == "override_rate"]
    assert [(d.rule_id, d.week, d.before, d.after) for d in override] == [
        (watched, m.weeks[OVERRIDE_FROM_WEEK], 0.0, 1.0)
    ]
    assert m.rules[watched][m.weeks[5]].reasons["not-indicated"] == 30


def test_the_band_decides_what_is_flagged(
    trail: Trail,
) -> None:
    url = trail.url
    with AuditLog(url, secret=SECRET) as audit:
        below = audit.monitoring(band=0.59)
        above = audit.monitoring(band=0.61)
    # The firing rates move by 60 points at the switch, the override rate by 100.
    assert {d.metric for d in below.drifts} == {"firing_rate", "override_rate", "acceptance_rate"}
    assert {d.metric for d in above.drifts} == {"override_rate", "acceptance_rate"}
    with AuditLog(url, secret=SECRET) as audit:
        strict = audit.monitoring(band=0.0, min_requests=1, min_cards=1)
    quiet = strict.weeks[6]
    assert any(d.week == quiet for d in strict.drifts)  # judged only when the bar is lowered


def test_html_report_has_a_plot_per_rule_and_the_drifts(trail: Trail, tmp_path: Path) -> None:
    url = trail.url
    with AuditLog(url, secret=SECRET) as audit:
        m = audit.monitoring()
    page = render_html(m)
    assert page.count("<svg") == len(m.rules)
    assert page.count("<li class='drift'>") == len(m.drifts) > 0
    for rule in m.rules:
        assert f"<section id='{rule}'>" in page
    assert "<script" not in page
    # No patient data can be in it: the trail holds none, and the page shows only rule ids.
    assert not re.search(r"patient_key|[0-9a-f]{64}", page)


def test_cli_writes_the_report_and_fails_on_drift_when_asked(trail: Trail, tmp_path: Path) -> None:
    url, watched = trail.url, trail.watched
    out = tmp_path / "reports" / "monitor.html"
    result = runner.invoke(app, ["audit", "monitor", "--db", url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "<svg" in out.read_text()
    assert f"drift: {watched}: override rate 0% -> 100%" in result.output
    failing = runner.invoke(
        app, ["audit", "monitor", "--db", url, "--out", str(out), "--fail-on-drift"]
    )
    assert failing.exit_code == 1


def test_empty_trail(tmp_path: Path) -> None:
    with AuditLog(str(tmp_path / "empty.db"), secret=SECRET) as audit:
        m = audit.monitoring()
        assert m.weeks == [] and m.drifts == []
        with audit.engine.connect() as conn:
            assert collect(conn).weeks == []
    assert "holds no requests" in render_html(m)


def test_week_of_is_the_monday() -> None:
    assert week_of(datetime(2030, 1, 13, 23, 59)) == date(2030, 1, 7)
    assert week_of(datetime(2030, 1, 14, 0, 0)) == date(2030, 1, 14)
