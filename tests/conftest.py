from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

import gbrules
from gbrules.clinical.engine import cached_engine
from gbrules.core.result import Evaluation

if TYPE_CHECKING:
    from tests.audit_support import PgServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXAMPLE_NAMES = ("case1", "case2", "crisis")
#: Every rendered test output uses this time, so goldens are byte-for-byte reproducible.
FIXED_TIME = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)
FHIR_EXAMPLES = ROOT / "examples" / "fhir"
AS_OF = date(2025, 6, 1)

settings.register_profile(
    "default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("default")


@pytest.fixture(scope="session")
def built_dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An sdist of this checkout and a wheel built from that sdist (once per session), so the
    sdist must hold everything a build needs."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def built_wheel(built_dists: Path) -> Path:
    (whl,) = built_dists.glob("gbrules-*.whl")
    return whl


@pytest.fixture(scope="session")
def installed_site(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel unpacked as an install would lay it out; put it first on PYTHONPATH to use it."""
    import zipfile

    site = tmp_path_factory.mktemp("site")
    zipfile.ZipFile(built_wheel).extractall(site)
    return site


@pytest.fixture(scope="session")
def engine() -> gbrules.Engine:
    return cached_engine()


@pytest.fixture(scope="session")
def evaluations() -> dict[str, Evaluation]:
    return {name: gbrules.evaluate(load_example(name)) for name in EXAMPLE_NAMES}


def load_example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


def load_bundle(name: str) -> dict[str, Any]:
    return json.loads((FHIR_EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def prefetch_from_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """What an EHR would send for the services' prefetch templates: each resource under the key
    whose query matches it (Observations by their LOINC code), ``null`` for a key with no data."""
    from gbrules.io.fhir.prefetch import PREFETCH_QUERIES

    out: dict[str, Any] = {q.key: None for q in PREFETCH_QUERIES}
    for e in bundle["entry"]:
        res = e["resource"]
        key = prefetch_key(res)
        if key == "patient":
            out["patient"] = res
        elif key is not None:
            sb = out[key] or {"resourceType": "Bundle", "type": "searchset", "entry": []}
            sb["entry"].append({"fullUrl": e.get("fullUrl"), "resource": res})
            out[key] = sb
    return out


def prefetch_key(res: dict[str, Any]) -> str | None:
    """The prefetch key whose query would return ``res`` (codes and resource type only)."""
    from gbrules.io.fhir.prefetch import PREFETCH_QUERIES

    codes = {
        f"{c.get('system')}|{c.get('code')}"
        for c in (res.get("code") or {}).get("coding", [])
        if isinstance(c, dict)
    }
    for q in PREFETCH_QUERIES:
        if q.search.resource_type != res["resourceType"]:
            continue
        wanted = dict(q.search.params).get("code")
        if wanted is None or codes & set(wanted.split(",")):
            return q.key
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def serve() -> Iterator[Callable[..., str]]:
    """Start a real uvicorn server for an app on a free port, in a thread; return its URL."""
    import uvicorn

    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: Any, port: int | None = None) -> str:
        port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_url(serve: Callable[[Any], str], engine: Any) -> str:
    from gbrules.io.service import create_app

    return serve(create_app(engine, today=lambda: AS_OF))


def interrupt_batch_at_chunk(monkeypatch: pytest.MonkeyPatch, chunk: int) -> Callable[..., Any]:
    """Make ``gbrules batch`` raise KeyboardInterrupt (Ctrl-C) when it evaluates its
    ``chunk``-th chunk; returns the real function, to put back for a resumed run."""
    from gbrules.io.batch import work

    real: Callable[..., Any] = work.evaluate_lines
    calls = {"n": 0}

    def flaky(*args: object, **kwargs: object) -> Any:
        calls["n"] += 1
        if calls["n"] == chunk:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(work, "evaluate_lines", flaky)
    return real


# -- audit databases: SQLite and a throwaway PostgreSQL cluster (tests/audit_support.py) --------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    from tests.audit_support import PgServer, pg_bindir

    bindir = pg_bindir()
    if bindir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run the PostgreSQL audit tests")
        pytest.skip(message)
    server = PgServer.start(bindir)
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "audit.db")  # a plain path: the embedded default
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = server.create_db()
    yield server.url(name)
    server.drop_db(name)


# The real FHIR R4 server (session scope): tests/fhir_server.py starts and loads it. Its client
# is httpx (extra 'service'), which the lean per-interpreter runs (nox -s fast) do not install:
# they run no FHIR test, so the fixture is simply absent there.
try:
    from tests.fhir_server import fhir_server  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name != "httpx":
        raise

# Every CDS Hooks answer the suite receives is validated against the 2.0.1 schema (httpx and
# jsonschema-rs: absent from the lean runs, which send no CDS Hooks request either).
try:
    from tests.cds_conformance import cds_hooks_conformance  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name not in ("httpx", "jsonschema_rs"):
        raise
