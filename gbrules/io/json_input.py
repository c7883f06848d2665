"""Reading intake JSON text without Python's own limits leaking out as messages.

``json.loads`` refuses integers of more than 4,300 digits (``sys.int_info``'s default string
conversion limit, a defence against quadratic-time parsing) with a ValueError that tells the
user to call ``sys.set_int_max_str_digits()``: advice for a Python programmer, not for someone
who mistyped an age. Here such an integer is read as a number of the same magnitude, built
arithmetically (no string conversion), so validation reports it where it belongs: "age: Input
should be less than or equal to 130", with its JSON path, exit 2.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _parse_int(digits: str) -> int:
    limit = sys.get_int_max_str_digits()
    if limit == 0 or len(digits) <= limit:
        return int(digits)
    negative = digits.startswith("-")
    magnitude: int = 10 ** (len(digits) - negative - 1)  # a lower bound, same order
    return -magnitude if negative else magnitude


def loads(text: str | bytes) -> Any:
    """``json.loads`` for intake input: huge integers become out-of-range values, not errors.

    Still raises ``json.JSONDecodeError`` for malformed text and ``RecursionError`` for nesting
    deeper than the interpreter's stack.
    """
    return json.loads(text, parse_int=_parse_int)
