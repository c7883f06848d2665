"""The ``gbrules`` command line (typer: typed options, help and shell completion for free).

Bad input never shows a traceback: an invalid intake exits 2 with every bad field's path on
stderr, an invalid rulebook exits 2 with its file and rule id.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from gbrules.errors import IntakeError, RulebookError

app = typer.Typer(
    name="gbrules",
    help="Draft gut-brain care plans for clinician review from a patient intake.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Inspect and check rulebooks.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


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


@app.command()
def evaluate(
    intake: Annotated[str | None, typer.Argument(help="Intake JSON file, or - for stdin.")] = None,
    example: Annotated[
        str | None, typer.Option("--example", help="A bundled example: case1, case2, crisis.")
    ] = None,
    fmt: Annotated[OutFormat, typer.Option("--format", help="Output format.")] = OutFormat.markdown,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="A site rule pack added to the default rulebook.")
    ] = None,
) -> None:
    """Evaluate one intake and print the care-plan draft."""
    from gbrules.engine import cached_engine
    from gbrules.render import Format, render_care_plan

    data = _read_intake(intake, example)
    try:
        ev = cached_engine(rules).evaluate(data)
    except IntakeError as exc:
        _fail(["error: invalid intake:"] + [f"  {e.path}: {e.message}" for e in exc.errors])
    except RulebookError as exc:
        _fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    if fmt is OutFormat.json:
        typer.echo(ev.model_dump_json(indent=2))
    else:
        out_format: Format = fmt.value  # type: ignore[assignment]
        typer.echo(render_care_plan(ev, out_format), nl=False)


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
