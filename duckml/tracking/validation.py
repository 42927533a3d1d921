"""Checks on user input, done before anything is written so a rejected call leaves no trace."""

from __future__ import annotations

import numbers
import re
import time
from datetime import datetime, timezone
from fractions import Fraction

from duckml.errors import InvalidInputError, InvalidNameError

MAX_KEY_LENGTH = 250
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_text(text: str, what: str) -> str:
    """Text that can be stored: valid Unicode, i.e. encodable as UTF-8 (no lone surrogate such as the
    ``\\udc80`` Python makes of a Latin-1 byte in a file name). Returns ``text``.

    >>> check_text("naïve ✓", "param value")
    'naïve ✓'
    >>> check_text("bad\\udc80", "param value")
    Traceback (most recent call last):
    duckml.errors.InvalidInputError: param value 'bad\\udc80' holds '\\udc80' at position 3, a lone surrogate that is not valid Unicode text (a name read with surrogateescape, e.g. a file name in another encoding); nothing was logged
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidInputError(
            f"{what} {text[:80]!r} holds {text[error.start]!r} at position {error.start}, a lone surrogate that "
            "is not valid Unicode text (a name read with surrogateescape, e.g. a file name in another "
            "encoding); nothing was logged") from None
    return text


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
    try:
        check_text(key, what)
    except InvalidInputError as error:
        raise InvalidNameError(str(error)) from None
    return key


def check_name(name, what: str) -> str:
    """An experiment or run name: same rules as keys."""
    return check_key(name, what)


def check_metric_value(key: str, value) -> float:
    """A metric value: any real number (int, float, numpy scalar); NaN and ±inf are kept as they are.
    Text such as ``"1.5"`` is refused, as MLflow's log_metric takes floats.

    >>> check_metric_value("m", 10**400)
    Traceback (most recent call last):
    duckml.errors.InvalidInputError: metric 'm' value 1000000000000000000000… does not fit in a 64-bit float
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"metric {key!r} must be a number, got {type(value).__name__} {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise InvalidInputError(f"metric {key!r} value {str(value)[:22]}… does not fit in a 64-bit float") from None


def check_step(step) -> int:
    if step is None:
        return 0
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidInputError(f"step must be an integer, got {type(step).__name__} {step!r}")
    step = int(step)
    if not -(2**63) <= step < 2**63:
        raise InvalidInputError(f"step {step} does not fit in 64 bits")
    return step


# Timestamps duckml stores: years 1900..9999, which DuckDB TIMESTAMP, Polars and Python datetimes all show.
MIN_TIMESTAMP_MS = -2_208_988_800_000  # 1900-01-01T00:00:00Z
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_RANGE_TEXT = "years 1900..9999"
_MS_PER_UNIT = {"D": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1, "us": Fraction(1, 10**3),
                "ns": Fraction(1, 10**6), "ps": Fraction(1, 10**9), "fs": Fraction(1, 10**12),
                "as": Fraction(1, 10**15)}


def _check_ms_range(ms: int, what: str) -> int:
    if not MIN_TIMESTAMP_MS <= ms <= MAX_TIMESTAMP_MS:
        raise InvalidInputError(f"{what} {ms} ms since the epoch is outside {_RANGE_TEXT}; timestamps are "
                                "integer milliseconds since 1970 (time.time() * 1000) or datetimes")
    return ms


def timestamp_us(timestamp) -> int:
    """MLflow's integer milliseconds since the epoch, a datetime (naive = UTC) or a numpy datetime64, as
    epoch microseconds; within years 1900..9999.

    >>> timestamp_us(1_700_000_000_000)
    1700000000000000
    """
    if timestamp is None:
        return time.time_ns() // 1000
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=timezone.utc)
        micros = int(round(timestamp.timestamp() * 1_000_000))
        _check_ms_range(micros // 1000, "timestamp")
        return micros
    if type(timestamp).__name__ == "datetime64":
        return int(timestamps_us_array([timestamp], 1, "timestamp")[0])
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Integral):
        raise InvalidInputError(
            f"timestamp must be integer milliseconds since the epoch or a datetime, got {timestamp!r}")
    return _check_ms_range(int(timestamp), "timestamp") * 1000


def metric_values_array(key: str, values):
    """A metric series' values as float64, refusing text, as :func:`check_metric_value` does for one."""
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind == "O":
        return np.fromiter((check_metric_value(key, v) for v in array.ravel()), dtype=np.float64, count=array.size)
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(f"values of metric {key!r} must be numbers, got dtype {array.dtype} "
                                f"(e.g. {array.ravel()[:1].tolist()!r}); text such as '1.5' is not a metric value")
    return array.astype(np.float64).ravel()


def steps_array(key: str, steps, n: int):
    """A metric series' steps as int64 (default 0, 1, 2, …); each must fit in 64 signed bits."""
    import numpy as np

    if steps is None:
        return np.arange(n, dtype=np.int64)
    array = np.asarray(steps)
    if array.dtype.kind == "O":
        return np.fromiter((check_step(s) for s in array.ravel()), dtype=np.int64, count=array.size)
    if array.dtype.kind not in "iu":
        raise InvalidInputError(f"steps of metric {key!r} must be integers, got dtype {array.dtype}")
    array = array.ravel()
    if array.dtype.kind == "u" and array.size and int(array.max()) >= 2**63:
        raise InvalidInputError(f"step {int(array.max())} of metric {key!r} does not fit in 64 signed bits")
    return array.astype(np.int64)


def timestamps_us_array(timestamps, n: int, what: str = "timestamps"):
    """A metric series' timestamps as epoch microseconds (int64): integer milliseconds, datetime64 values
    (any unit) or datetimes; each within years 1900..9999. None means now for every point."""
    import numpy as np

    if timestamps is None:
        return np.full(n, time.time_ns() // 1000, dtype=np.int64)
    array = timestamps if isinstance(timestamps, np.ndarray) else None
    if array is None:
        items = list(timestamps)
        if items and all(type(t).__name__ == "datetime64" for t in items):
            array = np.asarray(items)
        else:
            return np.asarray([timestamp_us(t) for t in items], dtype=np.int64)
    array = array.ravel()
    if array.dtype.kind == "M":
        if np.isnat(array).any():
            raise InvalidInputError(f"{what} hold NaT (not a time); give every point a time")
        if np.datetime_data(array.dtype)[0] in ("Y", "M", "W"):
            array = array.astype("datetime64[D]")  # calendar units: days hold any year exactly
        unit, count = np.datetime_data(array.dtype)
        if array.size:  # compared as exact integers: a unit conversion could wrap around first
            ms_per_tick = _MS_PER_UNIT[unit] * count
            for tick in (int(array.view(np.int64).min()), int(array.view(np.int64).max())):
                if not MIN_TIMESTAMP_MS <= tick * ms_per_tick <= MAX_TIMESTAMP_MS:
                    raise InvalidInputError(f"{what} hold {array.min()}..{array.max()}, outside {_RANGE_TEXT}")
        return array.astype("datetime64[us]").astype(np.int64)
    if array.dtype.kind == "O":
        return np.asarray([timestamp_us(t) for t in array], dtype=np.int64)
    if array.dtype.kind not in "iu":
        raise InvalidInputError(f"{what} must be integer milliseconds since the epoch or datetime64 values, "
                                f"got dtype {array.dtype}")
    if array.size:
        low, high = int(array.min()), int(array.max())
        _check_ms_range(low, what[:-1] if what.endswith("s") else what)
        _check_ms_range(high, what[:-1] if what.endswith("s") else what)
    return array.astype(np.int64) * 1000


def param_value(value, what: str = "value") -> str:
    """Params and tags are stored as text, as MLflow stores them; the text must be valid Unicode."""
    return check_text(value if isinstance(value, str) else str(value), what)
