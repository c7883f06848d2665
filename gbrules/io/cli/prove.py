"""``gbrules rules prove`` and ``gbrules rules query``: the rulebook checked for every intake.

``prove`` proves each safety invariant of ``rules/invariants.yaml`` for every intake the
vocabulary admits, or prints an engine-confirmed counterexample with a ready-to-paste
scenario; it exits 0 only when every required invariant is proved. ``query`` answers a
reviewer's questions with the same encoding: which rules can never fire, are always overridden,
never show, or fire on exactly the same intakes, and which intakes get one code but not
another. ``enforce_proofs`` is ``--require-proved`` for evaluate, batch and serve.

Needs the ``prove`` extra (z3-solver).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from gbrules.core.errors import RulebookError
from gbrules.io.cli._common import fail

if TYPE_CHECKING:
    from gbrules.core.engine import Engine
    from gbrules.core.rulebook import Rulebook
    from gbrules.core.verify.prove import Prover, Report, Result

_INSTALL = "the verifier needs z3: pip install 'gbrules[prove]'"


class ProveFormat(StrEnum):
    text = "text"
    json = "json"


def _z3_missing(exc: ImportError) -> NoReturn:
    fail([f"error: {exc}; {_INSTALL}"])


def rule_dirs(directories: list[Path] | None) -> tuple[Path, ...]:
    """The directories to load: the default rulebook when none, and the default under a
    first directory that is a site pack (no manifest), as ``rules lint`` does."""
    from gbrules.clinical.domain import default_rules_dir
    from gbrules.core.rulebook import MANIFEST

    dirs = tuple(directories or ())
    if not dirs:
        return (default_rules_dir(),)
    if not (dirs[0] / MANIFEST).is_file():
        return (default_rules_dir(), *dirs)
    return dirs


def _load(directories: list[Path] | None) -> Rulebook:
    from gbrules.clinical.domain import load_rulebook

    try:
        return load_rulebook(*rule_dirs(directories))
    except RulebookError as exc:
        fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])


def prove(
    directories: Annotated[
        list[Path] | None,
        typer.Argument(help="Rulebook directory, then site packs (default: the bundled one)."),
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Check only this invariant (repeatable).")
    ] = None,
    fmt: Annotated[ProveFormat, typer.Option("--format", help="Output format.")] = (
        ProveFormat.text
    ),
) -> None:
    """Prove every safety invariant for every intake, or show a counterexample for each."""
    try:
        from gbrules.clinical.proof import clinical_proof_domain
        from gbrules.core.verify.invariants import InvariantFileError
        from gbrules.core.verify.prove import prove as run_prove
    except ImportError as exc:
        _z3_missing(exc)
    rulebook = _load(directories)
    try:
        report = run_prove(rulebook, clinical_proof_domain(), only=only or ())
    except InvariantFileError as exc:
        fail(["error: invalid invariants file:"] + [f"  {p}" for p in exc.problems])
    except KeyError as exc:
        fail([f"error: {exc.args[0]}"])
    if fmt is ProveFormat.json:
        typer.echo(json.dumps(report_json(report), indent=2, sort_keys=True))
    else:
        typer.echo(report_text(report), nl=False)
    if not report.ok:
        raise typer.Exit(1)


def report_text(report: Report) -> str:
    """The per-invariant table, then each counterexample and pending reason."""
    rows = [("invariant", "status", "time")]
    rows += [(r.invariant.id, r.shown_status, f"{r.seconds * 1000:.0f} ms") for r in report.results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"rulebook {report.rulebook}"]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    for r in report.results:
        if r.counterexample is None and r.status != "encoding-error" and not r.invariant.pending:
            continue
        lines.append("")
        lines.append(f"{r.invariant.id}: {r.shown_status}: {r.invariant.wording}")
        if r.detail:
            lines.append(f"  {r.detail}")
        if r.counterexample is not None:
            lines.append(r.counterexample.text())
    proved = sum(r.status == "proved" and not r.invariant.pending for r in report.results)
    pending = sum(r.invariant.pending is not None for r in report.results)
    broken = len(report.broken())
    lines += [
        "",
        f"{proved} proved, {broken} not proved, {pending} pending "
        f"in {report.seconds:.1f} s: {'ok' if report.ok else 'NOT PROVED'}",
    ]
    return "\n".join(lines) + "\n"


def report_json(report: Report) -> dict[str, object]:
    """The report as data (for the review book and CI)."""
    return {
        "rulebook": report.rulebook,
        "ok": report.ok,
        "seconds": round(report.seconds, 3),
        "invariants": [_result_json(r) for r in report.results],
    }


def _result_json(r: Result) -> dict[str, object]:
    cx = r.counterexample
    return {
        "id": r.invariant.id,
        "wording": r.invariant.wording,
        "source": r.invariant.source,
        "status": r.status,
        "pending": r.invariant.pending,
        "seconds": round(r.seconds, 4),
        "detail": r.detail,
        "counterexample": None
        if cx is None
        else {
            "intake": cx.intake,
            "fired_rules": list(cx.fired),
            "plan": list(cx.plan),
            "held": list(cx.held),
            "scenario": cx.scenario,
            "fuller_intake": cx.fuller,
            "rule": cx.rule,
        },
    }


def query(
    directories: Annotated[
        list[Path] | None,
        typer.Argument(help="Rulebook directory, then site packs (default: the bundled one)."),
    ] = None,
    gets: Annotated[
        list[str] | None,
        typer.Option("--gets", help="The intake gets this code (or category.*) active."),
    ] = None,
    not_: Annotated[
        list[str] | None,
        typer.Option("--not", help="... and not this code (or category.*) (repeatable)."),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help="... and this holds (a fact comparison or plan predicate, as in invariants.yaml).",
        ),
    ] = None,
) -> None:
    """Which intakes get code X but not Y (--gets/--not/--where); with no question, a report
    on the rules: dead, always overridden, never shown, and equivalent pairs."""
    try:
        from gbrules.clinical.proof import clinical_proof_domain
        from gbrules.core.verify.prove import Prover
    except ImportError as exc:
        _z3_missing(exc)
    rulebook = _load(directories)
    prover = Prover(rulebook, clinical_proof_domain())
    if gets or not_ or where:
        _answer(prover, gets or [], not_ or [], where or [])
        return
    dead = prover.dead_rules()
    overridden = prover.always_overridden(f.rule for f in dead)
    unseen = prover.never_shown([f.rule for f in dead] + [f.rule for f in overridden])
    findings = dead + overridden + unseen + prover.equivalent_rules()
    for f in findings:
        typer.echo(f"{f.rule.file}:{f.rule.line}: rule {f.rule.id}: [{f.kind}] {f.message}")
    typer.echo(f"{len(rulebook.rules)} rules, {len(findings)} finding(s)")


def _answer(prover: Prover, gets: list[str], nots: list[str], where: list[str]) -> None:
    from gbrules.core.verify.invariants import read_expression
    from gbrules.core.verify.shared import ConditionError

    texts = [f"active({c})" for c in gets] + [f"none_active({c})" for c in nots] + where
    vocabulary = prover.domain.model.vocabulary
    try:
        exprs = [read_expression(t, vocabulary, prover.rulebook.codes) for t in texts]
    except ConditionError as exc:
        fail([f"error: {exc}"])
    found = prover.find(exprs)
    question = " and ".join(texts)
    if found is None:
        typer.echo(f"no intake: never {question}")
        raise typer.Exit(1)
    doc, ev = found
    typer.echo(f"an intake where {question}:")
    typer.echo(f"  intake: {json.dumps(doc, sort_keys=True)}")
    typer.echo(f"  fired:  {', '.join(ev.fired_rules) or 'no rule'}")
    typer.echo(f"  plan:   {', '.join(f'{s.code} ({s.priority})' for s in ev.suggestions)}")


def enforce_proofs(engine: Engine) -> None:
    """``--require-proved``: exit 2, naming each broken invariant with its counterexample,
    unless the engine's rulebook (with its site packs) keeps every required invariant."""
    try:
        from gbrules.clinical.proof import clinical_proof_domain
        from gbrules.core.verify.prove import InvariantsBroken, require_proved
    except ImportError as exc:
        _z3_missing(exc)
    try:
        require_proved(engine.rulebook, clinical_proof_domain(), engine)
    except InvariantsBroken as exc:
        lines = ["error: the rulebook breaks a safety invariant (--require-proved):"]
        fail(lines + [line for p in exc.problems for line in p.splitlines()])


def enforce_proofs_for(rules: Path | None) -> None:
    """``enforce_proofs`` for the default rulebook plus an optional site pack (batch)."""
    from gbrules.clinical.engine import cached_engine

    try:
        engine = cached_engine(rules)
    except RulebookError as exc:
        fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    enforce_proofs(engine)
