"""The suite on every CPython gbrules supports that this machine has (nox: one venv per version).

    nox                   # the full suite (pytest) on 3.11, 3.12, 3.13 and 3.14
    nox -s fast -p 3.13   # the engine, BDD and CLI tests only, on one interpreter; .ci/run runs
                          # this on every installed interpreter but the default one

An interpreter that is not installed is skipped with a printed notice, never silently (and so
is an optional extra that will not install on a new interpreter). nox finds ``python3.X`` on
PATH; this file also finds interpreters that pyenv installed but did not put on PATH.

gbrules is installed editable because pytest imports the checkout's ``gbrules/`` (``tests/`` is a
package, so the checkout comes first on ``sys.path``): each venv builds its own ABI-tagged copy
of the C shim (docs/PYTHON.md) beside the sources, and they coexist.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

PYTHONS = ["3.11", "3.12", "3.13", "3.14"]
EXTRAS = ["fhir", "service", "audit", "dask", "parquet"]
# The engine (loading, guards, the differential check against the reference evaluator), the BDD
# scenarios, the CLI, the public API and the wheel/sdist build: what changes with the
# interpreter, in about a minute and a half.
FAST_TESTS = [
    "tests/test_engine.py",
    "tests/test_engine_loading.py",
    "tests/test_reliability.py",
    "tests/test_differential.py",
    "tests/test_features.py",
    "tests/test_api.py",
    "tests/test_cli.py",
    "tests/test_doctor.py",
    "tests/test_packaging.py",
]

# durable-rules 2.0.28 builds on CPython 3.13+ with GCC 14 / Clang 16 only with these (the same as
# the Makefile's; gbrules.core.backends.loader.BUILD_FLAGS and docs/PYTHON.md say why).
DURABLE_CPPFLAGS = "-Wno-error=implicit-function-declaration -Wno-error=int-conversion"

ROOT = Path(__file__).resolve().parent
nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = False  # skipped, with nox's notice and ours below
nox.options.download_python = "never"  # only interpreters installed here; no downloads


def _runs(executable: str, version: str) -> bool:
    """Whether ``executable`` starts and is CPython ``version`` (a pyenv shim may exist for a
    version it will not run)."""
    try:
        out = subprocess.run(  # noqa: S603 (an interpreter found on PATH or in pyenv's folder)
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def _interpreter(version: str) -> str | None:
    """A working ``python<version>``: on PATH, else the newest one in pyenv's versions folder."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = [p / "bin" / f"python{version}" for p in pyenv.glob(f"{version}.*")]
    candidates += [str(p) for p in sorted(found, key=_release, reverse=True)]
    return next((c for c in candidates if c and _runs(c, version)), None)


def _release(path: Path) -> tuple[int, ...]:
    """3.13.10 after 3.13.9; a pre-release or -dev build sorts first."""
    parts = path.parent.parent.name.split(".")
    return tuple(int(p) if p.isdigit() else -1 for p in parts)


def _expose_interpreters() -> None:
    """Put a ``python3.X`` link to each working interpreter first on PATH, so nox finds it;
    print a notice for each supported version this machine does not have."""
    links = ROOT / ".nox" / "_interpreters"
    links.mkdir(parents=True, exist_ok=True)
    for version in PYTHONS:
        link = links / f"python{version}"
        link.unlink(missing_ok=True)
        exe = _interpreter(version)
        if exe is None:
            print(f"nox: Python {version} is not installed here; its sessions are skipped")
            continue
        link.symlink_to(exe)
    os.environ["PATH"] = f"{links}{os.pathsep}{os.environ.get('PATH', '')}"


_expose_interpreters()


def _install(session: nox.Session, base: str, extras: list[str]) -> None:
    """gbrules (editable) with ``base`` and as many of ``extras`` as install on this Python.

    An extra whose wheels do not exist yet for a new interpreter is left out with a warning;
    the tests that need it skip themselves (``pytest.importorskip``) or fail, visibly.
    """
    session.env["CPPFLAGS"] = f"{DURABLE_CPPFLAGS} {os.environ.get('CPPFLAGS', '')}".strip()
    try:
        session.install("-e", f".[{','.join([base, *extras])}]")
        return
    except nox.command.CommandFailed:
        session.warn("not every extra installs on this Python; installing them one by one")
    session.install("-e", f".[{base}]")
    missing = []
    for extra in extras:
        try:
            session.install("-e", f".[{base},{extra}]")
        except nox.command.CommandFailed:
            missing.append(extra)
    if missing:
        session.warn(f"extras that do not install on Python {session.python}: {missing}")


def _pytest(session: nox.Session, *args: str) -> None:
    session.run("python", "-c", "import sys; print('Python', sys.version)")
    session.run("gbrules", "doctor")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, *session.posargs)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The full pytest suite with every extra that installs."""
    _install(session, "dev", EXTRAS)
    _pytest(session)


@nox.session(python=PYTHONS)
def fast(session: nox.Session) -> None:
    """The engine, BDD and CLI tests: what an interpreter change can break, kept lean for CI.

    The scenarios include the CDS Hooks cards (crisis lines, draft orders), so the service and
    FHIR extras come along; nothing else does."""
    _install(session, "test", ["fhir", "service"])
    _pytest(session, *FAST_TESTS)
