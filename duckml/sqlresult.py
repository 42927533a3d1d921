"""A query's result as exact Python values, with the declared dependencies only, and optionally cut to size.

DuckDB's own conversion of a TIMESTAMPTZ needs pytz (pandas 3 no longer brings it), and it turns
``'infinity'::TIMESTAMP`` into ``datetime.max``, which is also a real time. So the result is first
re-projected in SQL, column by column (``#n``: duplicate column names are fine):

- a TIMESTAMPTZ becomes a UTC-aware ``datetime`` (read as naive UTC, given ``timezone.utc`` here);
- an infinite TIMESTAMP, TIMESTAMPTZ or DATE becomes the text ``'infinity'`` / ``'-infinity'`` (DuckDB's);
- a LIST, STRUCT, MAP, ARRAY or UNION holding such types carries them as DuckDB's text;
- with ``text_limit``, a VARCHAR is cut in SQL to that many characters (``Cut`` text), so a huge string
  never reaches Python; ``stringify=True`` also turns every other non-numeric value into cut text.

>>> import duckdb
>>> rel = duckdb.connect().sql("SELECT TIMESTAMPTZ '2026-01-02 03:04:05+00' AS t, 'infinity'::TIMESTAMP AS i")
>>> columns, rows = fetch_exact(rel)
>>> rows[0][0].isoformat(), rows[0][1]
('2026-01-02T03:04:05+00:00', 'infinity')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import duckdb

DuckDBPyType = type(duckdb.sqltype("VARCHAR"))  # its module moved between DuckDB releases

# DuckDB type ids (DuckDBPyType.id) that may hold ±infinity, and the one DuckDB converts with pytz
_INFINITE = frozenset({"timestamp", "timestamp_s", "timestamp_ms", "timestamp_ns", "date",
                       "timestamp with time zone"})
_ZONED = "timestamp with time zone"
_NESTED = frozenset({"list", "struct", "map", "array", "union"})
_SIZED = frozenset({"boolean", "tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
                    "uinteger", "ubigint", "uhugeint", "float", "double", "decimal", "time",
                    "time with time zone", "interval", "uuid"})  # values of bounded size


class Cut(str):
    """Text cut at the limit it was fetched with; the rest was left in the database.

    >>> Cut("abc"), isinstance(Cut("abc"), str)
    ('abc', True)
    """


def _holds_infinite(kind: DuckDBPyType) -> bool:
    if kind.id in _INFINITE:
        return True
    if kind.id in _NESTED:
        return any(isinstance(child, DuckDBPyType) and _holds_infinite(child)
                   for _, child in kind.children)
    return False


def _as_text_inside(kind: DuckDBPyType) -> DuckDBPyType:
    """``kind`` with every TIMESTAMP/TIMESTAMPTZ/DATE inside it replaced by VARCHAR (a lossless cast)."""
    if kind.id in _INFINITE:
        return duckdb.sqltype("VARCHAR")
    children = kind.children if kind.id in _NESTED else []
    if kind.id == "list":
        return duckdb.list_type(_as_text_inside(children[0][1]))
    if kind.id == "array":
        return duckdb.array_type(_as_text_inside(children[0][1]), children[1][1])
    if kind.id == "map":
        return duckdb.map_type(_as_text_inside(children[0][1]), _as_text_inside(children[1][1]))
    if kind.id == "struct":
        return duckdb.struct_type({name: _as_text_inside(child) for name, child in children})
    if kind.id == "union":
        return duckdb.union_type({name: _as_text_inside(child) for name, child in children[1:]})
    return kind


def _plan(kind: DuckDBPyType, n: int, text_limit: int | None, stringify: bool
          ) -> tuple[list[str], Callable]:
    """SQL expressions over column ``#n`` and the function turning their values back into one cell."""
    col = f"#{n}"
    if kind.id in _INFINITE:
        value = f"timezone('UTC', {col})" if kind.id == _ZONED else col
        zoned = kind.id == _ZONED

        def cell(value, infinite):
            if infinite is not None:
                return infinite
            return value.replace(tzinfo=dt.timezone.utc) if zoned and value is not None else value

        return [value, f"CASE WHEN isinf({col}) THEN CAST({col} AS VARCHAR) END"], cell
    if text_limit is not None and (kind.id == "varchar" or (stringify and kind.id not in _SIZED)):
        text = col if kind.id == "varchar" else f"CAST({col} AS VARCHAR)"
        return ([f"left({text}, {int(text_limit)})", f"length({text}) > {int(text_limit)}"],
                lambda value, cut: Cut(value) if cut else value)
    if _holds_infinite(kind):
        return [f"CAST({col} AS {_as_text_inside(kind)})"], lambda value: value
    return [col], lambda value: value


def exact_relation(relation: duckdb.DuckDBPyRelation, text_limit: int | None = None, stringify: bool = False,
                   max_columns: int | None = None) -> tuple[duckdb.DuckDBPyRelation, Callable[[tuple], tuple]]:
    """``relation`` re-projected as the module docstring says, and the function that turns one of its rows
    into the original columns' cells. ``max_columns`` keeps only the first columns."""
    types = relation.types[:max_columns] if max_columns is not None else relation.types
    expressions, cells, widths = [], [], []
    for n, kind in enumerate(types, start=1):
        sql, cell = _plan(kind, n, text_limit, stringify)
        expressions += sql
        cells.append(cell)
        widths.append(len(sql))

    def row_of(values: tuple) -> tuple:
        out, i = [], 0
        for cell, width in zip(cells, widths):
            out.append(cell(*values[i:i + width]))
            i += width
        return tuple(out)

    return relation.project(", ".join(expressions)), row_of


def iter_exact(relation: duckdb.DuckDBPyRelation, batch: int = 256, **options) -> Iterator[tuple]:
    """The rows of ``relation`` as exact cells (see :func:`exact_relation` for ``options``), fetched in
    batches so that a caller that stops early does not pay for the rest."""
    projected, row_of = exact_relation(relation, **options)
    while True:
        rows = projected.fetchmany(batch)
        if not rows:
            return
        yield from (row_of(row) for row in rows)


def fetch_exact(relation: duckdb.DuckDBPyRelation, **options) -> tuple[list[str], list[tuple]]:
    """(column names, every row as exact cells) of ``relation``; ``options`` as :func:`exact_relation`."""
    columns = list(relation.columns)
    if options.get("max_columns") is not None:
        columns = columns[:options["max_columns"]]
    return columns, list(iter_exact(relation, **options))
