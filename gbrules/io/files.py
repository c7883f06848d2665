"""Durable file steps: what batches, releases and approvals rely on to survive SIGKILL.

A write is durable once its bytes are fsynced; a new name (a created or renamed file) is
durable once its directory is fsynced. ``atomic_write`` gives a file that is, after any crash,
either entirely the old content or entirely the new: write a temporary file in the same
directory, fsync it, rename it over the target (``os.replace`` is atomic on POSIX), fsync the
directory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


class Busy(Exception):
    """Another process holds the lock: it is writing the same output right now."""


@contextlib.contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` for the block; raise Busy if it is held.

    ``flock`` locks belong to the open file and vanish when the process dies, so a killed run
    never blocks the next one (its empty lock file is simply reused). The file is removed on
    the way out; a process that opened it just before is told apart by checking, once it
    holds the lock, that the name still leads to the file it locked (else it tries again).
    """
    import fcntl

    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Busy(str(lock)) from None
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # removed or replaced by the holder we waited for: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


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
