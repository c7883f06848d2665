"""The workbench under test, served for real, and the browser that drives it.

Not a test module. ``WorkbenchServer`` runs ``gbrules.io.app.standalone_app`` under uvicorn on
127.0.0.1 on a free port, in a thread of the test process (so a test can read the audit trail
and the sessions it wrote). ``browser`` is headless Chromium from Debian (``/usr/bin/chromium``)
driven by Playwright, one per test module; Playwright's own browser download is never used.
``axe`` injects axe-core from ``tests/workbench_npm`` (``npm ci --prefix tests/workbench_npm``,
as ``.ci/run`` does). Without Chromium, Playwright or the npm packages the browser tests skip
locally, and fail under ``CI=true``.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from gbrules.io.app import WorkbenchSettings, standalone_app
from tests.browser import CHROMIUM, CHROMIUM_ARGS, IN_CI
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
NPM_DIR = ROOT / "tests" / "workbench_npm"
AXE_JS = NPM_DIR / "node_modules" / "axe-core" / "axe.min.js"


@dataclass
class WorkbenchServer:
    """A running workbench: ``url`` is its /app/ page."""

    server: uvicorn.Server
    thread: threading.Thread
    port: int
    app: Any

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.origin}/app/"

    @classmethod
    def start(cls, port: int | None = None, **kwargs: Any) -> WorkbenchServer:
        app = standalone_app(**kwargs)
        port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="workbench-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the workbench server did not start")
            time.sleep(0.05)
        return cls(server, thread, port, app)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def workbench(self) -> Any:
        """The Workbench object behind the mounted app (sessions, settings)."""
        mount = next(r for r in self.app.routes if getattr(r, "path", "") == "/app")
        return mount.app.state.workbench


def browser_unavailable() -> str | None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return "Debian's chromium is not installed (.ci/run installs it)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (dev extra)"
    if not AXE_JS.exists():
        return "axe-core is not installed: run `npm ci --prefix tests/workbench_npm` (.ci/run does)"
    return None


def need_browser() -> None:
    reason = browser_unavailable()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"browser test prerequisites missing under CI=true: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole test module."""
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=CHROMIUM_ARGS,
        )
        try:
            yield chromium
        finally:
            chromium.close()


def start_workbench(**settings: Any) -> WorkbenchServer:
    return WorkbenchServer.start(settings=WorkbenchSettings(**settings))


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[Any]:
    """axe-core's violations of the given impacts on the page as it is now.

    axe is added with Playwright's script injection (a CDP call, not a ``<script>`` the page's
    Content-Security-Policy would refuse), and runs the WCAG 2.x A/AA rules.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Runtime.evaluate (devtools), not a <script> element: the page CSP stays as it is.
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag',
                values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }"""
    )
    return [v for v in result if v["impact"] in impacts]
