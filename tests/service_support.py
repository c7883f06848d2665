"""Support for the service tests: ``gbrules serve`` as a real process, an engine that waits.

Not a test module (no ``test_`` prefix).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gbrules.core.engine import Engine
from gbrules.core.result import Evaluation
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def serve_process(
    args: Sequence[str] = (), *, scheme: str = "http", verify: Any = True
) -> Iterator[Served]:
    """``gbrules serve --host 127.0.0.1 --port <free> *args`` until /health answers; its
    stderr goes to a file (read with ``Served.stderr``), so a chatty server never blocks."""
    port = free_port()
    with serve_fixed_port(["--port", str(port), *args], port, scheme=scheme, verify=verify) as s:
        yield s


@contextlib.contextmanager
def serve_fixed_port(
    args: Sequence[str], port: int, *, scheme: str = "http", verify: Any = True
) -> Iterator[Served]:
    """``gbrules serve --host 127.0.0.1 *args`` where ``args`` name ``--port port`` (a test
    that needs the URL before the server starts, e.g. as its JWT audience). With ``--workers``
    the whole process group is stopped at the end, workers included."""
    url = f"{scheme}://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "stderr.log"
        cmd = [sys.executable, "-m", "gbrules.io.cli", "serve", "--host", "127.0.0.1"]
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [*cmd, *args],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        served = Served(url, proc, log)
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise AssertionError(
                        f"gbrules serve exited {proc.returncode}:\n{served.stderr()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/health", timeout=2, verify=verify).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise AssertionError("gbrules serve did not answer /health within 60 s")
                time.sleep(0.1)
            yield served
        finally:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and any worker it started (its own process group, by its id)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class GatedEngine:
    """The real engine, holding each evaluation until the test opens the gate: a slow
    evaluation on demand, with no clock involved. ``entered`` is set once one is waiting."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rulebook = engine.rulebook
        self.gate = threading.Event()
        self.entered = threading.Event()

    def evaluate(self, intake: Any) -> Evaluation:
        self.entered.set()
        if not self.gate.wait(60):
            raise RuntimeError("the test never opened the gate")
        return self.engine.evaluate(intake)


def wait_until(check: Any, what: str, timeout: float = 30) -> None:
    """Poll ``check()`` until true; a bounded wait for a state, never a timing assertion."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)
