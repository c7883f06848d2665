"""``gbrules evaluate``: one intake to one care-plan draft (or its Evaluation as JSON)."""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gbrules.core.errors import EngineError, IntakeError, RulebookError
from gbrules.io.cli._common import (
    RequireApprovedOption,
    RequireProvedOption,
    SiteOption,
    check_approved,
    fail,
    read_intake,
    refuse_unapproved,
)
from gbrules.io.cli.prove import enforce_proofs

if TYPE_CHECKING:
    from gbrules.clinical.site import SiteConfig
    from gbrules.core.result import Evaluation
    from gbrules.io.render import Audience, Format


class OutFormat(StrEnum):
    markdown = "markdown"
    html = "html"
    text = "text"
    json = "json"


class OutAudience(StrEnum):
    clinician = "clinician"
    patient = "patient"


def _explain(ev: Evaluation) -> None:
    """Fired rules, facts and suppressions as rich tables (colour only on a terminal)."""
    from rich.console import Console
    from rich.table import Table

    from gbrules.io.render import fact_rows

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
    release: Annotated[
        Path | None,
        typer.Option(
            "--release", help="Run a signed, approved release instead of the bundled rulebook."
        ),
    ] = None,
    keyring: Annotated[
        Path | None,
        typer.Option("--keyring", envvar="GBRULES_KEYRING", help="Keys trusted for --release."),
    ] = None,
    site: SiteOption = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Evaluate as of this day (YYYY-MM-DD): older dated values count as stale.",
        ),
    ] = None,
    require_proved: RequireProvedOption = False,
    require_approved: RequireApprovedOption = False,
) -> None:
    """Evaluate one intake and print the care-plan draft."""
    import jinja2

    from gbrules.clinical.engine import cached_engine
    from gbrules.io.render import render_care_plan

    if templates is not None and not templates.is_dir():
        fail([f"error: --templates {templates}: not a directory"])
    from gbrules.clinical.site import evaluate_at_site
    from gbrules.io.cli.site import load_site_or_fail

    day = _day(as_of)
    site_config = load_site_or_fail(site, rules) if site is not None else None
    if release is None:
        check_approved(rules, require_approved)
    data = read_intake(intake, example)
    try:
        if release is None:
            engine = cached_engine(rules)
            if require_proved:
                enforce_proofs(engine)
            ev = evaluate_at_site(engine, data, as_of=day, site=site_config)
        else:
            ev = _evaluate_release(
                release,
                keyring,
                rules,
                data,
                day,
                site_config,
                require_proved=require_proved,
                require_approved=require_approved,
            )
    except IntakeError as exc:
        fail(["error: invalid intake:"] + [f"  {e.path}: {e.message}" for e in exc.errors])
    except RulebookError as exc:
        fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    except EngineError as exc:
        fail([f"error: no plan was produced: {exc}"], code=1)
    if fmt is OutFormat.json:
        text = ev.model_dump_json(indent=2) + "\n"
    else:
        try:
            text = render_care_plan(
                ev,
                _RENDER_FORMATS[fmt],
                audience=_AUDIENCES[audience],
                templates=templates,
                country=site_config.country if site_config is not None else None,
            )
        except jinja2.TemplateError as exc:
            fail([f"error: template: {type(exc).__name__}: {exc}"])
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail([f"error: cannot write {output}: {exc}"])
    if explain:
        _explain(ev)


def _day(value: str | None) -> date | None:
    """``--as-of``: an ISO day, or exit 2 naming the option."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail([f"error: --as-of {value!r} is not a day (YYYY-MM-DD)"])


_RENDER_FORMATS: dict[OutFormat, Format] = {
    OutFormat.markdown: "markdown",
    OutFormat.html: "html",
    OutFormat.text: "text",
}
_AUDIENCES: dict[OutAudience, Audience] = {
    OutAudience.clinician: "clinician",
    OutAudience.patient: "patient",
}


def _evaluate_release(
    release: Path,
    keyring: Path | None,
    site_pack: Path | None,
    data: object,
    as_of: date | None = None,
    site: SiteConfig | None = None,
    *,
    require_proved: bool = False,
    require_approved: bool = False,
) -> Evaluation:
    """One evaluation under a verified release (its rules replace the bundled rulebook)."""
    import tempfile

    from gbrules.clinical.engine import Engine
    from gbrules.clinical.site import evaluate_at_site
    from gbrules.io.cli.release import load_active_release_rules

    if keyring is None:
        fail(["error: --release needs --keyring (or GBRULES_KEYRING): the keys the site trusts"])
    with tempfile.TemporaryDirectory(prefix="gbrules-release-") as tmp:
        rules_dir = load_active_release_rules(release, keyring, Path(tmp))
        packs = [site_pack] if site_pack is not None else []
        engine = Engine.from_directory(rules_dir, *packs)
        if require_approved:
            refuse_unapproved(engine.rulebook)
        try:
            if require_proved:
                enforce_proofs(engine)
            return evaluate_at_site(engine, data, as_of=as_of, site=site)
        finally:
            engine.close()
