"""Loading durable_rules: the 3.13 shim, and a clear EngineError wherever it cannot load.

Each failure is simulated in a fresh interpreter (a subprocess), because a loaded C module
cannot be unloaded: ``sys.modules[name] = None`` makes an import fail as if the module were not
installed, and a meta-path finder raises the ImportError a broken build would.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import gbrules
from gbrules.core.backends.loader import ENGINE_MODULE, SHIM_MODULE, engine_status

from .conftest import load_example

ROOT = Path(__file__).resolve().parent.parent

# A finder that makes `import durable_rules_engine` raise the given ImportError message for the
# first `times` attempts (then lets the real module load); `times` < 0 means always.
FAIL_IMPORT = textwrap.dedent(
    """
    import importlib.abc, sys

    class FailEngine(importlib.abc.MetaPathFinder):
        def __init__(self, message, times):
            self.message, self.times = message, times

        def find_spec(self, name, path=None, target=None):
            if name != {engine!r} or self.times == 0:
                return None
            self.times -= 1
            raise ImportError(self.message, name=name)

    sys.meta_path.insert(0, FailEngine(MESSAGE, TIMES))
    """
).format(engine=ENGINE_MODULE)

REPORT = textwrap.dedent(
    """
    import json, gbrules
    from gbrules.core.backends.loader import engine_status
    out = {}
    try:
        ev = gbrules.evaluate(INTAKE)
        out["evaluation"] = ev.model_dump(mode="json")
    except Exception as exc:
        out["error"] = type(exc).__name__
        out["message"] = str(exc)
        out["is_import_error"] = isinstance(exc, ImportError)
    status = engine_status()
    out["loaded"], out["shim_used"] = status.loaded, status.shim_used
    print(json.dumps(out))
    """
)

UNDEFINED = f"/x/{ENGINE_MODULE}.so: undefined symbol: PyEval_CallObject"


def run_python(prelude: str, body: str, **names: Any) -> subprocess.CompletedProcess[str]:
    bindings = "".join(f"{k} = {v!r}\n" for k, v in names.items())
    return subprocess.run(
        [sys.executable, "-c", bindings + prelude + body],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def report(prelude: str, **names: Any) -> dict[str, Any]:
    proc = run_python(prelude, REPORT, INTAKE=load_example("case2"), **names)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def test_this_interpreter_loads_the_engine_with_the_shim_exactly_on_3_13_and_later() -> None:
    status = engine_status()
    assert status.loaded, status.problem
    assert status.version == "2.0.28"
    assert status.shim_used is (sys.version_info >= (3, 13))
    assert gbrules.evaluate({"age": 40}).rulebook_version  # rules run on it


def test_missing_engine_import_works_and_first_use_names_the_fix() -> None:
    out = report(f"import sys; sys.modules[{ENGINE_MODULE!r}] = None\n")
    assert out["error"] == "EngineError"
    assert out["is_import_error"] is False
    assert "durable_rules is not installed" in out["message"]
    assert "-m pip install 'durable-rules==2.0.28'" in out["message"]
    assert ("CPPFLAGS='-Wno-error=implicit-function-declaration" in out["message"]) is (
        sys.version_info >= (3, 13)
    )
    assert sys.executable in out["message"]
    assert (out["loaded"], out["shim_used"]) == (False, False)


def test_missing_symbol_loads_the_shim_and_rules_fire() -> None:
    """What CPython 3.13 does to durable-rules 2.0.28, on any interpreter."""
    out = report(FAIL_IMPORT, MESSAGE=UNDEFINED, TIMES=1)
    assert "error" not in out, out
    expected = gbrules.evaluate(load_example("case2")).model_dump(mode="json")
    assert out["evaluation"] == expected  # the same draft as with the engine loaded directly
    assert (out["loaded"], out["shim_used"]) == (True, True)


def test_missing_symbol_without_the_built_shim_says_to_install_gbrules() -> None:
    prelude = FAIL_IMPORT + f"sys.modules[{SHIM_MODULE!r}] = None\n"
    out = report(prelude, MESSAGE=UNDEFINED, TIMES=-1)
    assert out["error"] == "EngineError"
    assert "needs PyEval_CallObject" in out["message"]
    assert "compatibility library that provides it was not built" in out["message"]
    assert "-m pip install ." in out["message"]
    assert out["loaded"] is False


def test_an_engine_built_for_another_python_says_to_rebuild_it() -> None:
    message = f"/x/{ENGINE_MODULE}.so: wrong ELF class: ELFCLASS32"
    out = report(FAIL_IMPORT, MESSAGE=message, TIMES=-1)
    assert out["error"] == "EngineError"
    assert "wrong ELF class" in out["message"]
    assert "--force-reinstall --no-cache-dir 'durable-rules==2.0.28'" in out["message"]
    assert "gbrules doctor" in out["message"]


def test_a_failed_load_is_not_kept() -> None:
    """Once the missing piece is there, the same process evaluates (no stale failure)."""
    body = textwrap.dedent(
        f"""
        import sys, gbrules
        sys.modules[{ENGINE_MODULE!r}] = None
        try:
            gbrules.evaluate({{"age": 40}})
        except gbrules.EngineError:
            print("first: EngineError")
        del sys.modules[{ENGINE_MODULE!r}]
        print("then:", bool(gbrules.evaluate({{"age": 40}}).rulebook_version))
        """
    )
    proc = run_python("", body)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["first: EngineError", "then: True"]


CLI = f"import sys\nsys.modules[{ENGINE_MODULE!r}] = None\nfrom gbrules.io.cli import main\n"


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "--example", "case2"],
        ["evaluate", "--example", "case2", "--format", "json"],
        pytest.param(
            ["serve", "--port", "1"],
            marks=pytest.mark.skipif(
                importlib.util.find_spec("uvicorn") is None, reason="needs the service extra"
            ),
        ),
    ],
)
def test_cli_without_the_engine_exits_1_with_the_fix_and_no_traceback(args: list[str]) -> None:
    proc = run_python(CLI, f"sys.argv = ['gbrules', *{args!r}]\nmain()\n")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "durable_rules is not installed" in proc.stderr
    assert "pip install 'durable-rules==2.0.28'" in proc.stderr
    assert proc.stdout == ""


def test_batch_without_the_engine_exits_1_with_the_fix(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(load_example("case1")) + "\n")
    args = ["batch", str(source), str(tmp_path / "out.jsonl")]
    proc = run_python(CLI, f"sys.argv = ['gbrules', *{args!r}]\nmain()\n")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "durable_rules is not installed" in proc.stderr
