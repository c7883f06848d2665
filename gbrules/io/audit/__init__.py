"""Audit trail and alert-fatigue analytics for the gbrules CDS Hooks service (issue 8).

>>> from gbrules.io.audit import AuditLog, CardRecord, UnknownCard
>>> audit = AuditLog("audit.db", secret=b"a long random site secret")   # or postgresql+psycopg://
>>> audit.safe_record_request("patient-view", hook_instance, "gbrules-care-plan", ev, cards)
>>> audit.record_feedback(card_uuid, "overridden", override_reasons=["not-indicated"])
>>> audit.report().rules

``AuditLog.from_env()`` reads ``GBRULES_AUDIT_DB`` and ``GBRULES_AUDIT_SECRET``. See
docs/AUDIT.md for the schema, the report and the exact calls the service makes.

Needs the ``audit`` extra (SQLAlchemy 2, psycopg 3). The plain records (``CardRecord``,
``UnknownCard``, ``Report`` ...) import without it; ``AuditLog`` is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gbrules.io.audit.records import (
    AuditConfigError,
    AuditError,
    AuditSchemaError,
    CardRecord,
    Counts,
    Report,
    RuleStats,
    UnknownCard,
    VersionStats,
    pseudonym,
)
from gbrules.io.extras import require

if TYPE_CHECKING:
    from gbrules.io.audit.log import AuditLog

__all__ = [
    "AuditConfigError",
    "AuditError",
    "AuditLog",
    "AuditSchemaError",
    "CardRecord",
    "Counts",
    "Report",
    "RuleStats",
    "UnknownCard",
    "VersionStats",
    "pseudonym",
]


def __getattr__(name: str) -> Any:
    if name == "AuditLog":
        # Without the 'audit' extra: MissingExtraError, an ImportError naming the extra.
        require("audit", "the audit trail (gbrules.io.audit.AuditLog)")
        from gbrules.io.audit.log import AuditLog

        return AuditLog
    raise AttributeError(f"module 'gbrules.io.audit' has no attribute {name!r}")
