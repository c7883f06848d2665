"""The ``gbrules`` command line (typer: typed options, help and shell completion for free).

Bad input never shows a traceback: an invalid intake exits 2 with every bad field's path on
stderr, an invalid rulebook exits 2 with its file and rule id.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from gbrules.audit.cli import audit_app
from gbrules.batch import batch_command
from gbrules.errors import EngineError, IntakeError, RulebookError

if TYPE_CHECKING:
    from gbrules.evaluation import Evaluation
    from gbrules.render import Audience, Format

app = typer.Typer(
    name="gbrules",
    help="Draft gut-brain care plans for clinician review from a patient intake.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Inspect and check rulebooks.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(audit_app, name="audit")


class OutFormat(StrEnum):
    markdown = "markdown"
    html = "html"
    text = "text"
    json = "json"


def _fail(lines: list[str], code: int = 2) -> NoReturn:
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(code)


def _read_intake(source: str | None, example: str | None) -> Any:
    from gbrules.examples import load_example

    if example is not None:
        try:
            return load_example(example)
        except KeyError as exc:
            _fail([f"error: {exc.args[0]}"])
    if source is None:
        _fail(["error: give an intake file (or - for stdin), or --example NAME"])
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail([f"error: cannot read {source}: {exc}"])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(
            [f"error: {source} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        )
    except (ValueError, RecursionError) as exc:
        # Python's own limits: integers over 4,300 digits, nesting deeper than the stack.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        _fail([f"error: {source} cannot be read as an intake: {reason}"])


class OutAudience(StrEnum):
    clinician = "clinician"
    patient = "patient"


def _explain(ev: Evaluation) -> None:
    """Fired rules, facts and suppressions as rich tables (colour only on a terminal)."""
    from rich.console import Console
    from rich.table import Table

    from gbrules.render import fact_rows

    console = Console(highlight=False, color_system="auto" if sys.stdout.isatty() else None)
    console.print(f"[bold]Explanation[/bold] (rulebook {ev.rulebook_version})")
    status: dict[str, str] = {s.rule_id: "active" for s in ev.suggestions}
    for d in ev.suppressed:
        status.setdefault(d.rule_id, f"{d.action} by {d.by_rule}")
    fired = Table(title="Fired rules, in firing order", title_justify="left")
    for col in ("#", "rule", "code", "priority", "outcome"):
        fired.add_column(col, overflow="fold")
    codes: dict[str, tuple[str, str]] = {s.rule_id: (s.code, s.priority) for s in ev.suggestions}
    codes.update({d.rule_id: (d.code, "") for d in ev.suppressed if d.rule_id not in codes})
    for n, rule_id in enumerate(ev.fired_rules, 1):
        code, priority = codes.get(rule_id, ("", ""))
        outcome = status.get(rule_id, "merged (same code, higher priority rule kept)")
        style = "bold red" if priority == "critical" else ("yellow" if priority == "urgent" else "")
        fired.add_row(str(n), rule_id, code, priority, outcome, style=style)
    console.print(fired)
    facts = Table(title="Facts the rules saw", title_justify="left")
    for col in ("fact", "label", "value"):
        facts.add_column(col, overflow="fold")
    for name, label, value in fact_rows(ev.facts):
        facts.add_row(name, label, value)
    console.print(facts)
    console.print("Not recorded: " + (", ".join(ev.not_recorded) or "nothing"))
    if ev.suppressed:
        sup = Table(title="Suppressed or deferred", title_justify="left")
        for col in ("code", "proposed by", "action", "by rule", "reason"):
            sup.add_column(col, overflow="fold")
        for d in ev.suppressed:
            sup.add_row(d.code, d.rule_id, d.action, d.by_rule, d.reason)
        console.print(sup)
    else:
        console.print("Suppressed or deferred: nothing")


@app.command()
def evaluate(
    intake: Annotated[str | None, typer.Argument(help="Intake JSON file, or - for stdin.")] = None,
    example: Annotated[
        str | None, typer.Option("--example", help="A bundled example: case1, case2, crisis.")
    ] = None,
    fmt: Annotated[OutFormat, typer.Option("--format", help="Output format.")] = OutFormat.markdown,
    audience: Annotated[
        OutAudience, typer.Option("--audience", help="Who the draft is written for.")
    ] = OutAudience.clinician,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the draft to FILE, not stdout.")
    ] = None,
    templates: Annotated[
        Path | None,
        typer.Option("--templates", help="A site template directory, searched first."),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Also print fired rules, facts and suppressions."),
    ] = False,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="A site rule pack added to the default rulebook.")
    ] = None,
) -> None:
    """Evaluate one intake and print the care-plan draft."""
    import jinja2

    from gbrules.engine import cached_engine
    from gbrules.render import render_care_plan

    if templates is not None and not templates.is_dir():
        _fail([f"error: --templates {templates}: not a directory"])
    data = _read_intake(intake, example)
    try:
        ev = cached_engine(rules).evaluate(data)
    except IntakeError as exc:
        _fail(["error: invalid intake:"] + [f"  {e.path}: {e.message}" for e in exc.errors])
    except RulebookError as exc:
        _fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    except EngineError as exc:
        _fail([f"error: no plan was produced: {exc}"], code=1)
    if fmt is OutFormat.json:
        text = ev.model_dump_json(indent=2) + "\n"
    else:
        try:
            text = render_care_plan(
                ev, _RENDER_FORMATS[fmt], audience=_AUDIENCES[audience], templates=templates
            )
        except jinja2.TemplateError as exc:
            _fail([f"error: template: {type(exc).__name__}: {exc}"])
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            _fail([f"error: cannot write {output}: {exc}"])
    if explain:
        _explain(ev)


_RENDER_FORMATS: dict[OutFormat, Format] = {
    OutFormat.markdown: "markdown",
    OutFormat.html: "html",
    OutFormat.text: "text",
}
_AUDIENCES: dict[OutAudience, Audience] = {
    OutAudience.clinician: "clinician",
    OutAudience.patient: "patient",
}


@rules_app.command("list")
def rules_list(
    directory: Annotated[Path | None, typer.Argument(help="Rulebook directory.")] = None,
) -> None:
    """List every rule: id, code, priority, condition, evidence."""
    from rich.console import Console
    from rich.table import Table

    from gbrules.rulebook import default_rules_dir, load_rulebook

    try:
        rb = load_rulebook(directory or default_rules_dir())
    except RulebookError as exc:
        _fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    table = Table(title=f"{rb.name} {rb.version_label}: {len(rb.rules)} rules", show_lines=True)
    table.add_column("id", no_wrap=True, overflow="fold")
    table.add_column("code", no_wrap=True, overflow="fold")
    table.add_column("priority")
    table.add_column("condition", overflow="fold")
    table.add_column("evidence", overflow="fold")
    for r in rb.rules:
        cond = r.condition.text()
        if cond.startswith("(") and cond.endswith(")"):
            cond = cond[1:-1]
        table.add_row(r.id, r.code, r.priority, cond, "\n".join(r.evidence))
    console.print(table)


@rules_app.command("lint")
def rules_lint(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Rulebook directory, or a site pack (linted on the default)."),
    ] = None,
) -> None:
    """Check a rulebook; exit 0 when clean, 1 with findings (each with file and rule id)."""
    from gbrules.lint import lint

    findings = lint(directory)
    for f in findings:
        typer.echo(f.text())
    if findings:
        typer.echo(f"{len(findings)} finding(s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {directory or 'default rulebook'}: no findings")


class DiffFormat(StrEnum):
    text = "text"
    json = "json"


@rules_app.command("diff")
def rules_diff(
    old: Annotated[Path, typer.Argument(help="The current rulebook directory.")],
    new: Annotated[Path, typer.Argument(help="The proposed rulebook directory.")],
    population: Annotated[
        int, typer.Option("--population", min=1, help="How many synthetic intakes.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic population.")] = 0,
    fmt: Annotated[DiffFormat, typer.Option("--format", help="Output format.")] = DiffFormat.text,
) -> None:
    """Which codes appear, disappear or change priority, over a synthetic population."""
    from gbrules.population import diff_rulebooks

    try:
        report = diff_rulebooks(old, new, population, seed)
    except RulebookError as exc:
        _fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    if fmt is DiffFormat.json:
        typer.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        typer.echo(report.text(), nl=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="A site rule pack added to the default rulebook.")
    ] = None,
    jwks: Annotated[
        Path | None, typer.Option("--jwks", help="JWKS file with the EHR's public keys.")
    ] = None,
    issuer: Annotated[
        list[str] | None, typer.Option("--issuer", help="A trusted JWT issuer (repeatable).")
    ] = None,
    audience: Annotated[
        str | None, typer.Option("--audience", help="This service's URL (the JWT aud).")
    ] = None,
    audit_db: Annotated[
        str | None,
        typer.Option(
            "--audit-db",
            help="Audit-trail database (SQLite path or SQLAlchemy URL); needs "
            "GBRULES_AUDIT_SECRET. Default: GBRULES_AUDIT_DB, else no audit trail.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes, each with its own compiled engine (the engine serialises "
            "evaluations within a process). Not with JWT auth: the jti replay cache is "
            "per process.",
        ),
    ] = 1,
) -> None:
    """Run the CDS Hooks service (needs the 'service' and 'fhir' extras)."""
    try:
        import uvicorn

        from gbrules.engine import cached_engine
        from gbrules.service import JWTAuth, create_app
    except ImportError as exc:
        _fail([f"error: {exc}; install with: pip install 'gbrules[fhir,service]'"])
    auth = None
    if jwks or issuer or audience:
        if not (jwks and issuer and audience):
            _fail(["error: JWT auth needs --jwks, at least one --issuer, and --audience"])
        try:
            auth = JWTAuth(jwks, issuers=issuer, audience=audience)
        except (OSError, ValueError) as exc:
            _fail([f"error: cannot load JWKS {jwks}: {exc}"])
    try:
        engine = cached_engine(rules)
    except RulebookError as exc:
        _fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    if workers > 1:
        if auth is not None:
            _fail(
                [
                    "error: --workers > 1 cannot be combined with JWT auth yet: each process "
                    "would keep its own jti replay cache, so a token could be replayed "
                    "against another worker"
                ]
            )
        import os

        _audit_log(audit_db)  # check the audit settings (and migrate) once, up front
        os.environ["GBRULES_SERVE_RULES"] = str(rules.resolve()) if rules else ""
        if audit_db is not None:
            os.environ["GBRULES_AUDIT_DB"] = audit_db
        uvicorn.run(
            "gbrules.service.app:app_from_env", factory=True, host=host, port=port, workers=workers
        )
        return
    audit = _audit_log(audit_db)
    try:
        uvicorn.run(create_app(engine, auth=auth, audit=audit), host=host, port=port)
    finally:
        if audit is not None:
            audit.close()


def _audit_log(url: str | None) -> Any:
    """The service's audit trail (``--audit-db`` or the environment), migrated, or None."""
    import logging
    import os

    if url is None and not os.environ.get("GBRULES_AUDIT_DB"):
        return None
    try:
        from gbrules.audit import AuditLog
    except ImportError as exc:
        _fail([f"error: {exc}; install with: pip install 'gbrules[audit]'"])
    env = dict(os.environ)
    if url is not None:
        env["GBRULES_AUDIT_DB"] = url
    try:
        audit = AuditLog.from_env(env)
    except ValueError as exc:
        _fail([f"error: audit trail: {exc}"])
    if audit is None:
        return None
    try:
        audit.migrate()
    except Exception as exc:
        # Keep serving: writes are retried per request and failures are counted in /health.
        logging.getLogger("gbrules.service").warning(
            "audit database unavailable at startup: %s", type(exc).__name__
        )
    return audit


app.command("batch")(batch_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
