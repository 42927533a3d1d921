"""The UI's read-only SQL console: one SELECT on a fresh, locked-down DuckDB connection.

Each query gets its own in-memory connection that attaches the store file READ_ONLY, then turns external
access off (no files, no network, no ATTACH, no COPY), turns extension autoloading off, caps threads and
memory, and locks the configuration so the query cannot turn any of it back on. ``predict`` is not
registered there (it would run stored models). Results stop at ``row_cap`` rows; a query still running
after ``timeout`` seconds is interrupted. Data logged but not yet ingested is not visible here (it is in
the journal, not the file), and a running query holds the file read-only for its duration (writers wait).

>>> import duckml, tempfile, os
>>> store = duckml.connect(os.path.join(tempfile.mkdtemp(), "s.duckdb")); _ = store.sql("SELECT 1")
>>> run_console_query(store, "SELECT 1 + 1 AS two")["rows"]
[[2]]
"""

from __future__ import annotations

import threading
import time

import duckdb

from duckml.errors import InvalidInputError, QueryError, StoreError, StoreLockedError

ROW_CAP = 1000
TIMEOUT_SECONDS = 10.0
MAX_QUERY_CHARS = 20_000
_ATTACH_TRIES = 40  # x 50 ms: a writer holds the file for milliseconds at a time


def _locked_down_connection(path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:", config={"autoload_known_extensions": False,
                                             "autoinstall_known_extensions": False})
    literal = "'" + str(path).replace("'", "''") + "'"
    for attempt in range(_ATTACH_TRIES):
        try:
            con.execute(f"ATTACH {literal} AS store (READ_ONLY)")
            break
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                con.close()
                raise StoreError(f"cannot open store {path}: {error}") from error
            if attempt == _ATTACH_TRIES - 1:
                con.close()
                raise StoreLockedError(f"the store is busy writing, try again: {error}") from error
            time.sleep(0.05)
    con.execute("USE store")
    for statement in ("SET enable_external_access = false", "SET python_enable_replacements = false",
                      "SET threads = 1", "SET memory_limit = '1GB'", "SET lock_configuration = true"):
        con.execute(statement)
    return con


def run_console_query(store, query: str, row_cap: int = ROW_CAP, timeout: float = TIMEOUT_SECONDS) -> dict:
    """Run one SELECT read-only; return ``{"columns", "rows", "truncated", "seconds"}``.

    Raises InvalidInputError for anything but a single SELECT, QueryError for DuckDB's own errors
    (the interrupted ones included).
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError("write a SELECT query")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"the query is longer than {MAX_QUERY_CHARS:,} characters")
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as error:
        raise QueryError(f"query does not parse: {str(error).strip()}") from error
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise InvalidInputError("the console runs exactly one SELECT statement (it is read-only)")
    con = _locked_down_connection(store.path)
    timer = threading.Timer(timeout, con.interrupt)
    started = time.perf_counter()
    timer.start()
    try:
        result = con.execute(query)
        columns = [d[0] for d in result.description]
        rows = result.fetchmany(row_cap + 1)
    except duckdb.InterruptException as error:
        raise QueryError(f"the query ran longer than {timeout:g} s and was stopped") from error
    except duckdb.Error as error:
        raise QueryError(str(error).strip()) from error
    finally:
        timer.cancel()
        con.close()
    return {"columns": columns, "rows": [list(r) for r in rows[:row_cap]], "truncated": len(rows) > row_cap,
            "seconds": time.perf_counter() - started}
