"""``AuditLog``: the audit trail of a CDS Hooks service, on SQLite or PostgreSQL.

What is stored, per answered request: the hook, hookInstance, service id, rulebook version, the
rules that fired, a pseudonymous patient key (HMAC-SHA256 of the patient id under the site's
secret), and one row per card shown (card uuid, suggestion code, rule id, indicator). Per card,
the clinician's feedback (accepted / overridden, accepted suggestion uuids, override reason
codes, time). Never stored: the raw patient id, intake values, facts, card text, free-text
comments.

Writes never block or fail a clinical answer when the service uses :meth:`safe_record_request`:
it catches every error, logs identifiers only (hookInstance, card count, error class), counts the
failure in :meth:`stats` and returns. With ``background=True`` the write goes into a bounded queue
served by one writer thread, so the answer does not even wait for the database; a full queue
drops the record and counts it in ``dropped`` (never blocks). :meth:`close` drains the queue.

Concurrency. Threads share one SQLAlchemy engine (a connection pool); processes each open their
own ``AuditLog``. Nothing is lost or duplicated:

* a request and its cards are written in one transaction; card uuids are the primary key, so a
  card uuid is stored once (a second request reusing one fails whole, nothing partial);
* feedback is idempotent per ``(card uuid, outcome, time)``: a retried POST with the same
  ``outcomeTimestamp`` is stored once (``INSERT ... ON CONFLICT DO NOTHING``, race-free on both
  backends). Feedback with a different time is a new row: a clinician may override a card and
  accept it later. The report counts each card once, by its latest feedback;
* SQLite runs in WAL mode with a 30 s busy timeout, every write transaction is ``BEGIN
  IMMEDIATE`` (no lock-upgrade deadlocks between processes), foreign keys are enforced.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import uuid as uuidlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from gbrules.io.audit import schema
from gbrules.io.audit.monitor import Monitoring, collect
from gbrules.io.audit.records import (
    OUTCOMES,
    AuditConfigError,
    CardRecord,
    Report,
    ShadowSummary,
    UnknownCard,
    check_code,
    pseudonym,
    utc_naive,
)
from gbrules.io.audit.report import build_report

if TYPE_CHECKING:
    from gbrules.core.result import Evaluation

log = logging.getLogger("gbrules.io.audit")

ENV_DB = "GBRULES_AUDIT_DB"
ENV_SECRET = "GBRULES_AUDIT_SECRET"  # noqa: S105 (the variable's name, not a secret)
MIN_SECRET_BYTES = 16


def normalise_url(url: str | os.PathLike[str]) -> str:
    """A file path becomes a SQLite URL; ``postgresql://`` gets the psycopg 3 driver we ship."""
    raw = os.fspath(url)
    if "://" not in raw:
        if raw in ("", ":memory:"):
            return "sqlite://"
        return "sqlite:///" + str(Path(raw).expanduser().resolve())
    parsed = make_url(raw)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise AuditConfigError(
            f"unsupported audit database {parsed.drivername!r}: use a SQLite file path or URL, "
            "or postgresql+psycopg://user:password@host/dbname"
        )
    return parsed.render_as_string(hide_password=False)


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        engine = create_engine(
            parsed,
            connect_args={"timeout": 30, "check_same_thread": False},
            poolclass=StaticPool if memory else None,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout = 30000")
            cur.execute("PRAGMA foreign_keys = ON")
            if not memory:
                cur.execute("PRAGMA journal_mode = WAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Writes take the write lock up front (no deadlocking lock upgrades between
            # processes); reports read a WAL snapshot without holding writers up.
            readonly = conn.get_execution_options().get("gbrules_readonly", False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = 5  # a down server fails fast instead of hanging
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def _json_list(values: Sequence[str], what: str) -> str:
    if isinstance(values, str):
        raise ValueError(f"{what} must be a list of codes, not a string")
    return json.dumps([check_code(v, what) for v in values])


class AuditLog:
    """The audit trail. Construction never touches the database; the schema is migrated on
    first use, or at once by :meth:`migrate`.

    ``url``: a SQLite file path or ``sqlite:///...`` URL (embedded, the default choice), or
    ``postgresql+psycopg://user:pw@host:5432/db`` (``postgresql://`` is accepted too).
    ``secret``: the key of the pseudonymous patient key, at least 16 bytes; keep it out of the
    database and stable (a new secret makes new keys for the same patients).
    ``background``: write requests from :meth:`safe_record_request` on a writer thread through a
    bounded queue of ``queue_size`` records.
    """

    def __init__(
        self,
        url: str | os.PathLike[str],
        *,
        secret: bytes,
        background: bool = False,
        queue_size: int = 1000,
    ) -> None:
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise AuditConfigError(
                f"the audit secret must be at least {MIN_SECRET_BYTES} bytes "
                f"(set {ENV_SECRET} to a long random string)"
            )
        self.url = normalise_url(url)
        self._secret = secret
        self._engine = _make_engine(self.url)
        self._migrated = False
        self._migrate_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._stats = {
            "requests_recorded": 0,
            "cards_recorded": 0,
            "feedback_recorded": 0,
            "failures": 0,
            "dropped": 0,
        }
        self._queue: queue.Queue[tuple[Any, ...] | None] | None = None
        self._writer: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(maxsize=queue_size)
            self._writer = threading.Thread(
                target=self._drain, name="gbrules-audit-writer", daemon=True
            )
            self._writer.start()

    # -- construction helpers -------------------------------------------------------------

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, *, background: bool = True
    ) -> AuditLog | None:
        """The service's audit trail from the environment, or ``None`` when auditing is off.

        ``GBRULES_AUDIT_DB``: database URL or SQLite path; unset or empty: no audit trail.
        ``GBRULES_AUDIT_SECRET``: required when the database is set (>= 16 bytes, UTF-8).
        """
        env = os.environ if environ is None else environ
        url = env.get(ENV_DB, "").strip()
        if not url:
            return None
        secret = env.get(ENV_SECRET, "")
        if not secret:
            raise AuditConfigError(f"{ENV_DB} is set but {ENV_SECRET} is not")
        return cls(url, secret=secret.encode("utf-8"), background=background)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def backend(self) -> str:
        return self._engine.dialect.name

    def migrate(self) -> list[int]:
        """Create or upgrade the schema now (idempotent); return the versions applied."""
        with self._migrate_lock:
            with self._engine.begin() as conn:
                done = schema.migrate(conn)
            self._migrated = True
            if done:
                log.info("audit schema migrated to version(s) %s", done)
            return done

    @contextmanager
    def _tx(self, *, readonly: bool = False) -> Iterator[Connection]:
        if not self._migrated:
            self.migrate()
        with self._engine.connect() as conn:
            if readonly:
                conn = conn.execution_options(gbrules_readonly=True)
            with conn.begin():
                yield conn

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self._stats[key] += n

    # -- writing ---------------------------------------------------------------------------

    def patient_key(self, patient_id: str | None) -> str | None:
        return pseudonym(patient_id, self._secret)

    def record_request(
        self,
        hook: str,
        hook_instance: str,
        service_id: str,
        evaluation: Evaluation,
        cards: Sequence[CardRecord],
        *,
        at: datetime | None = None,
    ) -> str:
        """Store one answered request and its cards in one transaction; return the request id.

        Raises on a database error (use :meth:`safe_record_request` on the clinical path) and
        ``sqlalchemy.exc.IntegrityError`` when a card uuid was already recorded (nothing stored).
        """
        check_code(hook, "hook")
        check_code(hook_instance, "hook_instance")
        check_code(service_id, "service_id")
        request_id = str(uuidlib.uuid4())
        with self._tx() as conn:
            conn.execute(
                schema.requests_table.insert().values(
                    id=request_id,
                    time=utc_naive(at),
                    hook=hook,
                    hook_instance=hook_instance,
                    service_id=service_id,
                    rulebook_version=check_code(evaluation.rulebook_version, "rulebook_version"),
                    patient_key=self.patient_key(evaluation.patient_id),
                    fired_rules=_json_list(evaluation.fired_rules, "fired rule id"),
                )
            )
            if cards:
                conn.execute(
                    schema.cards_table.insert(),
                    [
                        {
                            "uuid": c.uuid,
                            "request_id": request_id,
                            "code": c.code,
                            "rule_id": c.rule_id,
                            "indicator": c.indicator,
                        }
                        for c in cards
                    ],
                )
        self._count("requests_recorded")
        self._count("cards_recorded", len(cards))
        return request_id

    def safe_record_request(
        self,
        hook: str,
        hook_instance: str,
        service_id: str,
        evaluation: Evaluation,
        cards: Sequence[CardRecord],
        *,
        at: datetime | None = None,
    ) -> bool:
        """:meth:`record_request` that never raises: for the clinical path of the service.

        Returns True when stored (or queued, in background mode), False when the write failed
        or the queue was full; either way the failure is logged (ids only) and counted.
        """
        args = (hook, hook_instance, service_id, evaluation, list(cards), utc_naive(at))
        if self._queue is not None:
            try:
                self._queue.put_nowait(args)
            except queue.Full:
                self._count("dropped")
                log.error(
                    "audit queue full: dropped request hookInstance=%s (%d cards)",
                    hook_instance,
                    len(cards),
                )
                return False
            return True
        return self._write_safely(args)

    def record_shadow(
        self,
        hook_instance: str,
        active: Evaluation,
        candidate: Evaluation,
        *,
        at: datetime | None = None,
    ) -> bool:
        """Store how a shadow candidate's plan differs from the active one; never raises (the
        shadow must not fail or delay a clinical answer past a log line). True when stored."""
        only_active = sorted(active.codes - candidate.codes)
        only_candidate = sorted(candidate.codes - active.codes)
        try:
            check_code(hook_instance, "hook_instance")
            with self._tx() as conn:
                conn.execute(
                    schema.shadow_table.insert().values(
                        time=utc_naive(at),
                        hook_instance=hook_instance,
                        active_version=active.rulebook_version,
                        candidate_version=candidate.rulebook_version,
                        only_active=_json_list(only_active, "codes"),
                        only_candidate=_json_list(only_candidate, "codes"),
                    )
                )
        except Exception as exc:
            self._count("failures")
            log.error("audit shadow write failed: %s", type(exc).__name__)
            return False
        return True

    def record_admin(self, actor: str, action: str, detail: str) -> None:
        """Store one operator action (raises: an unrecorded promote must not happen)."""
        check_code(actor, "actor")
        with self._tx() as conn:
            conn.execute(
                schema.admin_table.insert().values(
                    time=utc_naive(None), actor=actor, action=action, detail=detail
                )
            )

    def admin_events(self) -> list[dict[str, str]]:
        """Every operator action, oldest first."""
        t = schema.admin_table
        with self._tx(readonly=True) as conn:
            rows = conn.execute(select(t).order_by(t.c.id))
            return [
                {
                    "time": r.time.isoformat(),
                    "actor": r.actor,
                    "action": r.action,
                    "detail": r.detail,
                }
                for r in rows
            ]

    def shadow_report(self) -> list[ShadowSummary]:
        """Per (active, candidate) pair: requests compared, requests that differ, and how often
        each code would be added or dropped by the candidate."""
        t = schema.shadow_table
        out: dict[tuple[str, str], ShadowSummary] = {}
        with self._tx(readonly=True) as conn:
            rows = conn.execute(
                select(
                    t.c.active_version, t.c.candidate_version, t.c.only_active, t.c.only_candidate
                ).order_by(t.c.id)
            )
            for r in rows:
                key = (r.active_version, r.candidate_version)
                s = out.setdefault(key, ShadowSummary(key[0], key[1]))
                dropped, added = json.loads(r.only_active), json.loads(r.only_candidate)
                s.compared += 1
                s.differing += bool(dropped or added)
                for c in dropped:
                    s.dropped[c] = s.dropped.get(c, 0) + 1
                for c in added:
                    s.added[c] = s.added.get(c, 0) + 1
        return list(out.values())

    def _write_safely(self, args: tuple[Any, ...]) -> bool:
        hook, hook_instance, service_id, evaluation, cards, at = args
        try:
            self.record_request(hook, hook_instance, service_id, evaluation, cards, at=at)
        except Exception as exc:  # never let the audit trail fail a clinical answer
            self._count("failures")
            # Ids and the error class only: driver messages can echo bound parameters.
            log.error(
                "audit write failed for hookInstance=%s (%d cards): %s",
                hook_instance if isinstance(hook_instance, str) else "?",
                len(cards),
                type(exc).__name__,
            )
            return False
        return True

    def _drain(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._write_safely(item)
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued record has been written (or has failed). No-op if sync."""
        if self._queue is not None:
            self._queue.join()

    def close(self) -> None:
        """Drain the queue, stop the writer thread and release the connection pool."""
        if self._queue is not None and self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._queue = None
            self._writer = None
        self._engine.dispose()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record_feedback(
        self,
        card_uuid: str,
        outcome: str,
        accepted_suggestions: Sequence[str] = (),
        override_reasons: Sequence[str] = (),
        at: datetime | None = None,
    ) -> bool:
        """Store the clinician's feedback on one card.

        Returns True when stored, False when the same ``(card, outcome, at)`` was already stored
        (an idempotent retry: answer 200 all the same). Raises :class:`UnknownCard` when the
        card uuid was never recorded, or was purged (answer 404; nothing stored), and
        ``ValueError`` for an outcome other than ``accepted`` / ``overridden`` or a reason that
        is not a code. ``at`` is the EHR's ``outcomeTimestamp`` (default: now).
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be 'accepted' or 'overridden', got {outcome!r}")
        if not isinstance(card_uuid, str):
            raise UnknownCard(str(card_uuid))
        values = {
            "card_uuid": card_uuid,
            "outcome": outcome,
            "accepted_suggestions": _json_list(accepted_suggestions, "accepted suggestion uuid"),
            "override_reasons": _json_list(override_reasons, "override reason code"),
            "at": utc_naive(at),
            "recorded_at": utc_naive(None),
        }
        try:
            with self._tx() as conn:
                known = conn.scalar(
                    select(schema.cards_table.c.uuid).where(schema.cards_table.c.uuid == card_uuid)
                )
                if known is None:
                    raise UnknownCard(card_uuid)
                stmt = self._insert_ignore_duplicate(conn)
                # RETURNING, not rowcount: drivers disagree on rowcount after ON CONFLICT.
                stored = conn.execute(stmt, values).first() is not None
        except IntegrityError as exc:  # the card was purged between the check and the insert
            raise UnknownCard(card_uuid) from exc
        if stored:
            self._count("feedback_recorded")
        return stored

    @staticmethod
    def _insert_ignore_duplicate(conn: Connection) -> Any:
        table = schema.feedback_table
        keys = ["card_uuid", "outcome", "at"]
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return (
                pg_insert(table).on_conflict_do_nothing(index_elements=keys).returning(table.c.id)
            )
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return (
            sqlite_insert(table).on_conflict_do_nothing(index_elements=keys).returning(table.c.id)
        )

    # -- reading and retention --------------------------------------------------------------

    def report(self, since: datetime | None = None) -> Report:
        """Alert-fatigue report over requests recorded at or after ``since`` (UTC if naive)."""
        since_utc = None if since is None else utc_naive(since)
        with self._tx(readonly=True) as conn:
            return build_report(conn, since_utc)

    def monitoring(
        self,
        since: datetime | None = None,
        *,
        band: float = 0.2,
        min_requests: int = 20,
        min_cards: int = 10,
    ) -> Monitoring:
        """Week-by-week rates per rule and the drifts beyond ``band`` (see ``monitor.py``)."""
        since_utc = None if since is None else utc_naive(since)
        with self._tx(readonly=True) as conn:
            return collect(
                conn, since_utc, band=band, min_requests=min_requests, min_cards=min_cards
            )

    def purge(self, older_than_days: float, *, now: datetime | None = None) -> int:
        """Delete requests older than ``older_than_days`` with their cards and feedback.

        Returns the number of requests deleted. Feedback goes with its card, whatever its date.
        """
        if older_than_days < 0:
            raise ValueError("older_than_days must be >= 0")
        cutoff = utc_naive(now) - timedelta(days=older_than_days)
        r, c, f = schema.requests_table, schema.cards_table, schema.feedback_table
        old_requests = select(r.c.id).where(r.c.time < cutoff)
        old_cards = select(c.c.uuid).where(c.c.request_id.in_(old_requests))
        with self._tx() as conn:
            conn.execute(delete(f).where(f.c.card_uuid.in_(old_cards)))
            conn.execute(delete(c).where(c.c.request_id.in_(old_requests)))
            deleted = conn.execute(delete(r).where(r.c.time < cutoff)).rowcount
        log.info("audit purge: %d requests older than %s deleted", deleted, cutoff.isoformat())
        return int(deleted)

    def counts(self) -> dict[str, int]:
        """Row counts per table (health checks, tests)."""
        with self._tx(readonly=True) as conn:
            return {
                t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0)
                for t in (schema.requests_table, schema.cards_table, schema.feedback_table)
            }

    def stats(self) -> dict[str, int]:
        """In-process counters for /metrics or a health check (this process only).

        ``requests_recorded``, ``cards_recorded``, ``feedback_recorded``, ``failures`` (writes
        that raised inside ``safe_record_request``), ``dropped`` (background queue full),
        ``queued`` (waiting for the writer thread).
        """
        with self._stats_lock:
            out = dict(self._stats)
        out["queued"] = self._queue.qsize() if self._queue is not None else 0
        return out
