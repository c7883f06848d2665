"""How the browser tests run Debian's Chromium: one place for its path and flags.

Headless, as root, on a machine with a closed network: without the background-networking and
component flags Chromium keeps trying to reach Google's hosts. ``IN_CI``: a missing browser
fails the run in CI (``.ci/run`` installs it) and only skips a test elsewhere.
"""

from __future__ import annotations

import os

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() == "true"
