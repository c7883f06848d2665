"""Audit trail (issue 8), on SQLite always and on a real throwaway PostgreSQL cluster.

PostgreSQL tests skip when no ``initdb`` is installed, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import multiprocessing
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

import gbrules
from gbrules.io.audit import (
    AuditConfigError,
    AuditLog,
    AuditSchemaError,
    CardRecord,
    UnknownCard,
)
from gbrules.io.audit import schema as audit_schema
from gbrules.io.audit.log import normalise_url
from gbrules.io.cli import app
from gbrules.io.cli.audit import parse_since
from tests.audit_support import (
    ROOT,
    SECRET,
    PgServer,
    cards_for,
    example_evaluation,
    free_port,
    worker,
)

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
runner = CliRunner()


@pytest.fixture
def audit(db_url: str) -> Iterator[AuditLog]:
    log = AuditLog(db_url, secret=SECRET)
    yield log
    log.close()


def dump(audit: AuditLog) -> dict[str, list[dict[str, object]]]:
    with audit.engine.connect() as conn:
        return {
            t.name: [dict(row._mapping) for row in conn.execute(select(t))]
            for t in audit_schema.ALL_TABLES
        }


# -- the scripted session ----------------------------------------------------------------------

REASONS = ["not-indicated", "patient-declined", "already-done", "not-indicated"]


def run_session(
    audit: AuditLog,
) -> tuple[dict[tuple[str, str], Counter[str]], dict[str, Counter[str]]]:
    """Requests on the three examples (case1 twice, one under another rulebook version), with a
    deterministic mix of accepted, overridden and unanswered cards; returns the expected counts,
    computed here independently of the report's SQL."""
    evs = {name: example_evaluation(name) for name in ("case1", "case2", "crisis")}
    other = evs["case2"].model_copy(update={"rulebook_version": "0.9.0+older"})
    script = [evs["case1"], evs["case2"], evs["crisis"], evs["case1"], other]
    per_rule: dict[tuple[str, str], Counter[str]] = {}
    per_version: dict[str, Counter[str]] = {}
    n = 0
    for k, ev in enumerate(script):
        cards = cards_for(ev)
        audit.record_request(
            "patient-view", str(uuid.uuid4()), "gbrules-care-plan", ev, cards, at=NOW
        )
        version = per_version.setdefault(ev.rulebook_version, Counter())
        version["requests"] += 1
        for card in cards:
            n += 1
            expected = per_rule.setdefault((card.rule_id, card.code), Counter())
            expected["shown"] += 1
            version["shown"] += 1
            at = NOW + timedelta(minutes=n)
            if n % 3 == 0:
                assert audit.record_feedback(card.uuid, "accepted", [str(uuid.uuid4())], [], at)
                expected["accepted"] += 1
                version["accepted"] += 1
            elif n % 3 == 1:
                reason = REASONS[(n + k) % len(REASONS)]
                assert audit.record_feedback(card.uuid, "overridden", [], [reason], at)
                # a retry of the same feedback is stored once
                assert not audit.record_feedback(card.uuid, "overridden", [], [reason], at)
                expected["overridden"] += 1
                expected[f"reason:{reason}"] += 1
                version["overridden"] += 1
            # n % 3 == 2: no response
    return per_rule, per_version


def check_report(audit: AuditLog) -> None:
    per_rule, per_version = run_session(audit)
    report = audit.report()
    assert report.requests == 5
    assert {(r.rule_id, r.code) for r in report.rules} == set(per_rule)
    for (rule_id, code), exp in per_rule.items():
        got = report.rule(rule_id, code)
        assert got is not None
        c = got.counts
        assert (c.shown, c.accepted, c.overridden) == (
            exp["shown"],
            exp["accepted"],
            exp["overridden"],
        ), rule_id
        assert c.no_response == exp["shown"] - exp["accepted"] - exp["overridden"]
        answered = exp["accepted"] + exp["overridden"]
        assert c.override_rate == (
            None if answered == 0 else round(exp["overridden"] / answered, 4)
        )
        reasons = sorted(
            ((k[7:], v) for k, v in exp.items() if k.startswith("reason:")),
            key=lambda kv: (-kv[1], kv[0]),
        )[:3]
        assert got.top_override_reasons == reasons
    assert {v.rulebook_version for v in report.versions} == set(per_version)
    for v in report.versions:
        exp = per_version[v.rulebook_version]
        assert v.requests == exp["requests"]
        assert (v.counts.shown, v.counts.accepted, v.counts.overridden) == (
            exp["shown"],
            exp["accepted"],
            exp["overridden"],
        )
    total = sum((Counter(v) for v in per_version.values()), Counter())
    assert report.totals.shown == total["shown"]
    assert report.totals.accepted == total["accepted"]
    assert report.totals.overridden == total["overridden"]
    # the crisis card was shown once, with a critical indicator
    crisis = report.rule("safety.crisis.self_harm_thoughts", "safety.crisis")
    assert crisis is not None and crisis.counts.shown == 1
    assert crisis.counts.override_rate in (None, 0.0, 1.0)


def test_scripted_session_report(audit: AuditLog) -> None:
    check_report(audit)


def test_latest_feedback_counts_once(audit: AuditLog) -> None:
    ev = example_evaluation("case1")
    cards = cards_for(ev)
    audit.record_request("patient-view", "hi-1", "svc", ev, cards, at=NOW)
    first = cards[0]
    assert audit.record_feedback(first.uuid, "overridden", [], ["not-indicated"], NOW)
    assert audit.record_feedback(first.uuid, "accepted", [], [], NOW + timedelta(hours=1))
    assert audit.counts()["gbrules_audit_feedback"] == 2
    got = audit.report().rule(first.rule_id, first.code)
    assert got is not None
    assert (got.counts.shown, got.counts.accepted, got.counts.overridden) == (1, 1, 0)
    assert got.top_override_reasons == []


def test_report_since(audit: AuditLog) -> None:
    ev = example_evaluation("case1")
    audit.record_request(
        "patient-view", "old", "svc", ev, cards_for(ev), at=NOW - timedelta(days=10)
    )
    audit.record_request("patient-view", "new", "svc", ev, cards_for(ev), at=NOW)
    assert audit.report().requests == 2
    recent = audit.report(since=NOW - timedelta(days=1))
    assert recent.requests == 1
    assert recent.totals.shown == len(ev.suggestions)
    assert audit.report(since=NOW + timedelta(days=1)).rules == []


def test_unknown_card_stores_nothing(audit: AuditLog) -> None:
    ev = example_evaluation("case2")
    audit.record_request("patient-view", "hi", "svc", ev, cards_for(ev), at=NOW)
    before = dump(audit)
    missing = str(uuid.uuid4())
    with pytest.raises(UnknownCard) as info:
        audit.record_feedback(missing, "accepted", [], [], NOW)
    assert info.value.card_uuid == missing
    with pytest.raises(ValueError, match="outcome"):
        audit.record_feedback(missing, "ignored", [], [], NOW)
    with pytest.raises(ValueError, match="override reason"):
        audit.record_feedback(missing, "overridden", [], ["free text with spaces"], NOW)
    assert dump(audit) == before
    assert audit.stats()["feedback_recorded"] == 0


def test_duplicate_card_uuid_fails_whole(audit: AuditLog) -> None:
    ev = example_evaluation("case1")
    cards = cards_for(ev)
    audit.record_request("patient-view", "hi-1", "svc", ev, cards, at=NOW)
    reused = [*cards_for(ev), cards[0]]
    with pytest.raises(IntegrityError):
        audit.record_request("patient-view", "hi-2", "svc", ev, reused, at=NOW)
    assert audit.counts() == {
        "gbrules_audit_requests": 1,
        "gbrules_audit_cards": len(cards),
        "gbrules_audit_feedback": 0,
    }


def test_no_patient_data_in_the_database(audit: AuditLog, caplog: pytest.LogCaptureFixture) -> None:
    patient_id = "MRN-4471-SENTINEL"
    intake = json.loads((ROOT / "examples" / "case2.json").read_text())
    intake["patient_id"] = patient_id
    intake["age"] = 47
    intake["lifestyle"].update(sleep_hours=4.75, caffeine_mg_per_day=987.5, fiber_g_per_day=7.25)
    ev = gbrules.evaluate(intake)
    assert ev.patient_id == patient_id
    caplog.set_level(logging.DEBUG, logger="gbrules.io.audit")
    cards = cards_for(ev)
    audit.record_request("patient-view", "hi", "svc", ev, cards, at=NOW)
    audit.record_feedback(cards[0].uuid, "overridden", [], ["patient-declined"], NOW)
    audit.record_feedback(cards[1].uuid, "accepted", [str(uuid.uuid4())], [], NOW)
    rows = dump(audit)
    text = json.dumps(rows, default=str)
    assert patient_id not in text
    assert patient_id.lower() not in text.lower()
    for needle in ("4.75", "987.5", "7.25"):
        assert needle not in text
    for s in ev.suggestions:  # titles and rationales name the patient's values
        assert s.rationale not in text
        assert s.title not in text
    assert '"age": 47' not in text and "triggered_by" not in text
    key = rows["gbrules_audit_requests"][0]["patient_key"]
    assert key == hmac.new(SECRET, patient_id.encode(), hashlib.sha256).hexdigest()
    assert key != hashlib.sha256(patient_id.encode()).hexdigest()
    # no column beyond the documented ones
    assert set(rows["gbrules_audit_requests"][0]) == {
        "id",
        "time",
        "hook",
        "hook_instance",
        "service_id",
        "rulebook_version",
        "patient_key",
        "fired_rules",
    }
    assert json.loads(str(rows["gbrules_audit_requests"][0]["fired_rules"])) == ev.fired_rules
    assert patient_id not in caplog.text


def test_purge(audit: AuditLog) -> None:
    ev = example_evaluation("case1")
    ages = [40, 31, 10, 0]
    cards = {}
    for age in ages:
        cards[age] = cards_for(ev)
        audit.record_request(
            "patient-view", f"hi-{age}", "svc", ev, cards[age], at=NOW - timedelta(days=age)
        )
        # feedback arrives later; it goes with its card
        audit.record_feedback(cards[age][0].uuid, "accepted", [], [], NOW)
    assert audit.purge(30, now=NOW) == 2
    n = len(ev.suggestions)
    assert audit.counts() == {
        "gbrules_audit_requests": 2,
        "gbrules_audit_cards": 2 * n,
        "gbrules_audit_feedback": 2,
    }
    with pytest.raises(UnknownCard):
        audit.record_feedback(cards[40][1].uuid, "accepted", [], [], NOW)
    assert audit.purge(30, now=NOW) == 0
    assert audit.purge(5, now=NOW) == 1
    with pytest.raises(ValueError):
        audit.purge(-1)
    assert audit.report().requests == 1


def test_migrations_idempotent_and_refuse_newer_schema(db_url: str) -> None:
    a = AuditLog(db_url, secret=SECRET)
    assert a.migrate() == [1, 2]
    assert a.migrate() == []
    b = AuditLog(db_url, secret=SECRET)
    assert b.migrate() == []
    with a.engine.begin() as conn:
        conn.execute(
            audit_schema.migrations_table.insert().values(
                version=999, name="from the future", applied_at=datetime(2031, 1, 1)
            )
        )
    with pytest.raises(AuditSchemaError, match="999"):
        AuditLog(db_url, secret=SECRET).migrate()
    a.close()
    b.close()


# -- concurrency ---------------------------------------------------------------------------------


def test_concurrent_threads_and_processes(db_url: str, tmp_path: Path) -> None:
    """Fresh database: every writer migrates on first use, then writes; counts must be exact."""
    threads, processes, per_writer = 4, 2, 6
    n_cards = len(example_evaluation("case1").suggestions)
    ctx = multiprocessing.get_context("spawn")
    fail_paths = [tmp_path / f"fail-{i}" for i in range(processes)]
    procs = [ctx.Process(target=worker, args=(db_url, per_writer, str(p))) for p in fail_paths]
    for p in procs:
        p.start()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker(db_url, per_writer, str(tmp_path / f"fail-t-{threading.get_ident()}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=300)
    for p in procs:
        p.join(timeout=300)
    assert not errors, errors
    assert [p.exitcode for p in procs] == [0] * processes, [
        f.read_text() for f in fail_paths if f.exists()
    ]

    audit = AuditLog(db_url, secret=SECRET)
    requests = (threads + processes) * per_writer
    assert audit.counts() == {
        "gbrules_audit_requests": requests,
        "gbrules_audit_cards": requests * n_cards,
        "gbrules_audit_feedback": requests * n_cards,  # each posted twice, stored once
    }
    rows = dump(audit)
    # Concurrent starters applied each migration once.
    assert len(rows["gbrules_audit_migrations"]) == len(audit_schema.MIGRATIONS)
    report = audit.report()
    assert report.totals.shown == requests * n_cards
    assert report.totals.accepted == requests * ((n_cards + 1) // 2)
    assert report.totals.overridden == requests * (n_cards // 2)
    audit.close()


def test_same_feedback_raced_is_stored_once(audit: AuditLog) -> None:
    ev = example_evaluation("crisis")
    cards = cards_for(ev)
    audit.record_request("patient-view", "hi", "svc", ev, cards, at=NOW)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def post() -> None:
        barrier.wait()
        results.append(audit.record_feedback(cards[0].uuid, "overridden", [], ["x"], NOW))

    pool = [threading.Thread(target=post) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert audit.counts()["gbrules_audit_feedback"] == 1


# -- the database is down -----------------------------------------------------------------------


def _down_urls(tmp_path: Path) -> list[str]:
    return [
        str(tmp_path / "no" / "such" / "dir" / "audit.db"),
        f"postgresql+psycopg://gbrules:pw@127.0.0.1:{free_port()}/audit",  # nothing listening
    ]


@pytest.mark.parametrize("which", [0, 1], ids=["sqlite-bad-path", "postgresql-no-server"])
def test_db_down_never_raises(which: int, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = _down_urls(tmp_path)[which]
    ev = example_evaluation("case1")
    caplog.set_level(logging.ERROR, logger="gbrules.io.audit")
    audit = AuditLog(url, secret=SECRET)  # construction never touches the database
    assert audit.safe_record_request("patient-view", "hi-down", "svc", ev, cards_for(ev)) is False
    assert audit.safe_record_request("patient-view", "hi-down2", "svc", ev, cards_for(ev)) is False
    assert audit.stats()["failures"] == 2
    assert "hi-down" in caplog.text
    assert "example-case1" not in caplog.text
    audit.close()
    background = AuditLog(url, secret=SECRET, background=True)
    assert background.safe_record_request("patient-view", "hi-bg", "svc", ev, cards_for(ev))
    background.flush()
    assert background.stats()["failures"] == 1
    background.close()


def test_postgres_stopped_mid_run(pg_server: PgServer) -> None:
    """The server goes away after a successful write: later writes fail softly."""
    name = pg_server.create_db()
    audit = AuditLog(pg_server.url(name), secret=SECRET)
    ev = example_evaluation("case2")
    assert audit.safe_record_request("patient-view", "hi-1", "svc", ev, cards_for(ev))
    pg_server.drop_db(name)  # terminates our pooled connections too
    assert not audit.safe_record_request("patient-view", "hi-2", "svc", ev, cards_for(ev))
    assert audit.stats()["failures"] == 1
    assert audit.stats()["requests_recorded"] == 1
    audit.close()


def test_background_writer_writes_everything(audit: AuditLog, db_url: str) -> None:
    ev = example_evaluation("case1")
    bg = AuditLog(db_url, secret=SECRET, background=True, queue_size=100)
    for i in range(20):
        assert bg.safe_record_request("patient-view", f"hi-{i}", "svc", ev, cards_for(ev))
    bg.close()  # drains the queue
    assert bg.stats()["requests_recorded"] == 20
    assert audit.counts()["gbrules_audit_requests"] == 20


# -- configuration ------------------------------------------------------------------------------


def test_from_env(tmp_path: Path) -> None:
    assert AuditLog.from_env({}) is None
    assert AuditLog.from_env({"GBRULES_AUDIT_DB": ""}) is None
    with pytest.raises(AuditConfigError, match="GBRULES_AUDIT_SECRET"):
        AuditLog.from_env({"GBRULES_AUDIT_DB": str(tmp_path / "a.db")})
    with pytest.raises(AuditConfigError, match="16 bytes"):
        AuditLog.from_env({"GBRULES_AUDIT_DB": "a.db", "GBRULES_AUDIT_SECRET": "short"})
    env = {"GBRULES_AUDIT_DB": str(tmp_path / "a.db"), "GBRULES_AUDIT_SECRET": "x" * 32}
    audit = AuditLog.from_env(env)
    assert audit is not None
    assert audit.backend == "sqlite"
    assert audit.patient_key("p1") == hmac.new(b"x" * 32, b"p1", hashlib.sha256).hexdigest()
    audit.close()


def test_urls() -> None:
    assert normalise_url("/tmp/a.db") == "sqlite:////tmp/a.db"
    assert normalise_url("sqlite:///rel.db") == "sqlite:///rel.db"
    assert normalise_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    with pytest.raises(AuditConfigError):
        normalise_url("mysql://u:p@h/db")


def test_card_record_validation() -> None:
    with pytest.raises(ValueError, match="indicator"):
        CardRecord(str(uuid.uuid4()), "diet.fiber", "r", "loud")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="code"):
        CardRecord(str(uuid.uuid4()), "Patient John Smith", "r", "info")


def test_evaluate_does_not_import_sqlalchemy() -> None:
    code = "import sys, gbrules.io.cli; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- command line -------------------------------------------------------------------------------


def test_cli_report_and_purge(audit: AuditLog, db_url: str) -> None:
    ev = example_evaluation("crisis")
    cards = cards_for(ev)
    audit.record_request("patient-view", "hi", "svc", ev, cards, at=datetime.now(UTC))
    audit.record_request(
        "patient-view", "hi-old", "svc", ev, cards_for(ev), at=datetime.now(UTC) - timedelta(400)
    )
    audit.record_feedback(cards[0].uuid, "overridden", [], ["already-done"], datetime.now(UTC))

    result = runner.invoke(app, ["audit", "report", "--db", db_url, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["requests"] == 2
    crisis = next(r for r in data["rules"] if r["code"] == "safety.crisis")
    assert crisis["shown"] == 2 and crisis["overridden"] == 1 and crisis["override_rate"] == 1.0
    assert crisis["top_override_reasons"] == [{"reason": "already-done", "count": 1}]

    result = runner.invoke(
        app, ["audit", "report", "--db", db_url, "--since", "30d", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("rule_id,code,shown,accepted,overridden,no_response")
    assert "safety.crisis.self_harm_thoughts,safety.crisis,1,0,1,0,1.0,1.0,already-done=1" in lines

    result = runner.invoke(app, ["audit", "report", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "safety.crisis" in result.stdout and "Per rulebook version" in result.stdout

    result = runner.invoke(app, ["audit", "purge", "--db", db_url, "--older-than", "365"])
    assert result.exit_code == 0, result.output
    assert "purged 1 requests" in result.stdout
    assert audit.counts()["gbrules_audit_requests"] == 1


def test_cli_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    result = runner.invoke(app, ["audit", "report", "--db", db, "--since", "last tuesday"])
    assert result.exit_code == 2
    assert "--since" in result.stderr
    bad = str(tmp_path / "missing" / "a.db")
    result = runner.invoke(app, ["audit", "report", "--db", bad])
    assert result.exit_code == 1
    assert "audit database" in result.stderr and "Traceback" not in result.output
    result = runner.invoke(app, ["audit", "report", "--db", "mysql://x/y"])
    assert result.exit_code == 2


def test_parse_since() -> None:
    assert parse_since("2030-05-01") == datetime(2030, 5, 1, tzinfo=UTC)
    assert parse_since("2030-05-01T12:00:00+02:00") == datetime(2030, 5, 1, 10, tzinfo=UTC)
    assert parse_since("7d", now=NOW) == NOW - timedelta(days=7)
    with pytest.raises(ValueError):
        parse_since("yesterday")
