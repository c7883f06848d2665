"""Alert-fatigue analytics over the audit trail: how often each rule's cards are shown,
accepted, overridden or left unanswered, and why they are overridden.

Each card counts once, by its latest feedback (greatest ``at``, then the last stored). Counting
is done in SQL (grouped rows only come back); only the override-reason lists of overridden cards
are read row by row, because JSON functions differ between SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import Connection, Subquery, and_, func, select

from gbrules.io.audit import schema
from gbrules.io.audit.records import Counts, Report, RuleStats, VersionStats, utc_naive

TOP_REASONS = 3


def latest_feedback() -> Subquery:
    f = schema.feedback_table
    rank = (
        func.row_number()
        .over(partition_by=f.c.card_uuid, order_by=(f.c.at.desc(), f.c.id.desc()))
        .label("rank")
    )
    return select(f.c.card_uuid, f.c.outcome, f.c.override_reasons, rank).subquery("latest")


def build_report(conn: Connection, since: datetime | None) -> Report:
    r, c = schema.requests_table, schema.cards_table
    latest = latest_feedback()
    joined = c.join(r, c.c.request_id == r.c.id).outerjoin(
        latest, and_(latest.c.card_uuid == c.c.uuid, latest.c.rank == 1)
    )
    window = [] if since is None else [r.c.time >= since]

    # (version, rule, code, outcome|None) -> cards
    grouped = conn.execute(
        select(r.c.rulebook_version, c.c.rule_id, c.c.code, latest.c.outcome, func.count())
        .select_from(joined)
        .where(*window)
        .group_by(r.c.rulebook_version, c.c.rule_id, c.c.code, latest.c.outcome)
    ).all()
    per_rule: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    per_version: dict[str, Counter[str]] = defaultdict(Counter)
    for version, rule_id, code, outcome, n in grouped:
        for bucket in (per_rule[(rule_id, code)], per_version[version]):
            bucket["shown"] += n
            if outcome is not None:
                bucket[outcome] += n

    reasons: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for rule_id, code, raw in conn.execute(
        select(c.c.rule_id, c.c.code, latest.c.override_reasons)
        .select_from(joined)
        .where(latest.c.outcome == "overridden", *window)
    ):
        reasons[(rule_id, code)].update(json.loads(raw))

    requests_per_version: dict[str, int] = {
        version: int(n)
        for version, n in conn.execute(
            select(r.c.rulebook_version, func.count()).where(*window).group_by(r.c.rulebook_version)
        )
    }

    def counts(b: Counter[str]) -> Counts:
        return Counts(shown=b["shown"], accepted=b["accepted"], overridden=b["overridden"])

    rules = [
        RuleStats(
            rule_id=rule_id,
            code=code,
            counts=counts(b),
            top_override_reasons=sorted(
                reasons[(rule_id, code)].items(), key=lambda kv: (-kv[1], kv[0])
            )[:TOP_REASONS],
        )
        for (rule_id, code), b in per_rule.items()
    ]
    rules.sort(
        key=lambda s: (
            s.counts.override_rate is None,
            -(s.counts.override_rate or 0.0),
            -s.counts.shown,
            s.rule_id,
            s.code,
        )
    )
    versions = [
        VersionStats(
            rulebook_version=v,
            requests=int(requests_per_version.get(v, 0)),
            counts=counts(per_version.get(v, Counter())),
        )
        for v in sorted(set(requests_per_version) | set(per_version))
    ]
    total: Counter[str] = Counter()
    for b in per_version.values():
        total.update(b)
    return Report(
        since=since,
        generated_at=utc_naive(None),
        requests=sum(requests_per_version.values()),
        totals=counts(total),
        rules=rules,
        versions=versions,
    )
