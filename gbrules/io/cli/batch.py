"""``gbrules batch``: a file of intakes (NDJSON or Parquet), or a FHIR Bulk Data export
directory (``--fhir-ndjson``), to one output or reject per line (per patient).

Options that shape the output default to None ("not given"), so that ``--resume`` can tell an
option the user repeats or changes from one left out: left out, the run's own (from its
manifest) is used; given and different, the resume is refused naming it (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gbrules.io.batch import BatchOptions, BatchUsageError, Format, run_batch
from gbrules.io.batch.options import DEFAULT_CHECKPOINT, DEFAULT_CHUNK, DEFAULT_ROW_GROUP
from gbrules.io.cli._common import (
    RequireApprovedOption,
    RequireProvedOption,
    SiteOption,
    check_approved,
)
from gbrules.io.cli.prove import enforce_proofs_for


def batch_command(
    source: Annotated[
        Path,
        typer.Argument(
            help="Intakes: NDJSON (one JSON object per line) or .parquet; with --fhir-ndjson, "
            "a FHIR Bulk Data export directory."
        ),
    ],
    out: Annotated[
        Path, typer.Argument(help="Evaluations: NDJSON, or .parquet (one row per evaluation).")
    ],
    rules: Annotated[
        Path | None, typer.Option("--rules", help="A site rule pack added to the default rulebook.")
    ] = None,
    site: SiteOption = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Evaluate as of this day (YYYY-MM-DD): stale data is out. FHIR input is also "
            "mapped as of it (ages, 'recent' medicines; default: today, recorded for --resume).",
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Rejected lines with their errors (default: OUT.rejects)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes (default: 1).")
    ] = None,
    summary: Annotated[
        bool | None,
        typer.Option(
            "--summary/--full",
            help="Write {patient_id, line, codes, requires_immediate_action} only, or the full "
            "Evaluation (default: --full).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the run recorded in OUT.manifest.json after its last committed "
            "line, with its options (nothing to do if it is complete).",
        ),
    ] = False,
    dask: Annotated[
        str | None,
        typer.Option("--dask", metavar="SCHEDULER_ADDRESS", help="Run on a Dask cluster."),
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size", min=1, help=f"Lines per unit of work (default: {DEFAULT_CHUNK})."
        ),
    ] = None,
    in_format: Annotated[
        Format | None,
        typer.Option("--in-format", help="Input format (default: from the file name)."),
    ] = None,
    out_format: Annotated[
        Format | None,
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
    row_group_size: Annotated[
        int | None,
        typer.Option(
            "--row-group-size",
            min=1,
            help=f"Parquet output: rows per row group (default: {DEFAULT_ROW_GROUP}).",
        ),
    ] = None,
    fhir_ndjson: Annotated[
        bool,
        typer.Option(
            "--fhir-ndjson",
            help="SOURCE is a FHIR Bulk Data $export directory (Patient.ndjson, "
            "Observation.ndjson, Condition.ndjson, MedicationRequest.ndjson, ...): one record "
            "per patient, mapped from FHIR (same as --in-format fhir-ndjson).",
        ),
    ] = False,
    checkpoint: Annotated[
        float,
        typer.Option(
            "--checkpoint",
            min=0,
            metavar="SECONDS",
            help="Commit progress durably every SECONDS (0: after every chunk).",
        ),
    ] = DEFAULT_CHECKPOINT,
    require_proved: RequireProvedOption = False,
    require_approved: RequireApprovedOption = False,
) -> None:
    """Evaluate a file of intakes (NDJSON or Parquet): one output or reject per input, in order."""
    check_approved(rules, require_approved)
    from gbrules.core.errors import EngineError, RulebookError

    if site is not None:
        from gbrules.io.cli.site import load_site_or_fail

        load_site_or_fail(site, rules)
    if as_of is not None:
        from gbrules.io.cli.evaluate import _day

        _day(as_of)
    if fhir_ndjson:
        if in_format not in (None, Format.fhir_ndjson):
            typer.echo("error: --fhir-ndjson and --in-format disagree", err=True)
            raise typer.Exit(2)
        in_format = Format.fhir_ndjson
    fhir = in_format is Format.fhir_ndjson or (in_format is None and source.is_dir())
    if not (source.is_dir() if fhir else source.is_file()):
        what = "a directory (FHIR Bulk Data export)" if fhir else "a file"
        typer.echo(f"error: cannot read {source}: not {what}", err=True)
        raise typer.Exit(2)
    if require_proved:
        enforce_proofs_for(rules)
    options = BatchOptions(
        source=source,
        out=out,
        summary=summary,
        rejects=rejects,
        in_format=in_format,
        out_format=out_format,
        column=column,
        row_group_size=row_group_size,
        rules=rules,
        site=site,
        as_of=as_of,
        workers=workers,
        chunk_size=chunk_size,
        dask=dask,
        resume=resume,
        checkpoint_seconds=checkpoint,
    )
    try:
        stats = run_batch(options)
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
    except EngineError as exc:  # e.g. durable_rules cannot load on this Python
        typer.echo(f"error: the rule engine cannot run: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        # A second Ctrl-C while committing: every step is atomic, so the manifest still
        # names a consistent point.
        typer.echo("interrupted: rerun with --resume to continue", err=True)
        raise typer.Exit(130) from None
    done = stats.skipped + stats.lines
    if stats.already_complete:
        typer.echo(f"already complete: {done} input lines done; nothing to do", err=True)
        return
    typer.echo(
        f"{stats.evaluated} evaluated, {stats.rejected} rejected in {stats.seconds:.1f} s "
        f"({stats.rate:,.0f} lines/s); {done} input lines done",
        err=True,
    )
    if stats.interrupted:
        typer.echo("interrupted: output is consistent; rerun with --resume to continue", err=True)
        raise typer.Exit(130)
