"""``gbrules batch``: a file of intakes (NDJSON or Parquet) to one output or reject per line."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gbrules.io.batch.run import DEFAULT_CHUNK, BatchUsageError, run_batch
from gbrules.io.cli.prove import REQUIRE_PROVED_ENV, enforce_proofs_for


class BatchFormat(StrEnum):
    ndjson = "ndjson"
    parquet = "parquet"


def batch_command(
    source: Annotated[
        Path, typer.Argument(help="Intakes: NDJSON (one JSON object per line) or .parquet.")
    ],
    out: Annotated[
        Path, typer.Argument(help="Evaluations: NDJSON, or .parquet (one row per evaluation).")
    ],
    rules: Annotated[
        Path | None, typer.Option("--rules", help="A site rule pack added to the default rulebook.")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Rejected lines with their errors [default: OUT.rejects]."),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    summary: Annotated[
        bool,
        typer.Option(
            "--summary", help="Write {patient_id, line, codes, requires_immediate_action} only."
        ),
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue after the last complete line of a run.")
    ] = False,
    dask: Annotated[
        str | None,
        typer.Option("--dask", metavar="SCHEDULER_ADDRESS", help="Run on a Dask cluster."),
    ] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1)] = DEFAULT_CHUNK,
    in_format: Annotated[
        BatchFormat | None,
        typer.Option("--in-format", help="Input format (default: from the file name)."),
    ] = None,
    out_format: Annotated[
        BatchFormat | None,
        typer.Option("--out-format", help="Output format (default: from the file name)."),
    ] = None,
    column: Annotated[
        str | None,
        typer.Option(
            "--column",
            help="Parquet input: the string column of Intake JSON text (default: intake if "
            "present, else nested columns mirroring Intake JSON v1).",
        ),
    ] = None,
    require_proved: Annotated[
        bool,
        typer.Option(
            "--require-proved",
            envvar=REQUIRE_PROVED_ENV,
            help="Refuse a rulebook (with its site pack) that breaks a safety invariant.",
        ),
    ] = False,
) -> None:
    """Evaluate a file of intakes (NDJSON or Parquet): one output or reject per input, in order."""
    from gbrules.core.errors import RulebookError

    if not source.is_file():
        typer.echo(f"error: cannot read {source}", err=True)
        raise typer.Exit(2)
    if require_proved:
        enforce_proofs_for(rules)
    try:
        stats = run_batch(
            source,
            out,
            rules=rules,
            rejects=rejects,
            workers=workers,
            summary=summary,
            resume=resume,
            dask=dask,
            chunk_size=chunk_size,
            in_format=in_format.value if in_format is not None else None,
            out_format=out_format.value if out_format is not None else None,
            column=column,
        )
    except BatchUsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except RulebookError as exc:
        typer.echo("error: invalid rulebook:", err=True)
        for p in exc.problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    done = stats.skipped + stats.lines
    typer.echo(
        f"{stats.evaluated} evaluated, {stats.rejected} rejected in {stats.seconds:.1f} s "
        f"({stats.rate:,.0f} lines/s); {done} input lines done",
        err=True,
    )
    if stats.interrupted:
        typer.echo("interrupted: output is consistent; rerun with --resume to continue", err=True)
        raise typer.Exit(130)
