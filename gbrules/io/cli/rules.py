"""``gbrules rules ...``: list, lint and diff rulebooks."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gbrules.core.errors import RulebookError
from gbrules.io.cli._common import fail

if TYPE_CHECKING:
    from gbrules.core.engine import Engine

rules_app = typer.Typer(help="Inspect and check rulebooks.", no_args_is_help=True)


@rules_app.command("list")
def rules_list(
    directory: Annotated[Path | None, typer.Argument(help="Rulebook directory.")] = None,
) -> None:
    """List every rule: id, code, priority, condition, evidence."""
    from rich.console import Console
    from rich.table import Table

    from gbrules.clinical.domain import load_rulebook

    try:
        rb = load_rulebook(*([directory] if directory else []))
    except RulebookError as exc:
        fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
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


@rules_app.command("path")
def rules_path() -> None:
    """Print the bundled default rulebook's directory (to read it, or to diff a pack against)."""
    from gbrules.clinical.domain import default_rules_dir

    typer.echo(str(default_rules_dir()))


@rules_app.command("lint")
def rules_lint(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Rulebook directory, or a site pack (linted on the default)."),
    ] = None,
    governance: Annotated[
        bool,
        typer.Option(
            "--governance",
            help="Also report unapproved, stale and overdue rules (the bundled rulebook is "
            "all draft, so without this flag its lint stays clean).",
        ),
    ] = False,
) -> None:
    """Check a rulebook; exit 0 when clean, 1 with findings (each with file and rule id)."""
    from gbrules.clinical.domain import CLINICAL
    from gbrules.core.lint import lint, semantic_checks_available
    from gbrules.core.rulebook import RULES_GUIDE

    proof = None
    if semantic_checks_available():
        from gbrules.clinical.proof import clinical_proof_domain
        from gbrules.core.verify.factmodel import FactModelError

        try:
            proof = clinical_proof_domain()
        except FactModelError as exc:  # a derived fact without its declared meaning
            fail([f"error: {exc}"])
    else:
        typer.echo(
            "note: never-true and duplicate checks by interval analysis only: "
            "pip install 'gbrules[prove]' for the solver",
            err=True,
        )
    findings = lint(directory, CLINICAL, proof, governance=governance)
    for f in findings:
        typer.echo(f.text())
    if findings:
        typer.echo(f"{len(findings)} finding(s)", err=True)
        if any(f.kind == "error" for f in findings):
            typer.echo(
                f"the rulebook does not load; how to write rules, conditions, overrides and "
                f"codes: {RULES_GUIDE}",
                err=True,
            )
        raise typer.Exit(1)
    typer.echo(f"ok: {directory or 'default rulebook'}: no findings")


class DiffFormat(StrEnum):
    text = "text"
    json = "json"


@rules_app.command("diff")
def rules_diff(
    old: Annotated[
        Path, typer.Argument(help="The current rulebook, or a site pack (taken with the default).")
    ],
    new: Annotated[
        Path, typer.Argument(help="The proposed rulebook, or a site pack (taken with the default).")
    ],
    population: Annotated[
        int, typer.Option("--population", min=1, help="How many synthetic intakes.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic population.")] = 0,
    fmt: Annotated[DiffFormat, typer.Option("--format", help="Output format.")] = DiffFormat.text,
) -> None:
    """Which codes appear, disappear or change priority, over a synthetic population."""
    from gbrules.tools.population import diff_rulebooks

    try:
        report = diff_rulebooks(old, new, population, seed)
    except RulebookError as exc:
        fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    if fmt is DiffFormat.json:
        typer.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        typer.echo(report.text(), nl=False)


@rules_app.command("export")
def rules_export(
    fhir: Annotated[
        Path, typer.Option("--fhir", help="Write the rulebook as a FHIR R4 Bundle (JSON) here.")
    ],
    directory: Annotated[
        Path | None, typer.Option("--rules", help="Rulebook directory (default: bundled).")
    ] = None,
) -> None:
    """Export the rulebook as FHIR knowledge artefacts: PlanDefinitions per CDS Hooks service,
    an action per rule, ActivityDefinitions for the codes, citations and review status."""
    from gbrules.clinical.domain import load_rulebook
    from gbrules.io.fhir.rulebook import rulebook_bundle
    from gbrules.io.review.approve import atomic_write

    try:
        rb = load_rulebook(*([directory] if directory else []))
    except RulebookError as exc:
        fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    bundle = rulebook_bundle(rb)
    try:
        atomic_write(fhir, json.dumps(bundle, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        fail([f"error: cannot write {fhir}: {exc}"])
    typer.echo(f"wrote {fhir}: {len(bundle['entry'])} resources ({rb.version_label})")


@rules_app.command("stats")
def rules_stats(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Rulebook directory, or a site pack (taken with the default)."),
    ] = None,
    population: Annotated[
        int, typer.Option("--population", min=1, help="How many synthetic intakes.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic population.")] = 0,
    examples: Annotated[
        bool, typer.Option("--examples", help="Also count each bundled example's items.")
    ] = False,
    fmt: Annotated[DiffFormat, typer.Option("--format", help="Output format.")] = DiffFormat.text,
) -> None:
    """Active suggestions per plan (median, p90, max, code shares): the alert-fatigue check."""
    from gbrules.clinical.domain import CLINICAL
    from gbrules.clinical.examples import example_names, load_example
    from gbrules.core.engine import Engine
    from gbrules.tools.plan_stats import plan_stats
    from gbrules.tools.population import population as synthetic

    try:
        engine = Engine.default(domain=CLINICAL) if directory is None else _engine_for(directory)
    except RulebookError as exc:
        fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    reports = [
        plan_stats(engine, synthetic(population, seed), f"synthetic population (seed {seed})")
    ]
    if examples:
        intakes = [{**load_example(n), "patient_id": n} for n in example_names()]
        reports.append(plan_stats(engine, intakes, "bundled examples", named=True))
    if fmt is DiffFormat.json:
        typer.echo(json.dumps([r.as_dict() for r in reports], indent=2, sort_keys=True))
    else:
        typer.echo("".join(r.text() for r in reports), nl=False)


def _engine_for(directory: Path) -> Engine:
    """A rulebook directory, or a site pack on top of the default rulebook (as it runs)."""
    from gbrules.clinical.domain import CLINICAL
    from gbrules.core.engine import Engine
    from gbrules.core.rulebook import MANIFEST

    if (directory / MANIFEST).is_file():
        return Engine.from_directory(directory, domain=CLINICAL)
    return Engine.default(directory, domain=CLINICAL)
