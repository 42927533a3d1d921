"""How the UI shows numbers: as few digits as keep a column's values apart, and every digit on hover."""

from __future__ import annotations

import math


def digits_for(values, least: int = 4, most: int = 17) -> int:
    """The fewest significant digits (at least ``least``) that show every distinct number of a column
    differently: 0.957834 and 0.957754 must not both read 0.9578.

    >>> digits_for([0.957834, 0.957754, 0.5]), digits_for([1.0, 2.0]), digits_for(["text", None])
    (5, 4, 4)
    """
    numbers = {v for v in values if isinstance(v, float) and math.isfinite(v)}
    for digits in range(least, most + 1):
        if len({f"{v:.{digits}g}" for v in numbers}) == len(numbers):
            return digits
    return most


def fmt_full(value) -> str:
    """Every digit of a number (the shortest text that reads back as the same double), for hovers.

    >>> fmt_full(0.1 + 0.2), fmt_full(None)
    ('0.30000000000000004', '')
    """
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)
