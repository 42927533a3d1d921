"""One definition of "now" for everything duckml stores: naive UTC, as DuckDB's TIMESTAMP holds it."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """The current time in UTC without tzinfo (the form of every stored TIMESTAMP).

    >>> utcnow().tzinfo is None
    True
    """
    return datetime.now(timezone.utc).replace(tzinfo=None)
