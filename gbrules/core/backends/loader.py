"""Loading durable_rules' C module on every supported CPython, or saying in words why not.

Two things can stand between gbrules and its engine, and neither may surface as a bare
``ImportError`` from a C module (nor break ``import gbrules``, which never loads the engine):

* durable-rules 2.0.28, the last release on the package index, calls ``PyEval_CallObject``.
  Up to CPython 3.12 that was a macro; 3.13 removed it, so the compiled module is left with an
  undefined symbol and its import fails. gbrules ships its own one-function C library
  (``_pyeval_shim.c``, built by setup.py) that defines the symbol. It is loaded with
  ``RTLD_GLOBAL`` only after the plain import has failed for exactly that reason, so on 3.11
  and 3.12, and on a future durable-rules release without the call, it is never loaded at all
  and the removal path is simply deleting it (docs/PYTHON.md).
* durable-rules is missing or built for another interpreter. Then the first engine use raises
  ``EngineError`` with the command that fixes it; ``gbrules doctor`` shows the same.

The outcome is kept, so the import runs once per process.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import sys
import threading
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType

from gbrules.core.errors import EngineError

ENGINE_MODULE = "durable_rules_engine"
SHIM_MODULE = "gbrules.core.backends._pyeval_shim"
MISSING_SYMBOL = "PyEval_CallObject"
DISTRIBUTION = "durable-rules"
REQUIREMENT = "durable-rules==2.0.28"
# GCC 14, Clang 16 and later refuse durable-rules' call to the undeclared PyEval_CallObject on
# CPython 3.13+ unless these turn the two errors back into warnings (durable's setup.py replaces
# CFLAGS, so they go in CPPFLAGS). The Makefile and noxfile.py set the same; docs/PYTHON.md.
BUILD_FLAGS = "-Wno-error=implicit-function-declaration -Wno-error=int-conversion"


@dataclass(frozen=True)
class EngineStatus:
    """Whether durable_rules loads in this interpreter, as ``gbrules doctor`` reports it."""

    loaded: bool
    shim_used: bool  # True when the PyEval_CallObject shim had to be loaded first
    version: str | None  # the installed durable-rules distribution, None if not installed
    problem: str | None  # the EngineError's message when it does not load


_lock = threading.Lock()
_engine: ModuleType | None = None
_shim_used = False


def load_engine() -> ModuleType:
    """durable_rules' C module, imported once (with the shim on CPython 3.13+).

    Raises ``EngineError`` naming the problem and its fix; a failure is not kept, so a
    process that installs the missing piece can try again.
    """
    global _engine, _shim_used
    if _engine is None:
        with _lock:
            if _engine is None:
                module, shim_used = _import_engine()
                _engine, _shim_used = module, shim_used
    return _engine


def engine_status() -> EngineStatus:
    """Load the engine if it can be and say how it went (never raises)."""
    try:
        load_engine()
    except EngineError as exc:
        return EngineStatus(loaded=False, shim_used=False, version=_version(), problem=str(exc))
    return EngineStatus(loaded=True, shim_used=_shim_used, version=_version(), problem=None)


def _import_engine() -> tuple[ModuleType, bool]:
    """The module and whether the shim was needed; EngineError otherwise."""
    try:
        return importlib.import_module(ENGINE_MODULE), False
    except ModuleNotFoundError as exc:
        if exc.name != ENGINE_MODULE:
            raise EngineError(_broken(exc)) from None
        raise EngineError(
            f"the rule engine durable_rules is not installed for this Python ({_python()}). "
            f"Install it with: {_pip_install()} (it is built from source, so a C compiler is "
            "needed), or reinstall gbrules, which depends on it."
        ) from None
    except ImportError as exc:
        if MISSING_SYMBOL not in str(exc):
            raise EngineError(_broken(exc)) from None
    _load_shim()
    try:
        return importlib.import_module(ENGINE_MODULE), True
    except ImportError as exc:
        raise EngineError(_broken(exc)) from None


def _load_shim() -> None:
    """Make ``PyEval_CallObject`` visible to every library loaded after this one."""
    spec = importlib.util.find_spec(SHIM_MODULE)
    if spec is None or spec.origin is None:
        raise EngineError(
            f"durable-rules 2.0.28 needs {MISSING_SYMBOL}, which Python {_python()} no longer "
            "has, and gbrules' compatibility library that provides it was not built: gbrules "
            "is being run from a source tree that was not installed. Install gbrules with pip "
            f"(`{sys.executable} -m pip install .` or `-e .` in the checkout; a C compiler is "
            "needed); see docs/PYTHON.md."
        )
    try:
        ctypes.CDLL(spec.origin, mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        raise EngineError(
            f"gbrules' compatibility library for durable-rules ({spec.origin}) does not load: "
            f"{exc}. Reinstall gbrules with pip on this Python ({sys.executable})."
        ) from None


def _broken(exc: ImportError) -> str:
    return (
        f"the rule engine durable_rules is installed but does not load in this Python "
        f"({_python()}): {exc}. It was probably built for another interpreter; rebuild it with: "
        f"{_pip_install('--force-reinstall --no-cache-dir ')}. "
        "`gbrules doctor` shows what this Python has."
    )


def _pip_install(options: str = "") -> str:
    """The pip line that builds durable-rules for this interpreter (with the flags on 3.13+)."""
    flags = f"CPPFLAGS='{BUILD_FLAGS}' " if sys.version_info >= (3, 13) else ""
    return f"{flags}{sys.executable} -m pip install {options}'{REQUIREMENT}'"


def _python() -> str:
    return f"{sys.implementation.name} {sys.version.split()[0]}"


def _version() -> str | None:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
