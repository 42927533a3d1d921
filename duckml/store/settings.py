"""The store's tunables read from the environment, each checked the same way."""

from __future__ import annotations

import os

from duckml.errors import InvalidInputError


def env_seconds_from_millis(name: str, default_ms: float, max_ms: float) -> float:
    """``$name`` in milliseconds (``default_ms`` when unset), as seconds; a clear error when out of range.

    >>> env_seconds_from_millis("DUCKML_DOCTEST_UNSET_MS", 50, 1000)
    0.05
    """
    text = os.environ.get(name, str(default_ms))
    try:
        millis = float(text)
    except ValueError:
        raise InvalidInputError(f"{name} must be a number of milliseconds, got {text!r}") from None
    if not 0 <= millis <= max_ms:
        raise InvalidInputError(f"{name} must be between 0 and {max_ms:g}, got {text!r}")
    return millis / 1000


def lock_timeout() -> float:
    """Seconds a write waits for a file another process holds (``$DUCKML_LOCK_TIMEOUT``, default 60)."""
    return float(os.environ.get("DUCKML_LOCK_TIMEOUT", "60"))


def exit_lock_timeout() -> float:
    """Seconds the exit-time flush waits for a file another program holds (``$DUCKML_EXIT_LOCK_TIMEOUT``,
    default 5, never more than the lock timeout): a finished script should not hang for a minute because
    someone has the store open in the duckdb CLI; its data stays in the journal for the next process.

    >>> exit_lock_timeout() <= lock_timeout()
    True
    """
    text = os.environ.get("DUCKML_EXIT_LOCK_TIMEOUT", "5")
    try:
        seconds = float(text)
    except ValueError:
        raise InvalidInputError(f"DUCKML_EXIT_LOCK_TIMEOUT must be a number of seconds, got {text!r}") from None
    return max(0.0, min(seconds, lock_timeout()))


def duckdb_threads_setting() -> int | None:
    """DuckDB threads for every connection duckml opens (``$DUCKML_DUCKDB_THREADS``; unset: DuckDB's
    default, one per core). N processes of a sweep on N cores do best with 1 each: every in-memory DuckDB
    instance otherwise starts a thread per core, and they fight over the cores the training needs.

    >>> duckdb_threads_setting() is None or duckdb_threads_setting() >= 1
    True
    """
    text = os.environ.get("DUCKML_DUCKDB_THREADS", "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InvalidInputError(f"DUCKML_DUCKDB_THREADS must be a whole number of threads (1 or more), got {text!r}")
    return int(text)
