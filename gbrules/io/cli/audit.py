"""``gbrules audit report``, ``gbrules audit monitor`` and ``gbrules audit purge``.

SQLAlchemy is imported inside the commands, so ``gbrules evaluate`` never pays for it and works
without the ``audit`` extra.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from gbrules.io.audit.log import AuditLog
    from gbrules.io.audit.records import Report

audit_app = typer.Typer(
    help="Audit trail of the CDS Hooks service: alert-fatigue report, retention.",
    no_args_is_help=True,
)

DB_HELP = "Audit database: SQLite file path or URL, or postgresql+psycopg://user:pw@host/db."


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def parse_since(value: str, *, now: datetime | None = None) -> datetime:
    """``2024-05-01``, ``2024-05-01T12:00:00+02:00`` (naive means UTC), or ``30d`` (days ago)."""
    value = value.strip()
    m = re.fullmatch(r"(\d+)d", value)
    if m:
        return (now or datetime.now(UTC)) - timedelta(days=int(m.group(1)))
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--since: not a date, a datetime or Nd: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _open(db: str) -> AuditLog:
    try:
        from gbrules.io.audit.log import AuditLog
    except ImportError as exc:
        _fail(f"the audit commands need the 'audit' extra: pip install 'gbrules[audit]' ({exc})")
    from gbrules.io.audit.records import AuditConfigError

    # Reports and purges never compute patient keys, so the site secret is not needed here.
    secret = os.environ.get("GBRULES_AUDIT_SECRET", "").encode("utf-8")
    if len(secret) < 16:
        secret = os.urandom(32)
    try:
        return AuditLog(db, secret=secret)
    except AuditConfigError as exc:
        _fail(str(exc))


def _db_error(exc: Exception) -> NoReturn:
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    _fail(f"audit database: {type(exc).__name__}: {first[0] if first else ''}", code=1)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def print_table(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    since = report.since.isoformat(sep=" ") + " UTC" if report.since else "the beginning"
    t = report.totals
    console.print(
        f"Audit report since {since}: {report.requests} requests, {t.shown} cards, "
        f"{t.accepted} accepted, {t.overridden} overridden, {t.no_response} no response, "
        f"override rate {_pct(t.override_rate)}"
    )
    rules = Table(title="Per rule and code (override rate = overridden / answered)")
    for name in ("rule", "code", "shown", "accepted", "overridden", "no response"):
        rules.add_column(name, justify="right" if name not in ("rule", "code") else "left")
    rules.add_column("override rate", justify="right")
    rules.add_column("top override reasons")
    for r in report.rules:
        c = r.counts
        rules.add_row(
            r.rule_id,
            r.code,
            str(c.shown),
            str(c.accepted),
            str(c.overridden),
            str(c.no_response),
            _pct(c.override_rate),
            ", ".join(f"{reason} ({n})" for reason, n in r.top_override_reasons),
        )
    console.print(rules)
    versions = Table(title="Per rulebook version")
    for name in ("rulebook version", "requests", "cards", "accepted", "overridden"):
        versions.add_column(name)
    versions.add_column("no response")
    versions.add_column("override rate")
    for v in report.versions:
        c = v.counts
        versions.add_row(
            v.rulebook_version,
            str(v.requests),
            str(c.shown),
            str(c.accepted),
            str(c.overridden),
            str(c.no_response),
            _pct(c.override_rate),
        )
    console.print(versions)


@audit_app.command("report")
def report_cmd(
    db: Annotated[str, typer.Option("--db", help=DB_HELP, envvar="GBRULES_AUDIT_DB")],
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only requests since DATE (YYYY-MM-DD, ISO time, or Nd)."),
    ] = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="table (rich), json or csv.")
    ] = ReportFormat.table,
) -> None:
    """Alert-fatigue report: per rule and code, times shown, accepted, overridden, unanswered."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        since_at = parse_since(since) if since is not None else None
    except ValueError as exc:
        _fail(str(exc))
    audit = _open(db)
    try:
        report = audit.report(since_at)
    except SQLAlchemyError as exc:
        _db_error(exc)
    finally:
        audit.close()
    if fmt is ReportFormat.json:
        typer.echo(report.to_json())
    elif fmt is ReportFormat.csv:
        typer.echo(report.to_csv(), nl=False)
    else:
        print_table(report)


@audit_app.command("monitor")
def monitor_cmd(
    db: Annotated[str, typer.Option("--db", help=DB_HELP, envvar="GBRULES_AUDIT_DB")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML report to write.")],
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only requests since DATE (YYYY-MM-DD, ISO time, or Nd)."),
    ] = None,
    band: Annotated[
        float,
        typer.Option(
            "--band", min=0.0, max=1.0, help="Flag a week-over-week change of a rate above this."
        ),
    ] = 0.2,
    min_requests: Annotated[
        int, typer.Option("--min-requests", min=1, help="Weeks with fewer requests are not judged.")
    ] = 20,
    min_cards: Annotated[
        int, typer.Option("--min-cards", min=1, help="Weeks with fewer answered cards not judged.")
    ] = 10,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit 1 when any rate drifted (for cron).")
    ] = False,
) -> None:
    """Per-rule firing, override and acceptance rates by week, drift flags, HTML report."""
    from sqlalchemy.exc import SQLAlchemyError

    from gbrules.io.audit.monitor import write_report

    try:
        since_at = parse_since(since) if since is not None else None
    except ValueError as exc:
        _fail(str(exc))
    audit = _open(db)
    try:
        monitoring = audit.monitoring(
            since_at, band=band, min_requests=min_requests, min_cards=min_cards
        )
    except SQLAlchemyError as exc:
        _db_error(exc)
    finally:
        audit.close()
    try:
        write_report(monitoring, out)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc}")
    for drift in monitoring.drifts:
        typer.echo(f"drift: {drift.text()}")
    typer.echo(
        f"{sum(monitoring.requests.values())} requests, {len(monitoring.weeks)} weeks, "
        f"{len(monitoring.drifts)} drift(s); report: {out}"
    )
    if fail_on_drift and monitoring.drifts:
        raise typer.Exit(1)


@audit_app.command("purge")
def purge_cmd(
    db: Annotated[str, typer.Option("--db", help=DB_HELP, envvar="GBRULES_AUDIT_DB")],
    older_than: Annotated[
        float,
        typer.Option("--older-than", min=0, help="Delete requests older than DAYS (and cards)."),
    ],
) -> None:
    """Delete requests older than DAYS with their cards and feedback (retention policy)."""
    from sqlalchemy.exc import SQLAlchemyError

    audit = _open(db)
    try:
        deleted = audit.purge(older_than)
    except SQLAlchemyError as exc:
        _db_error(exc)
    finally:
        audit.close()
    typer.echo(f"purged {deleted} requests older than {older_than:g} days")


@audit_app.command("shadow-report")
def shadow_report_cmd(
    db: Annotated[str, typer.Option("--db", help=DB_HELP, envvar="GBRULES_AUDIT_DB")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """What a shadow candidate would have changed: per active/candidate pair, requests
    compared and differing, and each code it would add or drop, with counts."""
    import json

    from sqlalchemy.exc import SQLAlchemyError

    audit = _open(db)
    try:
        summaries = audit.shadow_report()
        events = audit.admin_events()
    except SQLAlchemyError as exc:
        _db_error(exc)
    finally:
        audit.close()
    if as_json:
        body = {"shadow": [s.as_dict() for s in summaries], "admin": events}
        typer.echo(json.dumps(body, indent=2))
        return
    if not summaries:
        typer.echo("no shadow evaluations recorded")
    for s in summaries:
        typer.echo(
            f"active {s.active_version} vs candidate {s.candidate_version}: "
            f"{s.compared} compared, {s.differing} differ"
        )
        for code, n in sorted(s.added.items()):
            typer.echo(f"  + {code}: {n}")
        for code, n in sorted(s.dropped.items()):
            typer.echo(f"  - {code}: {n}")
    for e in events:
        typer.echo(f"{e['time']} {e['actor']}: {e['action']} {e['detail']}")
