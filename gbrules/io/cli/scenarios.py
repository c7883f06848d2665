"""``gbrules scenarios check``: run clinician-written .feature files and say, step by step,
what passed, what failed and which steps gbrules does not know (with the closest known ones).

The steps are gbrules' step vocabulary (gbrules.io.scenarios.steps, the single source, documented
in features/README.md), run by pytest-bdd in a subprocess beside the bundled scenarios
(gbrules.io.review.run). It needs the 'scenarios' extra (pytest, pytest-bdd); without it, it says
so and exits 2.
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from gbrules.io.cli._common import fail

scenarios_app = typer.Typer(help="Check clinician-written BDD scenarios.", no_args_is_help=True)

_MARK = {"passed": "ok  ", "failed": "FAIL", "undefined": "??  ", "skipped": "--  "}


@scenarios_app.command("check")
def scenarios_check(
    files: Annotated[list[Path], typer.Argument(help=".feature files to run.")],
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="A whole rulebook directory (default: bundled)."),
    ] = None,
) -> None:
    """Run .feature files against the rulebook; exit 0 when every scenario passes, 1 if not."""
    from gbrules.clinical.domain import default_rules_dir
    from gbrules.io.review.run import run_scenarios, scenarios_available

    reason = scenarios_available()
    if reason is not None:
        fail([f"error: {reason}"])
    bad = [f for f in files if not f.is_file() or f.suffix != ".feature"]
    if bad:
        fail([f"error: not a .feature file: {f}" for f in bad])
    with tempfile.TemporaryDirectory(prefix="gbrules-scenarios-") as tmp:
        folder = Path(tmp) / "checked"
        folder.mkdir()
        names: dict[str, Path] = {}
        for i, f in enumerate(files):
            name = f"{i:02d}_{f.name}"
            shutil.copyfile(f, folder / name)
            names[name] = f
        run = run_scenarios(rules or default_rules_dir(), folder)
    if not run.available:
        fail([f"error: {run.reason}"])
    mine = [s for s in run.scenarios if Path(s.uri).parent.name == "checked"]
    known = sorted(
        {st.text for s in run.scenarios if s not in mine for st in s.steps if st.status == "passed"}
    )
    if not mine:
        fail(["error: no scenario found in " + ", ".join(map(str, files))])
    failed = 0
    current = ""
    for s in mine:
        src = names.get(Path(s.uri).name, Path(s.uri))
        if str(src) != current:
            current = str(src)
            typer.echo(f"{src}")
        typer.echo(f"  Scenario: {s.label}  [{s.status.upper()}]")
        for st in s.steps:
            typer.echo(f"    {_MARK.get(st.status, '    ')} {st.keyword} {st.text}")
            if st.status == "undefined":
                close = difflib.get_close_matches(st.text, known, n=3, cutoff=0.5)
                typer.echo(
                    "         unknown step; "
                    + ("closest known steps:" if close else "see features/README.md for the steps")
                )
                for c in close:
                    typer.echo(f"           {c}")
            if st.status == "failed" and st.error:
                reason_line = _reason(st.error)
                typer.echo(f"         {reason_line}")
        failed += s.status != "passed"
    typer.echo(f"{len(mine) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


def _reason(error: str) -> str:
    """The assertion message of a failed step, without the traceback around it."""
    lines = [ln.strip() for ln in error.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("E "):
            return ln[1:].strip().removeprefix("AssertionError: ")[:300]
    return lines[-1][:300] if lines else "failed"
