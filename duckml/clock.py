"""One definition of "now" for everything duckml stores: naive UTC, as DuckDB's TIMESTAMP holds it."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """The current time in UTC without tzinfo (the form of every stored TIMESTAMP).

    >>> utcnow().tzinfo is None
    True
    """
    return datetime.now(timezone.utc).replace(tzinfo=None)


def duration_text(start: datetime | None, end: datetime | None, sep: str = " ") -> str:
    """How long a run took, for people: seconds, minutes or hours with one decimal ("" while it runs).

    >>> duration_text(datetime(2026, 1, 1, 10, 0), datetime(2026, 1, 1, 10, 1, 30)), duration_text(None, None)
    ('1.5 min', '')
    """
    if start is None or end is None:
        return ""
    seconds = (end - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}{sep}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}{sep}min"
    return f"{seconds / 3600:.1f}{sep}h"
