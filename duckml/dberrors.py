"""The one place that reads DuckDB's error texts: DuckDB reports lock conflicts, read-only violations and
missing files only as message text, so every such test is written here once."""

from __future__ import annotations

import re

_HOLDER_PID = re.compile(r"PID (\d+)")
# the word, not "block": a damaged file's "checksum ... in block at location 0" is no lock conflict
_LOCK_WORD = re.compile(r"\block\b", re.IGNORECASE)


def is_lock_conflict(error: BaseException) -> bool:
    """Whether DuckDB refused to open a file because another process holds its lock.

    >>> import duckdb
    >>> is_lock_conflict(duckdb.IOException('Could not set lock on file "x": Conflicting lock is held'))
    True
    >>> is_lock_conflict(duckdb.IOException('Corrupt database file: computed checksum 1 does not match '
    ...                                     'stored checksum 2 in block at location 0'))
    False
    """
    return _LOCK_WORD.search(str(error)) is not None


def is_not_a_database(error: BaseException) -> bool:
    """Whether DuckDB found the file but not a valid database in it (foreign, damaged, or still being
    created by another process, which writes its headers before it holds the lock).

    >>> import duckdb
    >>> is_not_a_database(duckdb.IOException('The file "x" exists, but it is not a valid DuckDB database file!'))
    True
    """
    text = str(error).lower()
    return "not a valid duckdb database" in text or "corrupt database file" in text


def is_truncated(error: BaseException) -> bool:
    """Whether DuckDB found a file shorter than what its headers promise (its writer died early).

    >>> import duckdb
    >>> is_truncated(duckdb.IOException('Could not read enough bytes from file "x": attempted to read 4096 '
    ...                                 'bytes from location 4096'))
    True
    """
    return "could not read enough bytes" in str(error).lower()


def lock_holder(error: BaseException) -> int | None:
    """The process id DuckDB names as the holder of a file lock, if it names one.

    >>> import duckdb
    >>> lock_holder(duckdb.IOException("Conflicting lock is held in /usr/bin/python (PID 4242)"))
    4242
    """
    found = _HOLDER_PID.search(str(error))
    return int(found[1]) if found else None


def is_read_only_violation(error: BaseException) -> bool:
    """Whether a statement failed because it tried to write through a read-only attachment.

    >>> import duckdb
    >>> is_read_only_violation(duckdb.InvalidInputException("Cannot execute statement of type INSERT on "
    ...                                                      "database \\"store\\" which is attached in read-only mode!"))
    True
    """
    text = str(error)
    return "read-only" in text or "read only" in text


def is_missing_files(error: BaseException) -> bool:
    """Whether a scan failed because a path or glob matched no file.

    >>> import duckdb
    >>> is_missing_files(duckdb.IOException('No files found that match the pattern "x.parquet"'))
    True
    """
    return "no files found" in str(error).lower()


# What libpq and PostgreSQL say when a session is cut or refused (a server restarting or gone). The
# ducklake and postgres extensions pass these texts on inside errors of any DuckDB class: a plain Error,
# a BinderException ("Failed to get data file list from DuckLake: …"), an InvalidInputException …
_LOST_CONNECTION = re.compile(
    r"server closed the connection|terminating connection|connection refused|could not connect"
    r"|connection to server .* failed|no connection to the server|could not (?:send|receive) data"
    r"|the database system is (?:starting up|shutting down|in recovery mode|not yet accepting)"
    r"|SSL SYSCALL|broken pipe|connection (?:has been|was|already) closed|database has been invalidated",
    re.IGNORECASE)


def is_lost_connection(error: BaseException) -> bool:
    """Whether an error says a database session was cut or refused (PostgreSQL restarting, a dropped
    link, a DuckDB instance invalidated by a fatal error), whatever exception class carries it.

    >>> import duckdb
    >>> is_lost_connection(duckdb.BinderException("Failed to get data file list from DuckLake: Failed to "
    ...                    "describe prepared statement: server closed the connection unexpectedly"))
    True
    >>> is_lost_connection(duckdb.BinderException('Referenced column "x" not found in FROM clause!'))
    False
    """
    return _LOST_CONNECTION.search(str(error)) is not None
