"""The UI's read-only SQL console: one SELECT on a fresh, locked-down DuckDB connection.

Each query gets its own in-memory connection that attaches the store file READ_ONLY, then turns external
access off (no files, no network, no ATTACH, no COPY), turns extension autoloading off, caps threads and
memory, and locks the configuration so the query cannot turn any of it back on. ``predict`` is not
registered there (it would run stored models).

The page is bounded in rows, columns and characters, and the cutting happens in DuckDB, before Python
builds any string (``SELECT repeat('<', 200000) FROM range(1000)`` once made an 800 MB page): at most
``row_cap`` rows and ``MAX_COLUMNS`` columns; every value but numbers and times is shown as text cut at
``cell_chars`` characters; rows stop once the page holds ``page_chars`` characters. TIMESTAMPTZ and
infinite times are read without pandas or pytz (:mod:`duckml.sqlresult`). The ``timeout`` counts from the
start of the call (opening the file included) to the last row fetched; a query still running then is
interrupted. Data logged but not yet ingested is not visible here (it is in the journal, not the file),
and a running query holds the file read-only for its duration (writers wait).

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
from duckml.sqlresult import Cut, exact_relation

ROW_CAP = 1000
TIMEOUT_SECONDS = 10.0
MAX_QUERY_CHARS = 20_000
MAX_COLUMNS = 200
CELL_CHARS = 1000  # characters of one cell; the rest stays in DuckDB
PAGE_CHARS = 500_000  # characters of all cells: HTML escaping makes the page at most ~6x this
_FETCH_ROWS = 64
_SIZED_CELL_CHARS = 40  # what a number, a time or NULL counts for in the page's budget
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


def run_console_query(store, query: str, row_cap: int = ROW_CAP, timeout: float = TIMEOUT_SECONDS,
                      cell_chars: int = CELL_CHARS, page_chars: int = PAGE_CHARS) -> dict:
    """Run one SELECT read-only; return ``{"columns", "rows", "truncated", "seconds", "column_count",
    "cut_cells", "budget_reached"}``: ``truncated`` when rows stopped at ``row_cap``, ``column_count`` the
    query's columns (only the first ``MAX_COLUMNS`` are in ``columns``), ``cut_cells`` how many cells are
    cut (:class:`~duckml.sqlresult.Cut` text), ``budget_reached`` when rows stopped at ``page_chars``.

    Raises InvalidInputError for anything but a single SELECT, QueryError for DuckDB's own errors
    (the interrupted ones included).
    """
    started = time.perf_counter()
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
    timer = threading.Timer(max(0.0, timeout - (time.perf_counter() - started)), con.interrupt)
    timer.start()
    rows: list[list] = []
    used = cut_cells = 0
    truncated = budget_reached = False
    try:
        relation = con.sql(query)
        column_count = len(relation.columns)
        columns = list(relation.columns[:MAX_COLUMNS])
        projected, row_of = exact_relation(relation, text_limit=cell_chars, stringify=True, max_columns=MAX_COLUMNS)
        projected = projected.limit(row_cap + 1)
        while not (truncated or budget_reached):
            batch = projected.fetchmany(_FETCH_ROWS)
            if not batch:
                break
            for values in batch:
                if len(rows) == row_cap:
                    truncated = True
                    break
                row = list(row_of(values))
                size = sum(len(v) if isinstance(v, str) else _SIZED_CELL_CHARS for v in row)
                if rows and used + size > page_chars:
                    budget_reached = True
                    break
                used += size
                cut_cells += sum(isinstance(v, Cut) for v in row)
                rows.append(row)
    except duckdb.InterruptException as error:
        raise QueryError(f"the query ran longer than {timeout:g} s and was stopped") from error
    except duckdb.Error as error:
        raise QueryError(str(error).strip()) from error
    finally:
        timer.cancel()
        con.close()
    return {"columns": columns, "rows": rows, "truncated": truncated, "seconds": time.perf_counter() - started,
            "column_count": column_count, "cut_cells": cut_cells, "budget_reached": budget_reached}
