"""Checks on user input, done before anything is written so a rejected call leaves no trace."""

from __future__ import annotations

import numbers
import re
import time
from datetime import datetime, timezone

from duckml.errors import InvalidInputError, InvalidNameError

MAX_KEY_LENGTH = 250
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_key(key, what: str = "key") -> str:
    """A metric/param/tag key: a non-empty string of printable characters, at most 250 long.

    Spaces, dots, slashes, quotes and any Unicode letter are fine: keys are always bound parameters.

    >>> check_key("val/loss 2")
    'val/loss 2'
    """
    if not isinstance(key, str):
        raise InvalidNameError(f"{what} must be a string, got {type(key).__name__} {key!r}")
    if not key.strip():
        raise InvalidNameError(f"{what} must not be empty or blank, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidNameError(f"{what} {key[:40]!r}… is {len(key)} characters; the limit is {MAX_KEY_LENGTH}")
    if _CONTROL.search(key):
        raise InvalidNameError(f"{what} {key!r} contains a control character")
    return key


def check_name(name, what: str) -> str:
    """An experiment or run name: same rules as keys."""
    return check_key(name, what)


def check_metric_value(key: str, value) -> float:
    """A metric value: any real number (int, float, numpy scalar); NaN and ±inf are kept as they are."""
    if isinstance(value, (str, bytes)) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"metric {key!r} must be a number, got {type(value).__name__} {value!r}")
    return float(value)


def check_step(step) -> int:
    if step is None:
        return 0
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidInputError(f"step must be an integer, got {type(step).__name__} {step!r}")
    step = int(step)
    if not -(2**63) <= step < 2**63:
        raise InvalidInputError(f"step {step} does not fit in 64 bits")
    return step


def timestamp_us(timestamp) -> int:
    """MLflow's integer milliseconds since the epoch, or a datetime (naive = UTC), as epoch microseconds."""
    if timestamp is None:
        return time.time_ns() // 1000
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=timezone.utc)
        return int(round(timestamp.timestamp() * 1_000_000))
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Integral):
        raise InvalidInputError(
            f"timestamp must be integer milliseconds since the epoch or a datetime, got {timestamp!r}")
    if not -(2**62) // 1000 < int(timestamp) < 2**62 // 1000:
        raise InvalidInputError(f"timestamp {timestamp} ms is out of range")
    return int(timestamp) * 1000


def param_value(value) -> str:
    """Params are stored as text, as MLflow stores them."""
    return value if isinstance(value, str) else str(value)
