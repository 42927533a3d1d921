"""Quoting for the few places where SQL text must carry a name or a path (values are always bound)."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (doubling any double quote).

    >>> quote_ident("run list")
    '"run list"'
    """
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote an SQL string literal, for the few statements (ATTACH) that take no parameters.

    >>> quote_literal("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def literal(value) -> str:
    """A DuckDB literal that reads back as exactly ``value``: NULL, booleans, BIGINTs, DOUBLEs (NaN and
    ±inf too), VARCHARs and lists of those. Raises ``TypeError`` for anything else, and ``ValueError`` for
    text DuckDB would cut short (a NUL character).

    >>> literal("it's"), literal(3), literal(0.5), literal([1, "a"]), literal(None)
    ("'it''s'::VARCHAR", '3::BIGINT', "'0.5'::DOUBLE", "[1::BIGINT, 'a'::VARCHAR]", 'NULL')
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"{value} does not fit a BIGINT")
        return f"{value}::BIGINT"
    if isinstance(value, float):
        return f"'{value!r}'::DOUBLE"  # repr round-trips every double, 'nan' and 'inf' included
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text with a NUL character cannot be a literal")
        return quote_literal(value) + "::VARCHAR"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    raise TypeError(f"no literal for {type(value).__name__}")


def execute_inline(con, sql: str, params: list):
    """Run ``sql`` with its ``?`` parameters given as literals through PREPARE/EXECUTE, and return the result.

    DuckDB's Python client imports pandas (about 0.3 s) the first time it binds a parameter
    (duckdb-python#300); a short-lived command that has not needed pandas yet uses this instead. The
    statement text itself is unchanged: only the values travel as literals, each one exact.

    >>> import duckdb
    >>> execute_inline(duckdb.connect(), "SELECT ? || '!', ? + 1", ["it's", 41]).fetchall()
    [("it's!", 42)]
    """
    args = ", ".join(literal(value) for value in params)
    # PREPARE replaces a statement of the same name, so nothing is left behind but the latest one; it
    # cannot be deallocated here without discarding the result the caller is about to read.
    con.execute(f"PREPARE duckml_inline AS {sql}")
    return con.execute(f"EXECUTE duckml_inline({args})" if params else "EXECUTE duckml_inline")


def execute(con, sql: str, params: list | None = None):
    """``con.execute(sql, params)``, but without importing pandas when this process has not yet.

    >>> import duckdb
    >>> execute(duckdb.connect(), "SELECT ?", [1.5]).fetchall()
    [(1.5,)]
    """
    import sys

    if not params:
        return con.execute(sql)
    if "pandas" in sys.modules:
        return con.execute(sql, params)
    try:
        return execute_inline(con, sql, params)
    except (TypeError, ValueError):  # a value with no exact literal: bind it as usual
        return con.execute(sql, params)
