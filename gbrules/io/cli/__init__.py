"""The ``gbrules`` command line (typer: typed options, help and shell completion for free).

Bad input never shows a traceback: an invalid intake exits 2 with every bad field's path on
stderr, an invalid rulebook exits 2 with its file and rule id.
"""

from __future__ import annotations

import typer

from gbrules.io.cli.audit import audit_app
from gbrules.io.cli.batch import batch_command
from gbrules.io.cli.doctor import doctor
from gbrules.io.cli.evaluate import evaluate
from gbrules.io.cli.prove import prove, query
from gbrules.io.cli.release import release_app
from gbrules.io.cli.review import review_app
from gbrules.io.cli.rules import rules_app
from gbrules.io.cli.scenarios import scenarios_app
from gbrules.io.cli.schema import schema_app
from gbrules.io.cli.serve import serve
from gbrules.io.cli.site import site_app

app = typer.Typer(
    name="gbrules",
    help="Draft gut-brain care plans for clinician review from a patient intake.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(evaluate)
rules_app.command("prove")(prove)
rules_app.command("query")(query)
app.add_typer(rules_app, name="rules")
app.command()(serve)
app.command("batch")(batch_command)
app.add_typer(audit_app, name="audit")
app.command()(doctor)
app.add_typer(release_app, name="release")
app.add_typer(schema_app, name="schema")
app.add_typer(site_app, name="site")
app.add_typer(review_app, name="review")
app.add_typer(scenarios_app, name="scenarios")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
