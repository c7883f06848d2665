"""Instructions retired by this thread, read from the CPU's counter (Linux perf_event_open).

Time on a shared virtual machine drifts by tens of percent from one second to the next; the
count of user-space instructions for the same work does not (it varies by well under 1%). The
benchmark prints it beside the rates as a steady second measure. Where counters are not
available (another OS, a container without perf access, perf_event_paranoid > 2) ``open()``
returns None and the column says so.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from collections.abc import Callable

_SYSCALL = {"x86_64": 298, "aarch64": 241}  # perf_event_open
_HARDWARE, _INSTRUCTIONS = 0, 1
_EXCLUDE_KERNEL_AND_HV = (1 << 5) | (1 << 6)


class _Attr(ctypes.Structure):
    """struct perf_event_attr, up to sample_max_stack (the kernel takes the size we give)."""

    _fields_ = [
        ("type", ctypes.c_uint32),
        ("size", ctypes.c_uint32),
        ("config", ctypes.c_uint64),
        ("sample_period", ctypes.c_uint64),
        ("sample_type", ctypes.c_uint64),
        ("read_format", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("wakeup_events", ctypes.c_uint32),
        ("bp_type", ctypes.c_uint32),
        ("config1", ctypes.c_uint64),
        ("config2", ctypes.c_uint64),
        ("branch_sample_type", ctypes.c_uint64),
        ("sample_regs_user", ctypes.c_uint64),
        ("sample_stack_user", ctypes.c_uint32),
        ("clockid", ctypes.c_int32),
        ("sample_regs_intr", ctypes.c_uint64),
        ("aux_watermark", ctypes.c_uint32),
        ("sample_max_stack", ctypes.c_uint16),
        ("reserved", ctypes.c_uint16),
    ]


def open_instruction_counter() -> Callable[[], int] | None:
    """A function returning this thread's user-space instruction count so far, or None."""
    number = _SYSCALL.get(platform.machine())
    if number is None or platform.system() != "Linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        attr = _Attr(type=_HARDWARE, config=_INSTRUCTIONS, flags=_EXCLUDE_KERNEL_AND_HV)
        attr.size = ctypes.sizeof(_Attr)
        fd = libc.syscall(number, ctypes.byref(attr), 0, -1, -1, 0)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None

    def read() -> int:
        return int(struct.unpack("q", os.read(fd, 8))[0])

    return read
