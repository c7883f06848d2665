"""Plain records of the audit trail: what goes in, what comes out. No SQLAlchemy here.

These types can be imported without the ``audit`` extra installed, so the CDS Hooks service can
build :class:`CardRecord` values and catch :class:`UnknownCard` whatever its configuration.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Outcome = Literal["accepted", "overridden"]
Indicator = Literal["info", "warning", "critical"]

OUTCOMES: frozenset[str] = frozenset({"accepted", "overridden"})
INDICATORS: frozenset[str] = frozenset({"info", "warning", "critical"})

# Override reasons and accepted suggestions are stored as codes and identifiers, never free text:
# a clinician's free-text comment (CDS Hooks ``overrideReason.userComment``) may name the patient.
_CODE_RE = re.compile(r"^[A-Za-z0-9._:/#|+-]{1,128}$")


class AuditError(Exception):
    """Base class of the audit trail's own errors."""


class AuditConfigError(AuditError, ValueError):
    """The audit trail is misconfigured (no secret, unsupported database URL, ...)."""


class AuditSchemaError(AuditError):
    """The database holds a schema newer than this library knows: refuse to write into it."""


class UnknownCard(AuditError, LookupError):
    """Feedback for a card uuid the trail never recorded. Nothing was stored (HTTP 404)."""

    def __init__(self, card_uuid: str) -> None:
        super().__init__(f"unknown card uuid {card_uuid!r}")
        self.card_uuid = card_uuid


@dataclass(frozen=True, slots=True)
class CardRecord:
    """One CDS Hooks card as the audit trail keeps it: identifiers only, no summary or detail.

    ``uuid`` is the card's ``uuid`` sent to the EHR; ``code`` and ``rule_id`` are those of the
    suggestion the card shows; ``indicator`` is the card's ``info`` | ``warning`` | ``critical``.
    """

    uuid: str
    code: str
    rule_id: str
    indicator: Indicator

    def __post_init__(self) -> None:
        check_code(self.uuid, "card uuid")
        check_code(self.code, "code")
        check_code(self.rule_id, "rule_id")
        if self.indicator not in INDICATORS:
            raise ValueError(f"indicator must be one of {sorted(INDICATORS)}: {self.indicator!r}")


def check_code(value: object, what: str) -> str:
    """A short identifier without spaces (codes, uuids, rule ids); anything else is refused."""
    if not isinstance(value, str) or not _CODE_RE.fullmatch(value):
        raise ValueError(f"{what} must be a short identifier without spaces, got {value!r}")
    return value


def pseudonym(patient_id: str | None, secret: bytes) -> str | None:
    """The pseudonymous patient key: HMAC-SHA256 of the patient id under the site's secret.

    Without the secret the key cannot be reversed or recomputed from a guessed id; with it, a
    site can find one patient's rows (subject access, erasure). ``None`` when no id was given.
    """
    if patient_id is None:
        return None
    return hmac.new(secret, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()


def utc_naive(at: datetime | None) -> datetime:
    """Times are stored as naive UTC on every backend; naive input is taken to be UTC already."""
    if at is None:
        at = datetime.now(UTC)
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


@dataclass(frozen=True, slots=True)
class Counts:
    """Outcome counts of a set of cards. Each card counts once, by its latest feedback."""

    shown: int = 0
    accepted: int = 0
    overridden: int = 0

    @property
    def no_response(self) -> int:
        return self.shown - self.accepted - self.overridden

    @property
    def override_rate(self) -> float | None:
        """Overridden / (accepted + overridden): among cards the clinician answered."""
        return _rate(self.overridden, self.accepted + self.overridden)

    @property
    def response_rate(self) -> float | None:
        """(accepted + overridden) / shown."""
        return _rate(self.accepted + self.overridden, self.shown)

    def as_dict(self) -> dict[str, Any]:
        return {
            "shown": self.shown,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "no_response": self.no_response,
            "override_rate": self.override_rate,
            "response_rate": self.response_rate,
        }


@dataclass(frozen=True, slots=True)
class RuleStats:
    """How one (rule, code) fared: shown, accepted, overridden, unanswered, top reasons."""

    rule_id: str
    code: str
    counts: Counts
    top_override_reasons: list[tuple[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "code": self.code,
            **self.counts.as_dict(),
            "top_override_reasons": [
                {"reason": r, "count": n} for r, n in self.top_override_reasons
            ],
        }


@dataclass(frozen=True, slots=True)
class VersionStats:
    """Totals for one rulebook version."""

    rulebook_version: str
    requests: int
    counts: Counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "rulebook_version": self.rulebook_version,
            "requests": self.requests,
            **self.counts.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """Alert-fatigue report over the requests recorded since ``since`` (all when ``None``).

    ``rules`` is ordered by override rate (highest first, unanswered-only rules last), then by
    times shown; ``versions`` by rulebook version.
    """

    since: datetime | None
    generated_at: datetime
    requests: int
    totals: Counts
    rules: list[RuleStats]
    versions: list[VersionStats]

    def rule(self, rule_id: str, code: str | None = None) -> RuleStats | None:
        return next(
            (r for r in self.rules if r.rule_id == rule_id and (code is None or r.code == code)),
            None,
        )

    def version(self, rulebook_version: str) -> VersionStats | None:
        return next((v for v in self.versions if v.rulebook_version == rulebook_version), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "generated_at": self.generated_at.isoformat(),
            "requests": self.requests,
            "totals": self.totals.as_dict(),
            "rules": [r.as_dict() for r in self.rules],
            "versions": [v.as_dict() for v in self.versions],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent)

    def to_csv(self) -> str:
        """One line per (rule, code); reasons as ``reason=count`` joined by ``;``."""
        out = io.StringIO()
        columns = [
            "rule_id",
            "code",
            "shown",
            "accepted",
            "overridden",
            "no_response",
            "override_rate",
            "response_rate",
            "top_override_reasons",
        ]
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in self.rules:
            row = r.as_dict()
            row["top_override_reasons"] = ";".join(f"{x}={n}" for x, n in r.top_override_reasons)
            writer.writerow({k: "" if row[k] is None else row[k] for k in columns})
        return out.getvalue()


__all__ = [
    "INDICATORS",
    "OUTCOMES",
    "AuditConfigError",
    "AuditError",
    "AuditSchemaError",
    "CardRecord",
    "Counts",
    "Indicator",
    "Outcome",
    "Report",
    "RuleStats",
    "UnknownCard",
    "VersionStats",
    "check_code",
    "pseudonym",
    "utc_naive",
]


@dataclass(slots=True)
class ShadowSummary:
    """What a shadow candidate would have changed against one active release: requests
    compared, requests whose plan differs, and per code how often it would be added or
    dropped (``gbrules audit shadow-report``)."""

    active_version: str
    candidate_version: str
    compared: int = 0
    differing: int = 0
    added: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "active_version": self.active_version,
            "candidate_version": self.candidate_version,
            "compared": self.compared,
            "differing": self.differing,
            "added": dict(sorted(self.added.items())),
            "dropped": dict(sorted(self.dropped.items())),
        }
