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

from gbrules.errors import EngineError, IntakeError, RulebookError

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
    except (ValueError, RecursionError) as exc:
        # Python's own limits: integers over 4,300 digits, nesting deeper than the stack.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        _fail([f"error: {source} cannot be read as an intake: {reason}"])


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
    except EngineError as exc:
        _fail([f"error: no plan was produced: {exc}"], code=1)
    if fmt is OutFormat.json:
        typer.echo(ev.model_dump_json(indent=2))
    else:
        out_format: Format = fmt.value  # type: ignore[assignment]
        typer.echo(render_care_plan(ev, out_format), nl=False)


@rules_app.command("list")
def rules_list(
    directory: Annotated[Path | None, typer.Argument(help="Rulebook directory.")] = None,
) -> None:
    """List every rule: id, code, priority, condition."""
    from gbrules.rulebook import default_rules_dir, load_rulebook

    try:
        rb = load_rulebook(directory or default_rules_dir())
    except RulebookError as exc:
        _fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    typer.echo(f"{rb.name} {rb.version_label}: {len(rb.rules)} rules")
    for r in rb.rules:
        typer.echo(f"{r.id}\t{r.code}\t{r.priority}\t{r.condition.text()}")


@rules_app.command("lint")
def rules_lint(
    directory: Annotated[Path | None, typer.Argument(help="Rulebook directory.")] = None,
) -> None:
    """Check a rulebook; exit 0 when clean, 1 with findings."""
    from gbrules.rulebook import default_rules_dir, load_rulebook

    try:
        rb = load_rulebook(directory or default_rules_dir())
    except RulebookError as exc:
        _fail([f"{p}" for p in exc.problems], code=1)
    typer.echo(f"ok: {len(rb.rules)} rules, {rb.version_label}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
