"""Find, compare and chart runs: MLflow's ``search_runs`` and more, each compiled to a few DuckDB queries.

Filters and ``order_by`` go through :mod:`duckml.search.grammar` and :mod:`duckml.search.sqlgen` (text ->
AST -> SQL with every key and value bound as a parameter). ``search_runs`` filters and orders the runs table first, looking up only
the keys the filter names, then fetches the params / latest metrics / tags of the chosen runs in long
form and pivots them in Polars into MLflow's ``params.<k>`` / ``metrics.<k>`` / ``tags.<k>`` columns
(a stored view cannot pivot keys that depend on the data; building the MAP columns of
``runs_overview_all`` for every run cost more than the whole search).

>>> import duckml, tempfile, os
>>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> _ = duckml.set_experiment("empty")
>>> search_runs(filter_string="metrics.rmse < 0.5 OR params.model IN ('rf', 'gb')").height
0
"""

from __future__ import annotations

from contextlib import contextmanager

from typing import TYPE_CHECKING

from duckml.entities import Run, RunData, RunInfo
from duckml.errors import InvalidInputError, NotFoundError
from duckml.sqlquote import execute
from duckml.store import get_store
from duckml.tracking.runs import run_not_found
from duckml.tracking.validation import check_text
from duckml.search.grammar import OrderBy, parse_filter, parse_order_by
from duckml.search.sqlgen import KeyJoins, compile_filter, compile_order_by

if TYPE_CHECKING:  # the frame libraries load inside the functions that build frames: `duckml runs list` needs none
    import polars as pl
    import pyarrow as pa

_VIEW_TYPES = {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3}
_ACTIVE = "({a}.lifecycle_stage = 'active' AND {a}.experiment_lifecycle_stage = 'active')"
_ROW = "__duckml_row__"
# The runs with their experiment, deleted ones included: search_runs filters this.
_RUNS = """(SELECT x.run_id, x.experiment_id, e.name AS experiment_name, x.run_name, x.status, x.start_time,
    x.end_time, x.parent_run_id, x.lifecycle_stage, e.lifecycle_stage AS experiment_lifecycle_stage
    FROM runs AS x JOIN experiments AS e ON e.experiment_id = x.experiment_id)"""
_RUN_COLUMNS = ["run_id", "experiment_id", "status", "start_time", "end_time", "run_name"]


@contextmanager
def _reading():
    with get_store().read() as con:
        yield con


def _strings(value, name: str) -> list[str]:
    """A str or an iterable of str as a list (duplicates dropped, order kept)."""
    if isinstance(value, str):
        value = [value]
    try:
        items = list(value)
    except TypeError:
        raise InvalidInputError(f"{name} must be a string or a list of strings, got {value!r}") from None
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise InvalidInputError(f"{name} must hold strings only, got {bad[0]!r}")
    return list(dict.fromkeys(check_text(item, name) for item in items))


def _view_clause(view_type, active: str, name: str = "run_view_type") -> str:
    """SQL keeping active, deleted or all rows; ``active`` is the SQL test for an active row."""
    code = view_type if isinstance(view_type, int) and not isinstance(view_type, bool) else \
        _VIEW_TYPES.get(view_type.upper()) if isinstance(view_type, str) else None
    if code == 1:
        return active
    if code == 2:
        return f"NOT {active}"
    if code == 3:
        return "TRUE"
    raise InvalidInputError(f"{name} must be 'ACTIVE_ONLY', 'DELETED_ONLY' or 'ALL' (or MLflow's 1, 2, 3), "
                            f"got {view_type!r}")


def _limit(max_results) -> int | None:
    if max_results is None:
        return None
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 0:
        raise InvalidInputError(f"max_results must be a non-negative integer or None, got {max_results!r}")
    return max_results


def _check_experiments_found(con, names: list[str] | None, found_names: set[str], ids: list[str] | None,
                             found_ids: set[str]) -> None:
    """NotFoundError naming the first experiment name or id that was asked for and not found."""
    for wanted, found, column, label in ((names, found_names, "name", "experiment"),
                                         (ids, found_ids, "experiment_id", "experiment id")):
        missing = [v for v in wanted or [] if v not in found]
        if missing:
            known = [r[0] for r in con.execute(f"SELECT {column} FROM experiments ORDER BY {column} LIMIT 20"
                                               ).fetchall()]
            raise NotFoundError(f"{label} {missing[0]!r} does not exist; existing: {', '.join(known) or 'none'}")


def _experiment_ids(con, experiment_names) -> list[str] | None:
    """Ids of the named experiments, or None for every experiment; unknown names raise NotFoundError."""
    if experiment_names is None:
        return None
    names = _strings(experiment_names, "experiment_names")
    rows = con.execute("SELECT name, experiment_id FROM experiments WHERE list_contains(?::VARCHAR[], name)",
                       [names]).fetchall()
    _check_experiments_found(con, names, {row[0] for row in rows}, None, set())
    return list(dict.fromkeys(row[1] for row in rows))


def _order_terms(order: tuple[OrderBy, ...], target: str, default: list[str],
                 joins: KeyJoins | None = None) -> tuple[list[str], list]:
    terms, params = compile_order_by(order, "r", target, source="joins" if joins else "maps", joins=joins)
    named = {(o.entity, o.key) for o in order}
    for term in default:  # MLflow's tie-breakers, unless the caller ordered by that key already
        key = term.split()[0].removeprefix("r.")
        if ("attribute", key) not in named:
            terms.append(term)
    return terms, params


def _join_wide(frame: pl.DataFrame, long: pl.DataFrame, prefix: str, on: str = "run_id") -> pl.DataFrame:
    """Add one ``<prefix>.<key>`` column per key (sorted) of a long (``on``, key, value) frame; row order kept."""
    import polars as pl

    if long.height == 0:
        return frame
    # The index gets a name no key will have, so that a param called "run_id" cannot collide with it.
    wide = long.rename({on: _ROW}).pivot(on="key", index=_ROW, values="value")
    keys = sorted(c for c in wide.columns if c != _ROW)
    wide = wide.select(_ROW, *[pl.col(k).alias(f"{prefix}.{k}") for k in keys])
    return frame.join(wide, left_on=on, right_on=_ROW, how="left", maintain_order="left")


def _utc(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    import polars as pl

    # MLflow's search_runs gives timezone-aware UTC times; the store keeps naive UTC TIMESTAMPs.
    return frame.with_columns(pl.col(c).dt.replace_time_zone("UTC") for c in columns)


def search_runs(experiment_names=None, filter_string: str | None = "", order_by=None, max_results=None,
                run_view_type="ACTIVE_ONLY", experiment_ids=None, output_format: str = "polars"):
    """Runs matching a filter, one row each, with MLflow's columns (``params.<k>``, ``metrics.<k>``, ``tags.<k>``).

    Args:
        experiment_names: names (or one name) to search; None searches every experiment.
        filter_string: MLflow's grammar plus OR, NOT, parentheses and IN on any key.
        order_by: e.g. ``["metrics.rmse ASC", "params.model"]``; runs missing a key come last.
            Then newest first (``start_time DESC``), then ``run_id``.
        max_results: at most this many rows; None for all.
        run_view_type: ``"ACTIVE_ONLY"`` (default), ``"DELETED_ONLY"`` or ``"ALL"`` (MLflow's 1, 2, 3).
        experiment_ids: ids to search, alone or with ``experiment_names``.
        output_format: ``"polars"`` (default) for one frame, or ``"list"`` for a list of ``Run`` (as MLflow's
            ``output_format="list"``), built without any frame library.

    Raises:
        FilterSyntaxError: the filter or an order_by clause does not parse (nothing was read).
        NotFoundError: an experiment name or id does not exist.

    >>> import duckml, tempfile, os
    >>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run(run_name="a"):
    ...     duckml.log_metric("rmse", 0.4)
    >>> search_runs(filter_string="metrics.rmse < 0.5", order_by=["start_time DESC"])["run_name"].to_list()
    ['a']
    >>> search_runs(output_format="list")[0].data.metrics
    {'rmse': 0.4}
    """
    if output_format not in ("polars", "list"):
        raise InvalidInputError(f"output_format must be 'polars' or 'list', got {output_format!r}")
    expr = parse_filter(filter_string or "", "runs")
    order = parse_order_by(order_by, "runs")
    limit = _limit(max_results)
    where = [_view_clause(run_view_type, _ACTIVE.format(a="r"))]
    names = None if experiment_names is None else _strings(experiment_names, "experiment_names")
    wanted_ids = None if experiment_ids is None else _strings(experiment_ids, "experiment_ids")
    scoped = names is not None or wanted_ids is not None
    with _reading() as con:
        scope_params: list = []
        params: list = []
        if scoped:
            # the experiments are looked up in the same statement; missing ones are reported after it
            where.append("r.experiment_id IN (SELECT experiment_id FROM scope)")
            scope_params = [names or [], wanted_ids or []]
        # Filter and order on plain columns and one narrow join per key named; building MAPs for
        # every run (runs_overview_all) costs more than the whole search.
        joins = KeyJoins("r")
        if expr is not None:
            filter_sql, filter_params = compile_filter(expr, "r", "runs", source="joins", joins=joins)
            where.append(filter_sql)
            params += filter_params
        terms, order_params = _order_terms(order, "runs", ["r.start_time DESC", "r.run_id ASC"], joins)
        join_sql, join_params = joins.sql()
        # in the order the statement's text binds them: WITH scope, the window's ORDER BY, the joins, WHERE
        params = scope_params + order_params + join_params + params
        qualify = ""
        if limit is not None:
            qualify = f"QUALIFY {_ROW} <= ?"
            params.append(limit)
        # One statement for the chosen runs and every cell of theirs: planning costs DuckDB more than
        # running these queries, so one plan instead of two is the cheaper path.
        scope = ("scope AS (SELECT experiment_id, name FROM experiments WHERE list_contains(?::VARCHAR[], name) "
                 "OR list_contains(?::VARCHAR[], experiment_id)),") if scoped else ""
        sql = f"""WITH {scope} chosen AS (
                SELECT r.run_id, r.experiment_id, r.status, r.start_time, r.end_time, r.run_name,
                       r.lifecycle_stage, r.parent_run_id, row_number() OVER (ORDER BY {', '.join(terms)}) AS {_ROW}
                FROM {_RUNS} AS r {join_sql} WHERE {' AND '.join(where)} {qualify})
            SELECT *, NULL::UTINYINT AS kind, NULL::VARCHAR AS key, NULL::DOUBLE AS number, NULL::VARCHAR AS text
            FROM chosen
            UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, c.{_ROW}, 0, 'metrics.' || m.key, m.value, NULL
            FROM latest_metrics AS m JOIN chosen AS c USING (run_id)
            UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, c.{_ROW}, 1, 'params.' || p.key, NULL, p.value
            FROM params AS p JOIN chosen AS c USING (run_id)
            UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, c.{_ROW}, 1, 'tags.' || t.key, NULL, t.value
            FROM tags AS t JOIN chosen AS c USING (run_id)"""
        if scoped:
            sql += " UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2, name, NULL, experiment_id FROM scope"
        result = execute(con, sql, params)
        if output_format == "list":
            rows = result.fetchall()
            if scoped:
                found = [row for row in rows if row[9] == 2]
                _check_experiments_found(con, names, {row[10] for row in found}, wanted_ids, {row[12] for row in found})
            return _run_list(rows)
        rows = result.to_arrow_table()
        if scoped:
            import pyarrow.compute as pc

            found = rows.filter(pc.equal(rows.column("kind"), 2))
            _check_experiments_found(con, names, set(found.column("key").to_pylist()), wanted_ids,
                                     set(found.column("text").to_pylist()))
    return _assemble_runs(rows)


def _run_list(rows: list[tuple]) -> list[Run]:
    """``Run`` objects from search_runs' long rows, in their order (no frame library involved)."""
    runs: dict[int, tuple] = {}
    cells: dict[int, tuple[dict, dict, dict]] = {}
    for run_id, experiment_id, status, start, end, name, stage, parent, position, kind, key, number, text in rows:
        if kind is None:
            runs[position] = (run_id, experiment_id, name, status, start, end, stage, parent)
        elif kind <= 1:
            metrics, params, tags = cells.setdefault(position, ({}, {}, {}))
            prefix, _, bare = key.partition(".")
            target = metrics if prefix == "metrics" else params if prefix == "params" else tags
            target[bare] = number if kind == 0 else text
    result = []
    for position in sorted(runs):
        run_id, experiment_id, name, status, start, end, stage, parent = runs[position]
        metrics, params, tags = cells.get(position, ({}, {}, {}))
        info = RunInfo(run_id=run_id, experiment_id=experiment_id, run_name=name, status=status, start_time=start,
                       end_time=end, lifecycle_stage=stage, parent_run_id=parent)
        result.append(Run(info, RunData(params=dict(sorted(params.items())), metrics=dict(sorted(metrics.items())),
                                        tags=dict(sorted(tags.items())))))
    return result


def _assemble_runs(rows: pa.Table) -> pl.DataFrame:
    """MLflow's wide frame from search_runs' long rows: one row per run (kind NULL, in _ROW order) and
    one per cell (kind 0: metric, 1: param or tag, key already prefixed).

    Each cell column is scattered into place with one Arrow ``take`` (a NULL index where a run lacks the
    key); Polars' pivot and joins cost twice as much for a few hundred runs.
    """
    import numpy as np
    import polars as pl
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = rows.column("kind")
    is_run = pc.is_null(kind)
    runs = rows.filter(is_run)
    runs = runs.take(pc.sort_indices(runs.column(_ROW)))
    n = runs.num_rows
    # MLflow's search_runs gives timezone-aware UTC times; the store keeps naive UTC TIMESTAMPs.
    utc = pa.timestamp("us", tz="UTC")
    columns = {c: runs.column(c).cast(utc) if c in ("start_time", "end_time") else runs.column(c)
               for c in _RUN_COLUMNS}
    cells = rows.filter(pc.less_equal(pc.fill_null(kind, 9), 1))
    positions = cells.column(_ROW).to_numpy() - 1
    kinds = cells.column("kind").to_numpy()
    encoded = pc.dictionary_encode(cells.column("key")).combine_chunks()
    codes, names = encoded.indices.to_numpy(), encoded.dictionary.to_pylist()
    by_code = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[by_code], np.arange(len(names) + 1))
    number, text = cells.column("number"), cells.column("text")
    wide = {}
    for code, name in enumerate(names):
        chosen = by_code[bounds[code]:bounds[code + 1]]
        index = np.full(n, -1, dtype=np.int64)
        index[positions[chosen]] = chosen
        wide[name] = (number if kinds[chosen[0]] == 0 else text).take(pa.array(index, mask=index < 0))
    wide["tags.mlflow.runName"] = columns["run_name"]  # MLflow's name for the run name, as a tag
    for prefix in ("metrics.", "params.", "tags."):
        columns.update((name, wide[name]) for name in sorted(k for k in wide if k.startswith(prefix)))
    return pl.from_arrow(pa.table(columns))


def search_experiments(filter_string: str | None = "", order_by=None, view_type="ACTIVE_ONLY") -> pl.DataFrame:
    """Experiments matching a filter over ``name``, ``experiment_id``, ``creation_time``, ``last_update_time``
    (ms since the epoch) and ``tags.<k>``; columns experiment_id, name, lifecycle_stage, creation_time,
    last_update_time, ``tags.<k>``. Default order: newest first, then experiment_id.

    >>> import duckml, tempfile, os
    >>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> _ = duckml.set_experiment("baselines")
    >>> search_experiments("name LIKE 'base%'", order_by=["name"])["name"].to_list()
    ['baselines']
    """
    expr = parse_filter(filter_string or "", "experiments")
    order = parse_order_by(order_by, "experiments")
    where = [_view_clause(view_type, "r.lifecycle_stage = 'active'", "view_type")]
    params: list = []
    if expr is not None:
        filter_sql, params = compile_filter(expr, "r", "experiments")
        where.append(filter_sql)
    terms, order_params = _order_terms(order, "experiments", ["r.creation_time DESC", "r.experiment_id ASC"])
    sql = f"""
        WITH r AS (
            SELECT e.experiment_id, e.name, e.lifecycle_stage, e.creation_time, e.last_update_time,
                   coalesce(t.tags, MAP {{}}::MAP(VARCHAR, VARCHAR)) AS tags
            FROM experiments AS e
            LEFT JOIN (SELECT experiment_id, map_from_entries(list({{'k': key, 'v': value}})) AS tags
                       FROM experiment_tags GROUP BY experiment_id) AS t ON t.experiment_id = e.experiment_id
        )
        SELECT r.experiment_id, r.name, r.lifecycle_stage, r.creation_time, r.last_update_time
        FROM r WHERE {' AND '.join(where)} ORDER BY {', '.join(terms)}"""
    with _reading() as con:
        frame = con.execute(sql, params + order_params).pl()
        tags = con.execute("SELECT experiment_id, key, value FROM experiment_tags "
                           "WHERE experiment_id IN (SELECT unnest(?::VARCHAR[]))", [frame["experiment_id"].to_list()]
                           ).pl()
    return _utc(_join_wide(frame, tags, "tags", on="experiment_id"), ["creation_time", "last_update_time"])


def _column_names(runs: list[tuple[str, str | None]]) -> list[str]:
    """One display name per run: its run_name, else the run_id's first 8 characters, made unique."""
    names = [name or run_id[:8] for run_id, name in runs]
    taken = {"kind", "key", "differs"}
    result = []
    for (run_id, _), name in zip(runs, names):
        if names.count(name) > 1 or name in taken:
            name = f"{name} ({run_id[:8]})"
        base, n = name, 2
        while name in taken:
            name, n = f"{base} #{n}", n + 1
        taken.add(name)
        result.append(name)
    return result


def compare_runs(run_ids) -> pl.DataFrame:
    """Params and latest metrics of runs side by side: columns kind, key, one per run, differs.

    A run's column is named by its run name (else its id's first 8 characters), made unique. ``differs``
    is true when the runs do not all have the same value (a missing value counts as different).

    >>> import duckml, tempfile, os
    >>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run(run_name="a") as a:
    ...     _ = duckml.log_param("model", "rf")
    >>> with duckml.start_run(run_name="b") as b:
    ...     _ = duckml.log_param("model", "gb")
    >>> compare_runs([a.info.run_id, b.info.run_id]).rows()
    [('param', 'model', 'rf', 'gb', True)]
    """
    import polars as pl

    ids = _strings(run_ids, "run_ids")
    if not ids:
        raise InvalidInputError("compare_runs needs at least one run id")
    with _reading() as con:
        runs = dict(con.execute("SELECT run_id, run_name FROM runs WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [ids]
                                ).fetchall())
        missing = [i for i in ids if i not in runs]
        if missing:
            raise run_not_found(missing[0], get_store())
        long = con.execute("SELECT kind, key, run_id, value FROM compare_runs(?::VARCHAR[])", [ids]).pl()
    names = _column_names([(i, runs[i]) for i in ids])
    if long.height == 0:
        schema = {"kind": pl.String, "key": pl.String, **{n: pl.String for n in names}, "differs": pl.Boolean}
        return pl.DataFrame(schema=schema)
    wide = long.pivot(on="run_id", index=["kind", "key"], values="value")
    wide = wide.select("kind", "key", *[pl.col(i).alias(n) for i, n in zip(ids, names)])
    differs = pl.concat_list([pl.col(n) for n in names]).list.n_unique() > 1
    return wide.with_columns(differs.alias("differs"))


def _downsample_clause(max_points) -> tuple[str, list]:
    """WHERE text keeping max_points evenly spaced points per series (first and last included)."""
    if max_points is None:
        return "TRUE", []
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2:
        raise InvalidInputError(f"max_points must be an integer >= 2 or None, got {max_points!r}")
    # Point i of n is kept when some j in 0..m-1 has floor(j * (n-1) / (m-1)) = i, in exact integer
    # arithmetic: j = ceil(i * (m-1) / (n-1)) must satisfy j * (n-1) < (i+1) * (m-1).
    b = max_points - 1
    return ("(n <= ? OR ((i * ? + n - 2) // (n - 1)) * (n - 1) < (i + 1) * ?)", [max_points, b, b])


def get_metric_histories(run_ids=None, keys=None, experiment_names=None, max_points=None,
                         mode: str = "even") -> pl.DataFrame:
    """Every point of many metric series at once: columns run_id, key, step, timestamp, value.

    Args:
        run_ids: runs to read (deleted ones too); None for every active run (of ``experiment_names``).
        keys: metric keys to read; None for all.
        experiment_names: only runs of these experiments.
        max_points: keep at most this many points per (run, key).
        mode: how ``max_points`` downsamples. ``"even"``: evenly spaced points, first and last included
            (a spike between them is lost). ``"minmax"``: the step range is cut into ``max_points``
            buckets (SQL macro ``metric_buckets``); a row per bucket holds its last point (step,
            timestamp, value) plus columns ``min``, ``max`` (NaN left out) and ``count``, so no spike is lost.

    Rows are ordered by run (in the order given), key, step, timestamp.


    >>> import duckml, tempfile, os
    >>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run():
    ...     duckml.log_metrics({"loss": 1.0, "acc": 0.5})
    >>> get_metric_histories(keys=["loss"], max_points=100).select("key", "value").rows()
    [('loss', 1.0)]
    >>> with duckml.start_run():
    ...     duckml.log_metric_series("spiky", [1.0, 9.0, 1.0, 1.0])
    >>> get_metric_histories(keys=["spiky"], max_points=2, mode="minmax").select("value", "max").rows()
    [(9.0, 9.0), (1.0, 1.0)]
    """
    keep_sql, keep_params = _downsample_clause(max_points)
    if mode not in ("even", "minmax"):
        raise InvalidInputError(f"mode must be 'even' or 'minmax', got {mode!r}")
    key_list = None if keys is None else _strings(keys, "keys")
    with _reading() as con:
        where, params = [], []
        if run_ids is not None:
            ids = _strings(run_ids, "run_ids")
            # the runs given, numbered in their order: one join instead of a list lookup per point
            source = ("metrics AS m JOIN (SELECT * FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS g(run_id, run_order)) "
                      "AS g ON g.run_id = m.run_id")
            source_params = [ids]
            found = {r[0] for r in con.execute("SELECT run_id FROM runs WHERE list_contains(?::VARCHAR[], run_id)",
                                               [ids]).fetchall()}
            missing = [i for i in ids if i not in found]
            if missing:
                raise run_not_found(missing[0], get_store())
            run_order = "run_order"
        else:
            source, source_params = "metrics AS m", []
            run_filter = f"SELECT run_id FROM {_RUNS} AS r WHERE {_ACTIVE.format(a='r')}"
            exp_ids = _experiment_ids(con, experiment_names)
            if exp_ids is not None:
                run_filter += " AND list_contains(?::VARCHAR[], r.experiment_id)"
                params.append(exp_ids)
            where.append(f"m.run_id IN ({run_filter})")
            run_order = "m.run_id"
        if run_ids is not None and experiment_names is not None:
            exp_ids = _experiment_ids(con, experiment_names)
            where.append("m.run_id IN (SELECT run_id FROM runs WHERE list_contains(?::VARCHAR[], experiment_id))")
            params.append(exp_ids)
        if key_list is not None:
            where.append("list_contains(?::VARCHAR[], m.key)")
            params.append(key_list)
        columns = "m.run_id, m.key, m.step, m.timestamp, m.value"
        order = f"ORDER BY {run_order}, m.key, m.step, m.timestamp"
        where_sql = " AND ".join(where) or "TRUE"
        if max_points is not None and mode == "minmax":
            sql = f"""
                WITH chosen AS (SELECT DISTINCT m.run_id, {run_order} AS run_order_ FROM {source} WHERE {where_sql})
                SELECT b.run_id, b.key, b.step, b.timestamp, b.value, b.min, b.max, b.count
                FROM metric_buckets((SELECT list(run_id) FROM chosen), ?::VARCHAR[], ?, NULL, NULL) AS b
                JOIN chosen ON chosen.run_id = b.run_id
                ORDER BY chosen.run_order_, b.key, b.bucket"""
            return con.execute(sql, source_params + params + [key_list, max_points]).pl()
        if max_points is None:  # no numbering needed: every point is kept
            sql = f"SELECT {columns} FROM {source} WHERE {where_sql} {order}"
            return con.execute(sql, source_params + params).pl()
        sql = f"""
            WITH points AS (
                SELECT {columns}, {run_order} AS run_order_,
                       row_number() OVER (PARTITION BY m.run_id, m.key ORDER BY m.step, m.timestamp) - 1 AS i,
                       count(*) OVER (PARTITION BY m.run_id, m.key) AS n
                FROM {source} WHERE {where_sql}
            )
            SELECT run_id, key, step, timestamp, value FROM points
            WHERE {keep_sql}
            ORDER BY run_order_, key, step, timestamp"""
        return con.execute(sql, source_params + params + keep_params).pl()
