"""Helpers every command shares: failing with exit 2 and no traceback, reading an intake."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from gbrules.io.json_input import loads

if TYPE_CHECKING:
    from gbrules.core.rulebook import Rulebook


def fail(lines: list[str], code: int = 2) -> NoReturn:
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(code)


def read_intake(source: str | None, example: str | None) -> Any:
    from gbrules.clinical.examples import load_example

    if example is not None:
        try:
            return load_example(example)
        except KeyError as exc:
            fail([f"error: {exc.args[0]}"])
    if source is None:
        fail(["error: give an intake file (or - for stdin), or --example NAME"])
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail([f"error: cannot read {source}: {exc}"])
    try:
        return loads(text)
    except json.JSONDecodeError as exc:
        fail(
            [f"error: {source} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        )
    except RecursionError:
        # Python's own limit: nesting deeper than the stack. (Integers of any length are read
        # by json_input.loads and then fail validation with their field's path.)
        fail([f"error: {source} cannot be read as an intake: nested too deeply"])


REQUIRE_APPROVED_HELP = (
    "Refuse to start unless every rule is approved by a governance group and unchanged since "
    "(env GBRULES_REQUIRE_APPROVED=1)."
)
REQUIRE_PROVED_ENV = "GBRULES_REQUIRE_PROVED"

# The options evaluate, batch and serve share: declared once, so their names, environment
# variables and help can never drift apart between the commands.
RequireProvedOption = Annotated[
    bool,
    typer.Option(
        "--require-proved",
        envvar=REQUIRE_PROVED_ENV,
        help="Refuse a rulebook (with its site pack) that breaks a safety invariant "
        "(gbrules rules prove); needs the 'prove' extra.",
    ),
]
RequireApprovedOption = Annotated[
    bool,
    typer.Option(
        "--require-approved", envvar="GBRULES_REQUIRE_APPROVED", help=REQUIRE_APPROVED_HELP
    ),
]
SiteOption = Annotated[
    Path | None, typer.Option("--site", help="The site configuration (site.yaml).")
]


def check_approved(rules: Path | None, required: bool) -> None:
    """With approval required, exit 2 naming every draft or stale rule (of the default rulebook
    plus the site pack ``rules``); nothing runs on rules no one signed."""
    if not required:
        return
    from gbrules.clinical.engine import cached_engine
    from gbrules.core.errors import EngineError, RulebookError

    try:
        book = cached_engine(rules).rulebook  # exactly the rules that would run
    except RulebookError as exc:
        fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    except EngineError as exc:
        fail([f"error: {exc}"])
    refuse_unapproved(book)


def refuse_unapproved(book: Rulebook) -> None:
    """Exit 2 naming every draft or stale rule of ``book`` (a rulebook about to run)."""
    from gbrules.core.review import unapproved

    bad = unapproved(book)
    if bad:
        fail(
            [
                f"error: --require-approved: {len(bad)} rule(s) of {book.name} "
                f"{book.version_label} are not approved (see `gbrules review status`):"
            ]
            + [f"  {r.rule_id}: {r.state}: {r.message}" for r in bad]
        )
