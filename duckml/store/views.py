"""Rows of the views shipped in ``sql/views``, for callers that show them as they are (the CLI, the UI).

The view and its columns are named by duckml's code, never by user text; filter values are bound.
"""

from __future__ import annotations

from duckml.errors import InvalidInputError
from duckml.sqlquote import execute, quote_ident
from duckml.store.schema import definition_files


def view_names() -> set[str]:
    """The views ``sql/views`` defines.

    >>> "runs_overview" in view_names()
    True
    """
    return {path.stem for path in definition_files() if path.parent.name == "views"}


def view_rows(store, view: str, where: dict | None = None, order_by: tuple[str, ...] = (),
              limit: int | None = None) -> tuple[list[str], list[tuple]]:
    """(column names, rows) of ``view`` with ``column = value`` for each item of ``where``.

    >>> import duckml, tempfile, os
    >>> store = duckml.connect(os.path.join(tempfile.mkdtemp(), "s.duckdb")).store
    >>> view_rows(store, "experiments_overview", order_by=("name",))[0][:2]
    ['experiment_id', 'name']
    """
    if view not in view_names():
        raise InvalidInputError(f"{view!r} is not one of duckml's views: {', '.join(sorted(view_names()))}")
    where = where or {}
    clauses = " AND ".join(f"{quote_ident(column)} = ?" for column in where) or "TRUE"
    order = ", ".join(quote_ident(column.split()[0]) + (" DESC" if column.endswith(" DESC") else "")
                      for column in order_by)
    sql = f"SELECT * FROM {quote_ident(view)} WHERE {clauses}" + (f" ORDER BY {order}" if order else "")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with store.read() as con:
        result = execute(con, sql, list(where.values()))
        columns = [d[0] for d in result.description]
        return columns, result.fetchall()
