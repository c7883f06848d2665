"""``gbrules site check FILE``: a site configuration validated against the rulebook it runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gbrules.io.cli._common import fail

if TYPE_CHECKING:
    from gbrules.clinical.site import SiteConfig

site_app = typer.Typer(help="Site configuration (site.yaml): check it.", no_args_is_help=True)


def load_site_or_fail(path: Path, rules: Path | None = None) -> SiteConfig:
    """The site file, validated alone and against the rulebook (exit 2 naming every problem)."""
    from gbrules.clinical.engine import cached_engine
    from gbrules.clinical.site import SiteError, load_site

    try:
        site = load_site(path)
    except SiteError as exc:
        fail([f"error: invalid site configuration {exc.path}:"] + [f"  {p}" for p in exc.problems])
    engine = cached_engine(rules)
    problems = site.problems_with(engine.rulebook.min_age, engine.rulebook.codes)
    if problems:
        fail([f"error: invalid site configuration {path}:"] + [f"  {p}" for p in problems])
    return site


@site_app.command("check")
def check_cmd(
    path: Annotated[Path, typer.Argument(help="The site.yaml to check.")],
    rules: Annotated[
        Path | None, typer.Option("--rules", help="A site rule pack added to the default rulebook.")
    ] = None,
) -> None:
    """Validate FILE; exit 0 when usable, 2 naming every bad setting."""
    site = load_site_or_fail(path, rules)
    typer.echo(
        f"site {site.site}: country {site.country}, care setting {site.care_setting}, "
        f"{len(site.codes_off)} code(s) and {len(site.rules_off)} rule(s) switched off: ok"
    )
