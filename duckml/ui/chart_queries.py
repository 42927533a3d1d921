"""What the charts read: one metric of many runs at once, and the experiment's chart view.

Same rules as :mod:`duckml.ui.queries`: one short read each, every value bound.
"""

from __future__ import annotations

import numpy as np

from duckml.errors import InvalidInputError
from duckml.ui.queries import MAX_POINTS, _live_state, _page_ids, experiment_id, finite

MAX_HISTORY_RUNS = 100  # runs per chart (the chart view's limit)


MAX_HISTORY_KEYS = 50  # metrics per request (the chart view asks for all its panels at once)


def metric_series_many(store, run_ids: list[str], key: str, points: int, step_from: int | None = None,
                       step_to: int | None = None) -> dict:
    """One metric's history for many runs at once, each as :func:`metric_series` gives it, in one read;
    runs without the key are left out.

    >>> import duckml, tempfile, os
    >>> store = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run() as run:
    ...     duckml.log_metric_series("loss", [3.0, 1.0, 9.0, 2.0])
    >>> metric_series_many(store, [run.info.run_id, "other"], "loss", 2)[run.info.run_id]["max"]
    [3.0, 9.0]
    """
    return metric_series_by_key(store, run_ids, [key], points, step_from, step_to).get(key, {})


def metric_series_by_key(store, run_ids: list[str], keys: list[str], points: int, step_from: int | None = None,
                         step_to: int | None = None) -> dict:
    """``{key: {run_id: history}}`` for several metrics of many runs: one scan of the histories, where a
    request per metric would make one each.

    >>> import duckml, tempfile, os
    >>> store = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run() as run:
    ...     duckml.log_metric_series("loss", [3.0, 1.0]); duckml.log_metric_series("acc", [0.5, 0.7])
    >>> sorted(metric_series_by_key(store, [run.info.run_id], ["loss", "acc"], 10))
    ['acc', 'loss']
    """
    if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= MAX_POINTS:
        raise InvalidInputError(f"points must be an integer from 2 to {MAX_POINTS}, got {points!r}")
    ids = list(dict.fromkeys(run_ids))
    if not ids or len(ids) > MAX_HISTORY_RUNS:
        raise InvalidInputError(f"give from 1 to {MAX_HISTORY_RUNS} runs (run=<id>), got {len(ids)}")
    keys = list(dict.fromkeys(keys))
    if not keys or len(keys) > MAX_HISTORY_KEYS:
        raise InvalidInputError(f"give from 1 to {MAX_HISTORY_KEYS} metric keys (key=<key>), got {len(keys)}")
    with store.read() as con:
        # flat rows in (key, run, bucket) order, as NumPy arrays split here: list(… ORDER BY bucket) per
        # series and Python tuples per row cost more than the bucketing itself (100k buckets: ~0.4 s)
        columns = con.execute("""
            SELECT key, run_id, step, epoch_ms(timestamp) AS timestamp, value, min, max, count
            FROM metric_buckets(?::VARCHAR[], ?::VARCHAR[], ?, ?, ?) ORDER BY key, run_id, bucket""",
                              [ids, keys, points, step_from, step_to]).fetchnumpy()
    result: dict[str, dict] = {}
    key_column, run_column = columns["key"], columns["run_id"]
    if not len(key_column):
        return result
    starts = np.flatnonzero((key_column[1:] != key_column[:-1]) | (run_column[1:] != run_column[:-1])) + 1
    bounds = np.concatenate(([0], starts, [len(key_column)]))
    lists = {name: _json_list(columns[name]) for name in ("step", "timestamp", "value", "min", "max")}
    counts = columns["count"]
    for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        result.setdefault(key_column[start], {})[run_column[start]] = {
            "step": lists["step"][start:end], "value": lists["value"][start:end], "min": lists["min"][start:end],
            "max": lists["max"][start:end], "timestamp": lists["timestamp"][start:end],
            "points": int(counts[start:end].sum())}
    return result


def _json_list(column) -> list:
    """A fetched column as a list JSON can carry: NULL, NaN and ±inf as None (the common all-finite column
    converts in one call)."""
    if np.ma.isMaskedArray(column):
        column = column.astype(float).filled(np.nan) if column.dtype.kind == "f" else column.filled(0)
    values = column.tolist()
    if column.dtype.kind == "f" and not np.isfinite(column).all():
        values = [finite(v) for v in values]
    return values


CHART_VIEW_RUNS = 100


def chart_view(store, experiment: str, filter_string: str = "", order_by: list[str] | None = None) -> dict:
    """What the experiment's chart view draws: its first CHART_VIEW_RUNS runs in the run list's order,
    each metric key with the runs that have a history of it (more than one point: drawn as lines) and
    the keys that are single values in every run that has them (drawn as bars, ``[run_id, value]``).

    >>> import duckml, tempfile, os
    >>> store = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run(experiment_name="e"):
    ...     duckml.log_metric_series("loss", [3.0, 1.0]); duckml.log_metric("rmse", 0.5)
    >>> view = chart_view(store, "e")
    >>> list(view["histories"]), [v for _, v in view["singles"]["rmse"]]
    (['loss'], [0.5])
    """
    with store.read() as con:
        exp_id = experiment_id(con, experiment)
        ids, total = _page_ids(con, exp_id, filter_string, order_by or [], 0, CHART_VIEW_RUNS)
        runs = con.execute("""
            WITH page AS (SELECT * FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS g(run_id, position))
            SELECT g.run_id, r.run_name, r.status FROM page AS g JOIN runs AS r ON r.run_id = g.run_id
            ORDER BY g.position""", [ids]).fetchall()
        params = con.execute("""SELECT run_id, key, value FROM params JOIN unnest(?::VARCHAR[]) AS g(run_id)
                                USING (run_id) ORDER BY key""", [ids]).fetchall()
        metrics = con.execute("""
            WITH page AS (SELECT unnest(?::VARCHAR[]) AS run_id),
            counts AS (SELECT run_id, key, count AS n FROM _duckml_metric_summary JOIN page USING (run_id))
            SELECT c.key, c.run_id, c.n, l.value FROM counts AS c
            JOIN latest_metrics AS l ON l.run_id = c.run_id AND l.key = c.key ORDER BY c.key""", [ids]).fetchall()
        running = any(r[2] == "RUNNING" for r in runs)
        # what the page's poll compares while a run it shows runs: new runs of the experiment, and new
        # points of the runs shown (not of a running run the filter leaves out)
        token = _live_state(con, experiment_id=exp_id, shown=ids)["token"] if running else ""
    by_run = {run_id: {} for run_id in ids}
    for run_id, key, value in params:
        by_run[run_id][key] = value
    position = {run_id: i for i, run_id in enumerate(ids)}
    histories: dict[str, list[str]] = {}
    values: dict[str, list] = {}
    for key, run_id, count, value in metrics:
        values.setdefault(key, []).append([run_id, finite(value)])
        if count > 1:
            histories.setdefault(key, []).append(run_id)
    for owners in histories.values():
        owners.sort(key=position.__getitem__)
    singles = {key: sorted(pairs, key=lambda p: (p[1] is None, p[1] if p[1] is not None else 0))
               for key, pairs in values.items() if key not in histories}
    return {"total": total, "running": running, "token": token,
            "runs": [{"run_id": r, "name": n or r[:8], "params": by_run[r], "running": status == "RUNNING"}
                     for r, n, status in runs],
            "histories": histories, "singles": singles}
