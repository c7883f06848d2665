"""``gbrules review ...``: governance of the rulebook (status, approve) and the review book."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from gbrules.core.errors import RulebookError
from gbrules.core.rulebook import Rulebook
from gbrules.io.cli._common import fail

review_app = typer.Typer(
    help="Review and sign off a rulebook: status, approve, and the HTML review book.",
    no_args_is_help=True,
)


def _load(rules: Path | None) -> Rulebook:
    from gbrules.clinical.domain import load_rulebook

    try:
        return load_rulebook(*([rules] if rules else []))
    except RulebookError as exc:
        fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])


@review_app.command("status")
def review_status(
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Rulebook directory (default: bundled).")
    ] = None,
) -> None:
    """Each rule's governance state; exit 0 only when every rule is approved and current."""
    from gbrules.core.review import review_states

    book = _load(rules)
    states = review_states(book)
    for s in states:
        typer.echo(f"{s.state:<9} {s.rule_id}: {s.message}")
    counts: dict[str, int] = {}
    for s in states:
        counts[s.state] = counts.get(s.state, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    typer.echo(f"{book.name} {book.version_label}: {len(states)} rules: {summary}")
    if any(s.state != "approved" for s in states):
        raise typer.Exit(1)


@review_app.command("approve")
def review_approve(
    rule_ids: Annotated[list[str], typer.Argument(help="Rule ids to approve (or 'all').")],
    by: Annotated[list[str], typer.Option("--by", help="Who approved (repeat for each member).")],
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="Rulebook directory to edit (not the installed package)."),
    ] = None,
    on: Annotated[
        str | None, typer.Option("--on", help="Approval date, YYYY-MM-DD (default: today).")
    ] = None,
    next_review: Annotated[
        str | None, typer.Option("--next-review", help="Next review due, YYYY-MM-DD.")
    ] = None,
) -> None:
    """Record an approval (with each rule's content hash) in the rule files."""
    from gbrules.clinical.domain import default_rules_dir
    from gbrules.io.review.approve import Approval, approve

    directory = rules or default_rules_dir()
    book = _load(directory)
    try:
        day = date.fromisoformat(on) if on else date.today()
        due = date.fromisoformat(next_review) if next_review else None
    except ValueError as exc:
        fail([f"error: a date is YYYY-MM-DD: {exc}"])
    ids = [r.id for r in book.rules] if rule_ids == ["all"] else rule_ids
    try:
        approve(book, directory, ids, Approval(tuple(by), day, due))
    except KeyError as exc:
        fail([f"error: unknown rule id(s): {exc.args[0]}"])
    except (ValueError, OSError) as exc:
        fail([f"error: {exc}"])
    after = _load(directory)
    from gbrules.core.review import state_of

    wrong = [rid for rid in ids if state_of(after.rule(rid), day).state != "approved"]
    if wrong:
        fail([f"error: approval did not take for: {', '.join(wrong)}"], code=1)
    typer.echo(f"approved {len(ids)} rule(s) in {directory} by {', '.join(by)} on {day}")


@review_app.command("build")
def review_build(
    out_dir: Annotated[Path, typer.Argument(help="Directory for the HTML review book.")],
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Rulebook directory (default: bundled).")
    ] = None,
    since: Annotated[
        Path | None,
        typer.Option("--since", help="The rulebook last reviewed: show what changed since."),
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option("--features", help="Extra clinician-written .feature files to include."),
    ] = None,
    population: Annotated[
        int, typer.Option("--population", min=1, help="Synthetic intakes for --since.")
    ] = 500,
) -> None:
    """Run the BDD scenarios and write a static HTML review book (open index.html)."""
    from gbrules.io.review.book import build_book

    book = _load(rules)
    old = _load(since) if since is not None else None
    try:
        result = build_book(
            book,
            out_dir,
            rules_dir=rules,
            since=old,
            since_dir=since,
            features=features,
            population=population,
        )
    except OSError as exc:
        fail([f"error: cannot write {out_dir}: {exc}"])
    typer.echo(result.summary())
