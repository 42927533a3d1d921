"""Compile a parsed filter (``grammar``) into SQL text over one row alias, with every value bound as a
``?`` parameter: user text never becomes SQL."""

from __future__ import annotations

import re

from duckml.errors import FilterSyntaxError
from duckml.search.grammar import (TARGETS, _ENTITY_RENDER, And, Comparison, Expr, Not, Or, OrderBy, _check,
                                   parse_filter, parse_order_by)


# source="joins": params, latest metrics and tags are read from these, one row per (run_id, key).
_TABLES = {"metric": "latest_metrics", "param": "params", "tag": "tags"}
_SOURCES = ("maps", "joins")


class KeyJoins:
    """The keyed values a filter and an order_by read (``source="joins"``): each table read once.

    Each table named (params, tags, latest_metrics) is read once for just the keys named, folded into two
    aligned lists per run (keys, values), and LEFT JOINed to the runs; a value is a lookup in those lists
    with the key bound. The plan holds at most three joins however many keys are named: one join per key
    took 14-35 s at 150 keys and over 10 minutes at 600. Neither a pivot (one filtered aggregate per key)
    nor a MAP (DuckDB copies the map-building expression into every lookup) stayed linear in the keys.

    >>> joins = KeyJoins("r")
    >>> compile_filter(parse_filter("params.model = 'rf'"), source="joins", joins=joins)
    ('_params.vs[list_position(_params.ks, ?::VARCHAR)] = ?', ['model', 'rf'])
    >>> joins.sql()[1]
    [['model']]
    """

    def __init__(self, alias: str = "r"):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", alias):
            raise FilterSyntaxError(f"alias must be a plain lower-case name, got {alias!r}")
        self.alias = alias
        self._keys: dict[str, dict[str, None]] = {}  # table -> the keys read from it, in order

    def _lists(self, table: str, key: str) -> str:
        # ``table`` is one of duckml's table names, never user text; keys are always bound
        self._keys.setdefault(table, {})[key] = None
        return f"_{table.split('_')[-1]}"

    def value(self, table: str, key: str) -> tuple[str, list]:
        """SQL for the value of ``key`` in ``table`` on the joined row (NULL when the run lacks it), and its
        parameters."""
        alias = self._lists(table, key)
        return f"{alias}.vs[list_position({alias}.ks, ?::VARCHAR)]", [key]

    def missing(self, table: str, key: str, missing: bool = True) -> tuple[str, list]:
        """SQL true when the run lacks ``key`` in ``table`` (has it, with ``missing=False``), and its parameters.
        A stored NULL value still counts as having the key."""
        alias = self._lists(table, key)
        return f"list_contains({alias}.ks, ?::VARCHAR) IS {'NOT ' if missing else ''}TRUE", [key]

    def sql(self) -> tuple[str, list]:
        """The LEFT JOIN clauses (to put after the row's FROM item) and their key parameters."""
        clauses, params = [], []
        for table, keys in self._keys.items():
            alias = f"_{table.split('_')[-1]}"
            # Both lists are filled from the same rows in the same order by one aggregate, so a key's
            # position in ks is its value's in vs (checked on 1.5M rows with 4 threads). ORDER BY key in
            # the aggregates would say so explicitly, but made a 2,000-run search 3-5x slower.
            clauses.append(f"LEFT JOIN (SELECT run_id, list(key) AS ks, list(value) AS vs "
                           f"FROM {table} WHERE list_contains(?::VARCHAR[], key) GROUP BY run_id) AS {alias} "
                           f"ON {alias}.run_id = {self.alias}.run_id")
            params.append(list(keys))
        return " ".join(clauses), params


def _keyed(entity: str, key: str, target: str, source: str) -> str | None:
    """The table a key's value comes from in "joins" mode, or None when it is a column of the row."""
    if source == "maps" or entity not in _TABLES or (entity == "tag" and key == "mlflow.runName"):
        return None
    return _TABLES[entity]


def _column(entity: str, key: str, alias: str, target: str) -> tuple[str, list]:
    """SQL for the value a key refers to on a row with MAP columns, and the parameters it binds."""
    if entity == "tag" and target == "runs" and key == "mlflow.runName":  # MLflow's alias for the run name
        return f"{alias}.run_name", []
    if entity in _TABLES:
        return f"{alias}.{_ENTITY_RENDER[entity]}[?]", [key]
    # attribute: key is one of the fixed names in TARGETS, never user text
    kind = TARGETS[target][1][key]
    return (f"epoch_ms({alias}.{key})" if kind == "time" else f"{alias}.{key}"), []


def _compile_comparison(cmp: Comparison, alias: str, target: str, source: str,
                        joins: KeyJoins | None) -> tuple[str, list]:
    cmp = _check(cmp, target)
    op, value = cmp.op, cmp.value
    values = list(value) if isinstance(value, tuple) else [] if value is None else [value]
    rhs = "(" + ", ".join("?" * len(values)) + ")" if op in ("IN", "NOT IN") else "?"
    if cmp.entity == "dataset":
        column = "ri.context" if cmp.key == "context" else f"d.{cmp.key}"
        sql = (f"EXISTS (SELECT 1 FROM run_inputs AS ri JOIN datasets AS d ON d.dataset_id = ri.dataset_id "
               f"WHERE ri.run_id = {alias}.run_id AND {column} {op} {rhs})")
        return sql, values
    table = _keyed(cmp.entity, cmp.key, target, source)
    if table:
        if op in ("IS NULL", "IS NOT NULL"):
            return joins.missing(table, cmp.key, missing=op == "IS NULL")
        col, col_params = joins.value(table, cmp.key)
    else:
        col, col_params = _column(cmp.entity, cmp.key, alias, target)
    if op in ("IS NULL", "IS NOT NULL"):
        return f"{col} {op}", col_params
    numeric = cmp.entity == "metric" or (cmp.entity in ("param", "tag") and not isinstance(values[0], str))
    if cmp.entity in ("param", "tag") and numeric:
        col = f"TRY_CAST({col} AS DOUBLE)"  # a param that is not a number never matches a number
    if numeric:
        values = [float(v) for v in values]
    if numeric and op not in ("!=", "NOT IN"):
        # DuckDB orders NaN above every number; MLflow lets NaN satisfy only != (and so NOT IN).
        sql, params = f"({col} {op} {rhs} AND NOT isnan({col}))", col_params + values + col_params
    else:
        sql, params = f"{col} {op} {rhs}", col_params + values
    return sql, params


def compile_filter(expr: Expr | None, alias: str = "r", target: str = "runs",
                   source: str = "maps", joins: KeyJoins | None = None) -> tuple[str, list]:
    """SQL boolean text over the row ``alias`` and its ``?`` parameters.

    ``source="maps"``: the row has MAP columns params, metrics, tags (runs_overview, run_list).
    ``source="joins"``: the row has run_id, and values come from the params, latest_metrics and tags tables
    through the one LEFT JOIN per table that ``joins`` collects (no MAP is built); the caller puts
    ``joins.sql()`` after the row's FROM item and binds every part's parameters in the order of the text.

    >>> compile_filter(parse_filter("params.model LIKE 'r%'"))
    ('r.params[?] LIKE ?', ['model', 'r%'])
    """
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", alias):
        raise FilterSyntaxError(f"alias must be a plain lower-case name, got {alias!r}")
    _check_source(source, joins)
    if expr is None:
        return "TRUE", []
    if isinstance(expr, Comparison):
        try:
            return _compile_comparison(expr, alias, target, source, joins)
        except ValueError as e:
            if isinstance(e, FilterSyntaxError):
                raise
            raise FilterSyntaxError(str(e)) from None
    if isinstance(expr, Not):
        sql, params = compile_filter(expr.item, alias, target, source, joins)
        return f"(NOT {sql})", params
    if isinstance(expr, (And, Or)) and expr.items:
        parts = [compile_filter(i, alias, target, source, joins) for i in expr.items]
        joiner = " AND " if isinstance(expr, And) else " OR "
        return "(" + joiner.join(p[0] for p in parts) + ")", [v for p in parts for v in p[1]]
    raise FilterSyntaxError(f"not a filter expression: {expr!r}")


def _check_source(source: str, joins: KeyJoins | None) -> None:
    if source not in _SOURCES:
        raise FilterSyntaxError(f"source must be one of {', '.join(map(repr, _SOURCES))}, got {source!r}")
    if (source == "joins") != (joins is not None):
        raise FilterSyntaxError('source="joins" needs a KeyJoins (joins=), and only it takes one')


def compile_order_by(order: tuple[OrderBy, ...], alias: str = "r", target: str = "runs",
                     source: str = "maps", joins: KeyJoins | None = None) -> tuple[list[str], list]:
    """ORDER BY terms (a list of SQL strings) and their parameters; runs missing a key sort last.

    Metrics follow MLflow's SQL store: values, then NaN, then missing, in either direction. With
    ``source="joins"`` the terms bind their keys too: where the terms sit before the joins in the statement's
    text (a window's ORDER BY), their parameters come first.

    >>> compile_order_by(parse_order_by(["params.model DESC"]))
    (['r.params[?] DESC NULLS LAST'], ['model'])
    """
    _check_source(source, joins)
    terms, params = [], []
    for item in order:
        table = _keyed(item.entity, item.key, target, source)
        if table:
            col, col_params = joins.value(table, item.key)
            direction = "ASC" if item.ascending else "DESC"
            if item.entity == "metric":  # values, then NaN, then missing, in either direction
                terms.append(f"isnan({col}) ASC NULLS LAST")
                params += col_params
            terms.append(f"{col} {direction} NULLS LAST")
            params += col_params
            continue
        col, col_params = _column(item.entity, item.key, alias, target)
        if item.entity == "metric":
            terms.append(f"(CASE WHEN {col} IS NULL THEN 2 WHEN isnan({col}) THEN 1 ELSE 0 END)")
            params += col_params * 2
        terms.append(f"{col} {'ASC' if item.ascending else 'DESC'} NULLS LAST")
        params += col_params
    return terms, params
