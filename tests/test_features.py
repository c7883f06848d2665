"""The clinician-readable scenarios in features/, run with gbrules' step vocabulary.

The step definitions ship in the package (``gbrules/io/scenarios/steps.py``) so that an installed
gbrules can run scenarios too (``gbrules scenarios check``, ``gbrules review build``); importing
them here makes them this module's fixtures, which is how pytest-bdd finds steps.
"""

from __future__ import annotations

import os
from pathlib import Path

from pytest_bdd import scenarios

from gbrules.io.scenarios.steps import *  # noqa: F403 - the step definitions are fixtures

# GBRULES_FEATURES_DIR runs the steps on other scenarios (tests/test_prove.py runs a scenario
# the verifier wrote this way).
FEATURES = Path(
    os.environ.get("GBRULES_FEATURES_DIR") or Path(__file__).resolve().parent.parent / "features"
)
scenarios(str(FEATURES))
# Clinician-written feature files (gbrules review build --features, gbrules scenarios check).
if os.environ.get("GBRULES_EXTRA_FEATURES"):
    scenarios(os.environ["GBRULES_EXTRA_FEATURES"])
