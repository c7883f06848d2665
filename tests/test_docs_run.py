"""Every code block of README.md and docs/*.md that is meant to run, runs.

A newcomer copies the README's commands into a shell in some directory of their own, after
installing the package. So each document's blocks run in order, in a fresh temporary
directory, against the built wheel (on PYTHONPATH, ahead of the checkout), with the venv's
``gbrules`` and ``python`` on PATH. A block fails the test when it exits non-zero, or when a
python block's ``# >`` lines are not in its output. tests/doc_blocks.py has the conventions.

The blocks that cannot run here are listed in ``NOT_RUN`` with the reason; each entry must
match exactly one runnable block, so the list cannot go stale silently.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .doc_blocks import Block, blocks, docs, matches_output

#: (document, text found in exactly one of its runnable blocks) -> why that block is not run.
NOT_RUN: dict[tuple[str, str], str] = {
    ("docs/BATCH.md", "--dask tcp://scheduler:8786"): (
        "needs an intakes file and, for --dask, a scheduler; tests/test_batch*.py and "
        "tests/test_batch_resume.py run these commands (SIGKILL and resume included)"
    ),
    ("docs/BATCH.md", "--in-format parquet --column intake_json"): (
        "needs Parquet files of intakes; tests/test_batch_parquet.py writes and runs them"
    ),
    ("docs/PYTHON.md", "-Wno-error=implicit-function-declaration -Wno-error=int-conversion' pip"): (
        "installs gbrules into the current environment from the package index; the same flags "
        "build it in `make install` and in every nox session (tests/test_engine_loading.py)"
    ),
    ("docs/SECURITY.md", "--jwks /etc/gbrules/ehr-jwks.json"): (
        "a deployment recipe: starts a long-running server with the site's JWKS file; "
        "tests/test_service_security.py and test_service.py start real servers with JWT auth"
    ),
    ("docs/SECURITY.md", "--cors-origin https://sandbox.cds-hooks.org"): (
        "an elided command line (`...`) showing only the CORS options; "
        "tests/test_service_cors_browser.py runs them in Chromium"
    ),
    ("docs/GOLIVE.md", "gbrules batch intakes.ndjson"): (
        "needs an intakes file; tests/test_site.py::test_batch_takes_site_and_as_of runs it"
    ),
    ("docs/GOLIVE.md", "--shadow r2.zip"): (
        "starts a long-running server with a second release; tests/test_golive.py builds two "
        "approved releases and serves them"
    ),
    ("docs/GOLIVE.md", "gbrules audit shadow-report"): (
        "reads the audit trail of the server above; tests/test_golive.py runs it on a real one"
    ),
    ("docs/GOLIVE.md", "gbrules release promote"): (
        "calls the running server above; tests/test_golive.py runs each command against a "
        "real server"
    ),
    ("docs/SECURITY.md", "createuser --pwprompt gbrules"): (
        "administers a site's PostgreSQL server; tests/test_audit.py runs a real throwaway one"
    ),
    ("docs/APP.md", "python -m gbrules.io.app --port 8090"): (
        "starts the workbench as a long-running server on a fixed port; tests/test_workbench.py "
        "and tests/test_workbench_browser.py run it on a free port"
    ),
    ("docs/APP.md", "--smart-client-id gbrules-workbench"): (
        "a deployment recipe behind an EHR; tests/test_workbench_smart.py runs the launch "
        "against oidc-provider and a FHIR server on 127.0.0.1"
    ),
    ("README.md", "sudo apt-get install build-essential"): (
        "installs system packages: needs root and the network"
    ),
    ("README.md", "make demo"): (
        "runs `make` in the repository: `make test` is the suite this test is part of"
    ),
    ("README.md", "source .venv/bin/activate"): (
        "needs the repository's .venv, made by `make install`; the same gbrules command runs "
        "in the next block"
    ),
    ("README.md", "~/myproject/.venv/bin/pip install"): (
        "installs into another project's virtual environment from the package index"
    ),
    ("README.md", "chromium --headless"): (
        "needs Chromium; tests/test_render_browser.py prints the HTML draft in a real browser"
    ),
    ("README.md", "gbrules serve --port 8080 &"): (
        "starts a server on a fixed port and needs jq; tests/test_service*.py send the same "
        "requests to a real server on a free port"
    ),
    ("README.md", "gbrules audit report --db audit.db"): (
        "needs an audit database written by a running service; tests/test_audit.py runs the "
        "report and purge commands on one"
    ),
    ("README.md", "gbrules batch intakes.ndjson"): (
        "needs an intakes.ndjson file and, for --dask, a scheduler; tests/test_batch*.py and "
        "tests/test_fhir_bulk.py run these commands"
    ),
    ("docs/AUDIT.md", "audit.migrate() -> list[int]"): (
        "an API synopsis (signatures with return types), not a program"
    ),
    ("docs/AUDIT.md", "# 1. startup (lifespan)"): (
        "pseudo-code of the service's five calls; tests/test_service_audit.py runs them for real"
    ),
    ("docs/EHR.md", "pip install 'gbrules[fhir,service]'"): (
        "installs from the package index; the test environment has every extra"
    ),
    ("docs/EHR.md", "[--jwks jwks.json"): (
        "a usage synopsis (optional arguments in brackets) that starts a server"
    ),
    ("docs/EHR.md", "gbrules serve --port 8080 &"): (
        "starts a server on a fixed port and needs jq; tests/test_service.py sends this request"
    ),
    ("docs/LOAD.md", "benchmarks/load.py"): (
        "a 30-second load benchmark run from a repository checkout (benchmarks/ is not installed)"
    ),
    ("docs/RULES.md", "tests/test_features.py"): (
        "runs the repository's scenarios, which `make test` runs anyway "
        "(features/site_pack_caffeine.feature)"
    ),
}


def _reason(block: Block) -> str | None:
    for (doc, text), reason in NOT_RUN.items():
        if doc == block.doc and text in block.text:
            return reason
    return None


@pytest.fixture(scope="module")
def env(installed_site: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    out = dict(os.environ)
    out["PYTHONPATH"] = str(installed_site)
    out["PATH"] = venv_bin + os.pathsep + out.get("PATH", "")
    out.pop("GBRULES_AUDIT_DB", None)
    return out


def _run(block: Block, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if block.lang == "python":
        script = cwd / f".block-{block.line}.py"
        script.write_text(block.text, encoding="utf-8")
        cmd = [sys.executable, str(script)]
    else:
        cmd = ["bash", "-e", "-o", "pipefail", "-c", block.text]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("doc", docs(), ids=lambda p: p.name)
def test_the_blocks_of_a_document_run(doc: Path, env: dict[str, str], tmp_path: Path) -> None:
    ran = 0
    for block in blocks(doc):
        if block.writes is not None:
            target = tmp_path / block.writes
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
            continue
        if not block.runnable or _reason(block) is not None:
            continue
        proc = _run(block, tmp_path, env)
        ran += 1
        shown = f"{block.where}:\n{block.text}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n"
        assert proc.returncode == 0, shown + proc.stderr[-3000:]
        missing = matches_output(block.expected_output(), proc.stdout)
        assert not missing, f"{shown}{proc.stderr[-2000:]}\nexpected output not seen: {missing}"
    if doc.name == "README.md":
        assert ran >= 2  # the command-line and the Python blocks at least


def test_every_not_run_entry_names_one_runnable_block() -> None:
    everything = [b for d in docs() for b in blocks(d)]
    for (doc, text), reason in NOT_RUN.items():
        hits = [b for b in everything if b.doc == doc and b.runnable and text in b.text]
        assert len(hits) == 1, f"NOT_RUN entry ({doc!r}, {text!r}) matches {len(hits)} blocks"
        assert reason.strip()


def test_the_readme_python_block_reads_as_it_runs() -> None:
    block = next(b for b in blocks(docs()[0]) if b.lang == "python")  # "30 seconds in Python"
    assert "gbrules.Engine.default()" in block.text
    assert block.expected_output(), "the README's Python block shows its output (# > lines)"


def test_expected_output_lines_match_in_order_and_by_prefix() -> None:
    out = "header\nroutine a.b - long text here\nFalse\n"
    assert matches_output(["routine a.b - long...", "False"], out) == []
    assert matches_output(["False", "routine a.b - long..."], out) == ["routine a.b - long..."]
    assert matches_output(["routine a.b"], out) == ["routine a.b"]  # whole line unless ...
