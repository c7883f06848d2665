"""Without an optional extra, the Python API says which extra to install.

Each case runs in a fresh interpreter whose import system refuses the extra's modules (a meta
path finder placed first), as on a machine where ``pip install gbrules`` ran without that
extra, and checks that the error is an ImportError naming the extra and the pip command,
while everything that does not need the extra keeps working.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap

import pytest

from gbrules.io.extras import EXTRAS

BLOCKER = textwrap.dedent(
    """\
    import importlib.abc, sys

    BLOCKED = {blocked!r}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    """
)


def _run(blocked: list[str], code: str) -> subprocess.CompletedProcess[str]:
    program = BLOCKER.format(blocked=blocked) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )


EXPECT_IMPORT_ERROR = """
try:
    {call}
except ImportError as exc:
    print(type(exc).__name__, "|", exc)
else:
    print("no error")
"""

CASES = [
    pytest.param(
        ["fhir"],
        "from gbrules.io.fhir import intake_from_fhir; import datetime\n"
        "    intake_from_fhir({'resourceType': 'Bundle'}, as_of=datetime.date(2030, 1, 1))",
        "fhir",
        id="fhir-intake",
    ),
    pytest.param(["fastapi"], "import gbrules.io.service", "service", id="service-fastapi"),
    pytest.param(["jwt"], "from gbrules.io.service import create_app", "service", id="service-jwt"),
    pytest.param(["fhir"], "import gbrules.io.service", "fhir", id="service-needs-fhir"),
    pytest.param(["sqlalchemy"], "from gbrules.io.audit import AuditLog", "audit", id="audit"),
    pytest.param(["pyarrow"], "import gbrules.io.batch.parquet", "parquet", id="parquet"),
    pytest.param(
        ["distributed"],
        "from gbrules.io.batch.executors import DaskExecutor\n"
        "    DaskExecutor(None, None, 'tcp://127.0.0.1:1')",  # type: ignore[arg-type]
        "dask",
        id="dask",
    ),
    pytest.param(
        ["matplotlib"],
        "from gbrules.io.audit.monitor import Monitoring, render_html; import datetime\n"
        "    w = datetime.date(2030, 1, 7)\n"
        "    render_html(Monitoring([w], {w: 1}, {'r.x': {}}, 0.2, []))",
        "monitor",
        id="monitor",
    ),
    pytest.param(
        ["pytest_bdd"], "import gbrules.io.scenarios.steps", "scenarios", id="scenario-steps"
    ),
]


@pytest.mark.parametrize(("blocked", "call", "extra"), CASES)
def test_a_missing_extra_is_an_import_error_naming_it(
    blocked: list[str], call: str, extra: str
) -> None:
    proc = _run(blocked, EXPECT_IMPORT_ERROR.format(call=call))
    assert proc.returncode == 0, proc.stderr
    kind, _, message = proc.stdout.strip().partition(" | ")
    assert kind == "MissingExtraError", proc.stdout
    assert f"pip install 'gbrules[{extra}]'" in message
    assert "(blocked)" not in message  # our message, not the bare ModuleNotFoundError


def test_what_needs_no_extra_works_without_any() -> None:
    every = sorted({m.split(".")[0] for modules in EXTRAS.values() for m in modules})
    proc = _run(
        every,
        """
        import json, gbrules
        from gbrules.io.fhir import careplan_from_evaluation
        from gbrules.io.audit import CardRecord
        ev = gbrules.evaluate({"age": 40, "lifestyle": {"sleep_hours": 5}})
        plan = careplan_from_evaluation(ev, "Patient/1")
        text = gbrules.render_care_plan(ev, format="markdown")
        print(json.dumps({"codes": sorted(ev.codes), "plan": plan["resourceType"],
                          "rendered": "sleep.hygiene" in text}))
        """,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"codes": ["sleep.hygiene"], "plan": "CarePlan", "rendered": True}


def test_the_cli_evaluates_without_any_extra() -> None:
    every = sorted({m.split(".")[0] for modules in EXTRAS.values() for m in modules})
    proc = _run(
        every,
        """
        sys.argv = ["gbrules", "evaluate", "--example", "case1"]
        from gbrules.io.cli import main
        main()
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Care-plan draft for example-case1" in proc.stdout


def test_every_extra_of_the_package_is_known() -> None:
    declared = set(importlib.metadata.metadata("gbrules").get_all("Provides-Extra") or [])
    # dev and test are for working on gbrules itself: no library feature needs them.
    assert declared - {"dev", "test"} == set(EXTRAS)
