"""Small handles the store hands out: its quiet DuckDB connections and its journal's row-change API."""

from __future__ import annotations

from contextlib import contextmanager

import duckdb

from duckml.errors import InvalidInputError
from duckml.store.journal import DELETE, INSERT, TABLE_KEYS, UPDATE, UPSERT, JournalWriter
from duckml.store.settings import duckdb_threads_setting


def quiet_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that never prints: DuckDB's progress bar would go to the caller's
    stdout during long queries, and a library's stdout belongs to its caller. It starts with
    ``$DUCKML_DUCKDB_THREADS`` threads when that is set.

    >>> quiet_connection().execute("SELECT current_setting('enable_progress_bar')").fetchone()
    (False,)
    """
    threads = duckdb_threads_setting()
    con = duckdb.connect(":memory:", config={} if threads is None else {"threads": threads})
    con.execute("SET enable_progress_bar = false")
    return con


@contextmanager
def duckdb_threads(con: duckdb.DuckDBPyConnection, threads: int | None):
    """Cap ``con``'s DuckDB threads inside the block (``None``: leave them).

    >>> con = quiet_connection()
    >>> con.execute("SET threads = 2")  # doctest: +ELLIPSIS
    <...>
    >>> with duckdb_threads(con, 1):
    ...     con.execute("SELECT current_setting('threads')").fetchone()
    (1,)
    >>> con.execute("SELECT current_setting('threads')").fetchone()
    (2,)
    """
    if threads is None:
        yield
        return
    before = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute(f"SET threads = {int(threads)}")
    try:
        yield
    finally:  # back to what it was (RESET would go to DuckDB's default, not $DUCKML_DUCKDB_THREADS)
        try:
            con.execute(f"SET threads = {int(before)}")
        except duckdb.Error:
            pass  # a fault closed the connection in the block (a lake drops it): nothing left to restore


class JournalHandle:
    """Row changes for the journal tables, recorded in microseconds without the file lock."""

    def __init__(self, store):
        self._store = store
        self.writer = JournalWriter(store.journal_dir)

    def _check(self, table: str) -> None:
        if table not in TABLE_KEYS:
            raise InvalidInputError(f"table {table!r} is not journaled; journal tables: {sorted(TABLE_KEYS)}")

    def insert(self, table: str, row: dict) -> None:
        """Insert ``row`` unless a row with its primary key exists (the first write wins)."""
        self._check(table)
        self.writer.write_event(INSERT, table, row)

    def upsert(self, table: str, row: dict) -> None:
        """Insert ``row``, replacing any row with the same primary key."""
        self._check(table)
        self.writer.write_event(UPSERT, table, row)

    def update(self, table: str, row: dict) -> None:
        """Merge ``row``'s fields into the existing row with its primary key (no-op if absent)."""
        self._check(table)
        self.writer.write_event(UPDATE, table, row)

    def delete(self, table: str, key: dict) -> None:
        """Delete the row with this primary key."""
        self._check(table)
        self.writer.write_event(DELETE, table, key)
