"""What setuptools cannot read from pyproject.toml: the C shim and the bundled rulebook.

* ``gbrules.core.backends._pyeval_shim``: a C extension defining ``PyEval_CallObject``, which
  durable-rules 2.0.28 needs and CPython 3.13 removed (docs/PYTHON.md). It is built on every
  interpreter, so a wheel looks the same everywhere; below 3.13 it defines nothing.
* ``rules/``, ``examples/`` and ``features/`` live at the top of the repository (they are the
  project's content, edited and reviewed as such), and a wheel carries them as
  ``gbrules/_bundled/``, where ``gbrules.core.rulebook.default_rules_dir``,
  ``gbrules.clinical.examples`` and ``gbrules.io.review.run`` look first. An editable install
  needs no copy: those functions fall back to the checkout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

BUNDLED = {
    "rules": "gbrules/_bundled/rules",
    "examples": "gbrules/_bundled/examples",
    "features": "gbrules/_bundled/features",
}


class BuildPyWithBundle(build_py):
    """build_py, plus rules/, examples/ and features/ copied into the build as
    gbrules/_bundled/."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # a checkout reads rules/, examples/ and features/ in place
            return
        for source, target in BUNDLED.items():
            dest = Path(self.build_lib, target)
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"))


setup(
    ext_modules=[
        Extension(
            "gbrules.core.backends._pyeval_shim",
            sources=["gbrules/core/backends/_pyeval_shim.c"],
            optional=False,
        )
    ],
    cmdclass={"build_py": BuildPyWithBundle},
)
