"""The audit schema and its migrations, run by the library itself (SQLAlchemy 2 Core).

Why not Alembic: the trail is one small schema of three tables that the library owns outright;
Alembic would add a dependency, a migrations directory and a separate ``upgrade`` step that every
site (and the CDS Hooks service) would have to remember. Instead the migrations are a short
ordered list in this module, applied in-process when an :class:`~gbrules.io.audit.AuditLog` first
touches its database (or when ``AuditLog.migrate()`` is called at startup):

* versioned: table ``gbrules_audit_migrations`` holds one row per applied version;
* idempotent: a version that is already recorded is never applied again;
* atomic: each run applies the missing versions and records them in one transaction (PostgreSQL
  and SQLite both have transactional DDL), so a crash leaves the old schema or the new one;
* safe under concurrent starters (several service workers starting at once): on PostgreSQL the
  run holds a transaction-level advisory lock, on SQLite the write transaction is
  ``BEGIN IMMEDIATE``; a second starter waits, then finds the versions recorded and does nothing;
* forward-only and refusing: a database migrated by a newer gbrules (a version this module does
  not know) raises :class:`~gbrules.io.audit.records.AuditSchemaError` instead of writing into it.

All times are naive UTC. JSON lists are stored as text so both backends read them the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    text,
)

from gbrules.io.audit.records import AuditSchemaError, utc_naive

metadata = MetaData()

migrations_table = Table(
    "gbrules_audit_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("applied_at", DateTime, nullable=False),
)

# One row per CDS Hooks request answered (one evaluation). No intake values, no raw patient id.
requests_table = Table(
    "gbrules_audit_requests",
    metadata,
    Column("id", String(36), primary_key=True),  # uuid4 assigned by the library
    Column("time", DateTime, nullable=False),
    Column("hook", String(100), nullable=False),
    Column("hook_instance", String(100), nullable=False),
    Column("service_id", String(100), nullable=False),
    Column("rulebook_version", String(100), nullable=False),
    Column("patient_key", String(64)),  # HMAC-SHA256 hex of the patient id, or NULL
    Column("fired_rules", Text, nullable=False),  # JSON list of rule ids, in firing order
)

# One row per card shown. The card's uuid is the key the EHR's feedback refers to.
cards_table = Table(
    "gbrules_audit_cards",
    metadata,
    Column("uuid", String(128), primary_key=True),
    Column(
        "request_id",
        String(36),
        ForeignKey("gbrules_audit_requests.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("code", String(128), nullable=False),
    Column("rule_id", String(128), nullable=False),
    Column("indicator", String(16), nullable=False),
    CheckConstraint("indicator IN ('info', 'warning', 'critical')", name="ck_card_indicator"),
)

# One row per distinct feedback: a retry of the same (card, outcome, time) is stored once.
feedback_table = Table(
    "gbrules_audit_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "card_uuid",
        String(128),
        ForeignKey("gbrules_audit_cards.uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", Text, nullable=False),  # JSON list of suggestion uuids
    Column("override_reasons", Text, nullable=False),  # JSON list of reason codes
    Column("at", DateTime, nullable=False),  # the EHR's outcomeTimestamp (UTC)
    Column("recorded_at", DateTime, nullable=False),
    CheckConstraint("outcome IN ('accepted', 'overridden')", name="ck_feedback_outcome"),
    UniqueConstraint("card_uuid", "outcome", "at", name="uq_feedback_card_outcome_at"),
)

# Shadow mode (schema v2): one row per request a candidate release was evaluated on beside the
# active one. Codes only (the difference of the two plans), never an intake value.
shadow_table = Table(
    "gbrules_audit_shadow",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", DateTime, nullable=False),
    Column("hook_instance", String(100), nullable=False),
    Column("active_version", String(100), nullable=False),
    Column("candidate_version", String(100), nullable=False),
    Column("only_active", Text, nullable=False),  # JSON list of codes the candidate would drop
    Column("only_candidate", Text, nullable=False),  # JSON list of codes the candidate would add
)

# Operator actions on a running service (schema v2): promote, roll back, a rule switched off or
# on. Who did it (the name the operator gave, with the admin token), what, and the versions.
admin_table = Table(
    "gbrules_audit_admin",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", DateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(32), nullable=False),
    Column("detail", Text, nullable=False),
)

# Reporting and retention: by time (since / purge), by version, by rule, by card, by patient key
# (a site answering a subject-access or erasure request).
INDEXES = [
    Index("ix_audit_requests_time", requests_table.c.time),
    Index("ix_audit_requests_version", requests_table.c.rulebook_version),
    Index("ix_audit_requests_patient_key", requests_table.c.patient_key),
    Index("ix_audit_cards_request", cards_table.c.request_id),
    Index("ix_audit_cards_rule_code", cards_table.c.rule_id, cards_table.c.code),
    Index("ix_audit_feedback_card_at", feedback_table.c.card_uuid, feedback_table.c.at),
]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _v1_initial(conn: Connection) -> None:
    # Creating a table creates its indexes (INDEXES are bound to the tables' columns).
    for table in (requests_table, cards_table, feedback_table):
        table.create(conn)


def _v2_shadow_admin(conn: Connection) -> None:
    for table in (shadow_table, admin_table):
        table.create(conn)


MIGRATIONS: list[Migration] = [
    Migration(1, "requests, cards, feedback and reporting indexes", _v1_initial),
    Migration(2, "shadow-mode differences and operator actions", _v2_shadow_admin),
]

SCHEMA_VERSION = MIGRATIONS[-1].version

# Any constant works; this one is "gbrules-audit" folded into a signed 64-bit integer.
_PG_ADVISORY_LOCK_KEY = 0x6762_7275_6C65_7341


def migrate(conn: Connection) -> list[int]:
    """Bring the schema up to date inside the caller's transaction; return versions applied.

    The caller must hold a write transaction (``engine.begin()``); on SQLite ours begins
    ``IMMEDIATE``, which serialises concurrent starters. On PostgreSQL an advisory lock does.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_ADVISORY_LOCK_KEY})
    migrations_table.create(conn, checkfirst=True)
    applied = set(conn.scalars(select(migrations_table.c.version)))
    known = {m.version for m in MIGRATIONS}
    unknown = sorted(applied - known)
    if unknown:
        raise AuditSchemaError(
            f"the audit database has schema version(s) {unknown} that this gbrules does not "
            f"know (it knows up to {SCHEMA_VERSION}); upgrade gbrules"
        )
    done: list[int] = []
    for m in MIGRATIONS:
        if m.version in applied:
            continue
        m.apply(conn)
        conn.execute(
            migrations_table.insert().values(
                version=m.version, name=m.name, applied_at=utc_naive(None)
            )
        )
        done.append(m.version)
    return done


ALL_TABLES = [
    migrations_table,
    requests_table,
    cards_table,
    feedback_table,
    shadow_table,
    admin_table,
]
