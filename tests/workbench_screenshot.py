"""Make docs/app-case2.png: the workbench with Case 2 entered and a few decisions made.

Run: ``.venv/bin/python -m tests.workbench_screenshot docs/app-case2.png`` (needs Debian's
chromium and the dev extra; the same server and browser the browser tests use).
"""

from __future__ import annotations

import sys
from pathlib import Path

from gbrules.io.app import form as F
from tests.test_workbench_browser import CASE2, accept, decline, edit, fill_form
from tests.workbench_support import CHROMIUM, CHROMIUM_ARGS, WorkbenchServer


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    server = WorkbenchServer.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(server.url)
            fill_form(page, F.from_intake(CASE2))
            page.wait_for_selector('#draft article[data-code="diet.fiber"]')
            accept(page, "lab.celiac_serology")
            edit(page, "lab.inflammatory_workup", "Check CRP again with FBC and ferritin")
            decline(page, "referral.dietitian", "already-addressed", "Sees a dietitian")
            page.evaluate("window.scrollTo(0, 0)")
            page.locator("#draft").evaluate("e => e.closest('.draft-panel').scrollTo(0, 0)")
            page.screenshot(path=str(out))
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/app-case2.png"))
