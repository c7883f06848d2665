"""``gbrules doctor``: what this installation can do, and the command that adds what it lacks.

One table: the Python, the rule engine (does durable_rules load here, and did it need gbrules'
``PyEval_CallObject`` shim), each optional extra (installed, or the pip line that installs it)
and the system tools some features and tests use. Exit 0 when the engine loads, whatever else
is missing (those are optional), 1 when it does not: nothing can be evaluated then.
"""

from __future__ import annotations

import glob
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from importlib import metadata

import typer
from packaging.requirements import InvalidRequirement, Requirement

from gbrules.core.backends.loader import BUILD_FLAGS, REQUIREMENT, engine_status


@dataclass(frozen=True)
class Check:
    """One row of the report: ``ok`` None means information only (neither good nor missing)."""

    section: str
    name: str
    ok: bool | None
    status: str
    enables: str


@dataclass(frozen=True)
class Extra:
    name: str
    enables: str


EXTRAS = (
    Extra("fhir", "FHIR R4 bundles in, CarePlan/RequestGroup out (gbrules.io.fhir)"),
    Extra("service", "gbrules serve: the CDS Hooks HTTP service, with JWT auth"),
    Extra("audit", "gbrules audit and serve --audit-db: the tamper-evident audit trail"),
    Extra("dask", "gbrules batch on a Dask cluster"),
    Extra("parquet", "gbrules batch reading and writing Parquet"),
)


@dataclass(frozen=True)
class Tool:
    name: str
    commands: tuple[str, ...]  # names looked up on PATH, or glob patterns (absolute paths)
    install: str  # the Debian package(s)
    enables: str


TOOLS = (
    Tool(
        "chromium",
        ("chromium", "chromium-browser"),
        "apt-get install chromium",
        "print-to-PDF of the HTML drafts; the real-browser rendering test",
    ),
    Tool(
        "pdftotext",
        ("pdftotext",),
        "apt-get install poppler-utils",
        "reading the printed PDF back in the rendering test",
    ),
    Tool(
        "PostgreSQL initdb",
        ("initdb", "/usr/lib/postgresql/*/bin/initdb"),
        "apt-get install postgresql",
        "a local PostgreSQL for the audit trail; the audit tests on a real cluster",
    ),
    Tool(
        "node",
        ("node",),
        "apt-get install nodejs",
        "integration tests against servers installed from the npm registry",
    ),
    Tool(
        "npm",
        ("npm",),
        "apt-get install npm",
        "installing those npm test servers",
    ),
)


def doctor() -> None:
    """Show Python, the rule engine, the optional extras and system tools, and how to add them."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    checks = [*python_checks(), *engine_checks(), *extra_checks(), *tool_checks()]
    wide = sys.stdout.isatty() or os.environ.get("COLUMNS")  # else rich's 80 columns is cramped
    console = Console(
        highlight=False,
        width=None if wide else 140,
        color_system="auto" if sys.stdout.isatty() else None,
    )
    table = Table(title="gbrules doctor", title_justify="left", show_lines=False)
    for column in ("", "component", "status", "enables"):
        table.add_column(column, overflow="fold")
    section = None
    for check in checks:
        if check.section != section:
            if section is not None:
                table.add_section()
            section = check.section
        mark = {True: "[green]ok[/green]", False: "[red]--[/red]", None: ""}[check.ok]
        table.add_row(
            mark, f"{check.section}: {check.name}", escape(check.status), escape(check.enables)
        )
    console.print(table)
    engine = engine_status()
    if not engine.loaded:
        problem = escape(engine.problem or "")
        console.print(f"[bold red]The rule engine cannot run here.[/bold red] {problem}")
        raise typer.Exit(1)
    console.print("The rule engine loads: gbrules can evaluate intakes on this Python.")


def python_checks() -> list[Check]:
    version = platform.python_version()
    supported = sys.version_info >= (3, 11)
    return [
        Check(
            "python",
            platform.python_implementation(),
            supported,
            f"{version} at {sys.executable}",
            "gbrules supports CPython 3.11 and later" if supported else "needs CPython 3.11+",
        )
    ]


def engine_checks() -> list[Check]:
    status = engine_status()
    rows = [
        Check(
            "engine",
            "durable-rules",
            status.version is not None,
            status.version or f"not installed: pip install '{REQUIREMENT}'",
            "the rule engine every evaluation runs on (built from source: needs a C compiler)",
        ),
        Check(
            "engine",
            "durable_rules loads",
            status.loaded,
            "yes" if status.loaded else f"no: {status.problem}",
            "gbrules evaluate, batch, serve, the Python API",
        ),
    ]
    if status.loaded:
        rows.append(
            Check(
                "engine",
                "PyEval_CallObject shim",
                None,
                "used (this Python removed the call durable-rules 2.0.28 makes)"
                if status.shim_used
                else "not needed on this Python",
                "durable-rules 2.0.28 on CPython 3.13+ (docs/PYTHON.md)",
            )
        )
    return rows


def extra_checks() -> list[Check]:
    """Each extra: are its requirements (from gbrules' own metadata) installed and in range?"""
    try:
        declared = metadata.requires("gbrules") or []
    except metadata.PackageNotFoundError:
        declared = None
    rows = []
    for extra in EXTRAS:
        if declared is None:
            rows.append(Check("extra", extra.name, None, "unknown: gbrules is not installed", ""))
            continue
        missing = _missing(declared, extra.name)
        if missing:
            status = f"{', '.join(missing)} missing: pip install 'gbrules[{extra.name}]'"
        else:
            status = "installed"
        rows.append(Check("extra", extra.name, not missing, status, extra.enables))
    return rows


def _missing(declared: list[str], extra: str) -> list[str]:
    """The requirements of ``extra`` that are not installed, or not at an allowed version."""
    out = []
    for text in declared:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is None or not req.marker.evaluate({"extra": extra}):
            continue
        if req.marker.evaluate({"extra": ""}):
            continue  # not tied to this extra (a platform marker on a base requirement)
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append(req.name)
            continue
        if not req.specifier.contains(have, prereleases=True):
            out.append(f"{req.name} {have} (needs {req.specifier})")
    return out


def tool_checks() -> list[Check]:
    rows = [_tool(tool) for tool in TOOLS]
    rows.append(_compiler())
    return rows


def _find(commands: tuple[str, ...]) -> str | None:
    for command in commands:
        if command.startswith("/"):
            matches = sorted(glob.glob(command))
            if matches:
                return matches[-1]
        elif (path := shutil.which(command)) is not None:
            return path
    return None


def _tool(tool: Tool) -> Check:
    path = _find(tool.commands)
    status = path if path is not None else f"not found: {tool.install}"
    return Check("tool", tool.name, path is not None, status, tool.enables)


def _compiler() -> Check:
    """The C compiler pip will use for durable-rules and gbrules' shim ($CC, else sysconfig's)."""
    configured = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    path = shutil.which(configured[0]) if configured else None
    enables = "pip install of gbrules and durable-rules (both compile C)"
    if path is None:
        return Check(
            "tool",
            "C compiler",
            False,
            "not found: apt-get install gcc (plus python3-dev for a system Python)",
            enables,
        )
    status = _first_line([path, "--version"]) or path
    if sys.version_info >= (3, 13) and _rejects_implicit_declarations(status):
        status += (
            f" (building durable-rules 2.0.28 on this Python needs CPPFLAGS='{BUILD_FLAGS}';"
            " docs/PYTHON.md)"
        )
    return Check("tool", "C compiler", True, status, enables)


def _first_line(command: list[str]) -> str | None:
    try:
        # S603: the command is the compiler this Python's builds use, run with --version only.
        out = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0] if lines else None


def _rejects_implicit_declarations(version_line: str) -> bool:
    """GCC 14, Clang 16 and Apple clang 12 made implicit function declarations an error in C."""
    match = re.search(r"\s(\d+)\.\d+", version_line)
    if match is None:
        return False
    major = int(match.group(1))
    line = version_line.lower()
    if "apple clang" in line:
        return major >= 12
    return major >= 16 if "clang" in line else major >= 14
