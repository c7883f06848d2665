"""Check what `make install` needs from the system before pip runs, and say how to get it.

durable-rules (the rule engine) is published only as source and compiles C on install, so a
machine without a C compiler or without the Python headers fails deep inside pip with "Failed
building wheel for durable_rules". This script finds that out in a second and prints the exact
package names to install. It runs on the interpreter `make` is about to use (any Python 3), so
it is written to run on old versions too and must not import anything outside the standard
library.

Exit 0 when everything is there, 1 otherwise (every missing piece is listed).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile

MIN_PYTHON = (3, 11)

HOW_TO_INSTALL = """\
Install them, then run make again:
  Debian / Ubuntu:  sudo apt-get install build-essential python3-dev python3-venv
  Fedora / RHEL:    sudo dnf install gcc python3-devel
  macOS:            xcode-select --install   (Python from python.org or Homebrew has its headers)
A different interpreter: make PYTHON=python3.12 ...   A different compiler: make CC=clang ...
"""

PROBE = "#include <Python.h>\nint main(void) { return Py_IsInitialized(); }\n"


def compiler_command() -> list[str]:
    """The C compiler pip will use: $CC when set, else the one this Python was built with."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc)


def problems() -> list[str]:
    found = []
    if sys.version_info < MIN_PYTHON:
        have = ".".join(map(str, sys.version_info[:2]))
        found.append(f"Python 3.11 or newer is needed; {sys.executable} is {have}")
        return found  # the checks below are about this interpreter: pointless on the wrong one
    if importlib.util.find_spec("ensurepip") is None:
        found.append(f"{sys.executable} cannot make a virtual environment (no ensurepip)")
    cc = compiler_command()
    if shutil.which(cc[0]) is None:
        found.append(f"no C compiler: {cc[0]!r} is not on PATH (durable-rules compiles C)")
        return found
    include = sysconfig.get_paths()["include"]
    header = os.path.join(include, "Python.h")
    if not os.path.isfile(header):
        found.append(f"no Python headers: {header} is missing (durable-rules compiles against it)")
        return found
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as fh:
            fh.write(PROBE)
        cmd = [*cc, "-fsyntax-only", "-I" + include, src]
        # The compiler named by $CC or by this Python build, on a probe file we just wrote.
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
        if proc.returncode != 0:
            output = proc.stdout.decode("utf-8", "replace").strip().splitlines()[:5]
            shown = "\n    ".join(output)
            found.append(f"the C compiler cannot build against the Python headers:\n    {shown}")
    return found


def main() -> int:
    found = problems()
    if not found:
        return 0
    sys.stderr.write("make: cannot install gbrules yet:\n")
    for p in found:
        sys.stderr.write(f"  - {p}\n")
    sys.stderr.write(HOW_TO_INSTALL)
    return 1


if __name__ == "__main__":
    sys.exit(main())
