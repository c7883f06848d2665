"""``gbrules schema intake|evaluation``: the JSON Schema of what gbrules reads and writes.

Both are generated from the pydantic models that validate and build the data, so an
integrator's validator and gbrules can never disagree. ``--format markdown`` prints the intake
reference kept in docs/INTAKE.md.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

schema_app = typer.Typer(
    help="Print the JSON Schema of an intake or of an evaluation.", no_args_is_help=True
)


class SchemaFormat(StrEnum):
    json = "json"
    markdown = "markdown"


def _print(schema: dict[str, Any]) -> None:
    typer.echo(json.dumps(schema, indent=2, ensure_ascii=False))


@schema_app.command("intake")
def schema_intake(
    fmt: Annotated[
        SchemaFormat,
        typer.Option("--format", help="json: JSON Schema; markdown: the docs/INTAKE.md reference."),
    ] = SchemaFormat.json,
) -> None:
    """Intake JSON: every field, its type, range, unit, meaning and an example."""
    from gbrules.clinical.intake_doc import intake_markdown, intake_schema

    if fmt is SchemaFormat.markdown:
        typer.echo(intake_markdown(), nl=False)
    else:
        _print(intake_schema())


@schema_app.command("evaluation")
def schema_evaluation() -> None:
    """The Evaluation JSON that 'gbrules evaluate --format json' and the API return."""
    from gbrules.clinical.intake_doc import JSON_SCHEMA_DIALECT
    from gbrules.core.result import Evaluation

    _print({"$schema": JSON_SCHEMA_DIALECT, **Evaluation.model_json_schema(mode="serialization")})
