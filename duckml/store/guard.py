"""What SQL sent through ``Store.sql`` (``duckml sql``, ``Connection.sql``) may change in the store.

It may create, fill, alter and drop the user's own tables and views (``CREATE TABLE t AS ...``,
``INSERT INTO t ...``). It may not touch duckml's tracking tables or its bookkeeping:

- before running, each statement is inspected (``duckdb.extract_statements``): transaction control
  (``BEGIN``/``COMMIT``, which would end duckml's transaction early), ``ATTACH``/``DETACH``, and
  ``INSERT``/``UPDATE``/``DELETE``/``TRUNCATE``/``MERGE``/``COPY ... FROM`` aimed at a tracking table are
  refused;
- around running, the shape of every tracking table (columns and types), the content of every internal
  ``_duckml_*`` table and the text of every view and macro duckml ships are compared before and after,
  inside the write transaction; any difference raises, and the transaction rolls back. This catches what
  the statement check cannot see (``DROP``, ``ALTER``, ``RENAME``, ``CREATE OR REPLACE``, DDL in macros).

A refused statement raises :class:`~duckml.errors.QueryError` naming the table, and the file is unchanged.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import duckdb

from duckml.errors import QueryError
from duckml.store import schema

_CATALOG = "store"
_REFUSED_TYPES = {
    duckdb.StatementType.TRANSACTION: "transaction control (BEGIN/COMMIT/ROLLBACK); duckml runs each "
                                      "duckml sql call in one transaction of its own",
    duckdb.StatementType.ATTACH: "ATTACH; attach other databases from your own duckdb connection",
    duckdb.StatementType.DETACH: "DETACH",
}
_DATA_WRITES = {duckdb.StatementType.INSERT, duckdb.StatementType.UPDATE, duckdb.StatementType.DELETE,
                duckdb.StatementType.MERGE_INTO, duckdb.StatementType.COPY}
_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_TARGET = re.compile(
    r"\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|MERGE\s+INTO|COPY)\s+"
    rf"({_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}})", re.IGNORECASE)
_NOISE = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'", re.DOTALL)


def is_protected_table(name: str) -> bool:
    """duckml's own tables: the tracking tables and every ``_duckml_*`` bookkeeping table.

    >>> is_protected_table("runs"), is_protected_table("_duckml_segments"), is_protected_table("my_scores")
    (True, True, False)
    """
    lowered = name.lower()
    return lowered.startswith("_duckml_") or lowered in schema.CORE_TABLES


def _last_part(dotted: str) -> str:
    parts = re.findall(_IDENT, dotted)
    last = parts[-1] if parts else dotted
    return last[1:-1].replace('""', '"') if last.startswith('"') else last


# Statement types that cannot change the catalog: only the (cheap) content check runs around them.
_NO_CATALOG_CHANGE = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN, duckdb.StatementType.INSERT,
                      duckdb.StatementType.UPDATE, duckdb.StatementType.DELETE, duckdb.StatementType.MERGE_INTO,
                      duckdb.StatementType.COPY}
_SAFE_FOR_MACROS = _NO_CATALOG_CHANGE | {duckdb.StatementType.CREATE, duckdb.StatementType.DROP,
                                         duckdb.StatementType.ALTER}


def check_statements(query: str) -> list:
    """Refuse, before anything runs, statements that would leave duckml's transaction or write its tables;
    return the parsed statements."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as error:
        raise QueryError(f"query does not parse: {error}") from error
    for statement in statements:
        refused = _REFUSED_TYPES.get(statement.type)
        if refused:
            raise QueryError(f"duckml sql does not run {refused}; the store was not changed")
        if statement.type in _DATA_WRITES:
            text = _NOISE.sub(" ", statement.query)
            for match in _TARGET.finditer(text):
                target = _last_part(match.group(1))
                if is_protected_table(target):
                    raise QueryError(
                        f"{target!r} is one of duckml's tracking tables; duckml sql writes only your own "
                        "tables (log through duckml's API instead). The store was not changed")
    return statements


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _shape(con, *, catalog_too: bool, macros_too: bool) -> dict:
    """Everything a duckml sql statement must leave as it was, read inside the current transaction.

    The tables' CREATE text and the views cost ~1 ms; duckdb_functions() lists every built-in function
    (~150 ms), so macros are read only when the query could reach them.
    """
    catalog = _literal(_CATALOG)
    tables = [t for t in con.execute(
        f"SELECT table_name, sql FROM duckdb_tables() WHERE database_name = {catalog} AND schema_name = 'main' "
        "ORDER BY ALL").fetchall() if is_protected_table(t[0])]
    internal = sorted(t[0] for t in tables if t[0].lower().startswith("_duckml_"))
    shape = {"columns": tables if catalog_too else [], "views": [], "macros": []}
    shape["content"] = {
        table: con.execute(f'SELECT count(*), coalesce(sum(hash(t)), 0) FROM {_CATALOG}.main."{table}" t').fetchone()
        for table in internal}
    if catalog_too:
        shipped = schema.definition_names()
        shape["views"] = [v for v in con.execute(
            f"SELECT view_name, sql FROM duckdb_views() WHERE database_name = {catalog} ORDER BY ALL").fetchall()
            if v[0] in shipped]
    if macros_too:
        shipped = schema.definition_names()
        shape["macros"] = [m for m in con.execute(
            f"SELECT function_name, macro_definition FROM duckdb_functions() WHERE database_name = {catalog} "
            "AND function_type IN ('macro', 'table_macro') ORDER BY ALL").fetchall() if m[0] in shipped]
    return shape


def _may_reach_macros(query: str, statements) -> bool:
    """A shipped macro changes only by a statement naming it, or one of an unusual kind (IMPORT, CALL…)."""
    if any(s.type not in _SAFE_FOR_MACROS for s in statements):
        return True
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query)}
    return bool(words & schema.definition_names())


def _what_changed(before: dict, after: dict) -> str:
    for kind, label in (("columns", "table"), ("views", "view"), ("macros", "macro")):
        old = {row[0]: [] for row in before[kind]}
        new = {row[0]: [] for row in after[kind]}
        for row in before[kind]:
            old[row[0]].append(row[1:])
        for row in after[kind]:
            new[row[0]].append(row[1:])
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                verb = "dropped" if name not in new else "created" if name not in old else "changed"
                return f"it {verb} duckml's {label} {name!r}"
    for table in sorted(before["content"]):
        if before["content"][table] != after["content"].get(table):
            return f"it changed the rows of duckml's internal table {table!r}"
    return "it changed duckml's tables"


@contextmanager
def guarded(con, query: str):
    """Run the body (the user's statements, inside duckml's write transaction) only if it leaves duckml's
    tables, views and macros as they were; otherwise raise QueryError so the transaction rolls back."""
    statements = check_statements(query)
    options = {"catalog_too": any(s.type not in _NO_CATALOG_CHANGE for s in statements),
               "macros_too": _may_reach_macros(query, statements)}
    before = _shape(con, **options)
    yield
    after = _shape(con, **options)
    if after != before:
        raise QueryError(f"duckml sql refused the query: {_what_changed(before, after)}. duckml sql may "
                         "create and write only your own tables and views; the store was not changed")
