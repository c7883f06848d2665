"""Durable file steps: what a batch relies on to survive SIGKILL and power loss.

A write is durable once its bytes are fsynced; a new name (a created or renamed file) is
durable once its directory is fsynced. ``atomic_write`` gives a file that is, after any crash,
either entirely the old content or entirely the new: write a temporary file in the same
directory, fsync it, rename it over the target (``os.replace`` is atomic on POSIX), fsync the
directory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def fsync_dir(directory: Path) -> None:
    """Make the names in ``directory`` (created, renamed, removed files) durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(target: Path) -> Path:
    """The temporary file beside ``target`` that ``atomic_write`` renames into place."""
    return target.with_name(f".{target.name}.tmp-{os.getpid()}")


def remove_temps(target: Path) -> None:
    """Remove temporary files a killed ``atomic_write`` of ``target`` left (any process's)."""
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        stale.unlink(missing_ok=True)


def atomic_write(target: Path, fill: Callable[[BinaryIO], object]) -> int:
    """Replace ``target`` with what ``fill`` writes, atomically and durably; return its size.

    On any exception (also KeyboardInterrupt) the temporary file is removed and ``target`` is
    left as it was.
    """
    tmp = temp_name(target)
    try:
        with tmp.open("wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
            size = f.tell()
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(target.parent)
    return size
