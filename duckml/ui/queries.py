"""Everything the UI reads, as plain Python data: one function per page, each one short read of the store.

The pages never build SQL; they call these. Reads go through ``Store.read()`` (the file is attached
read-only for the length of one call, so a UI left open never blocks a writer) and the shipped views and
macros (``metric_buckets``, ``model_versions_overview``, ``alias_history``, ``alias_as_of``,
``compare_runs``). Filters and orderings are compiled by :mod:`duckml.filter_grammar`, every value bound.

>>> import duckml, tempfile, os
>>> store = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> with duckml.start_run(run_name="first", experiment_name="sweep"):
...     _ = duckml.log_param("alpha", 0.1)
>>> page = run_page(store, "sweep")
>>> page["total"], page["runs"][0]["params"], page["keys"]["params"]
(1, {'alpha': '0.1'}, ['alpha'])
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field

from duckml.errors import InvalidInputError, NotFoundError
from duckml.search import KeyJoins, compile_filter, compile_order_by, parse_filter, parse_order_by
from duckml.ui.run_files import image_series, logged_tables

PAGE_SIZES = (25, 50, 100, 200)
MAX_POINTS = 5000
AGGREGATES = ("last", "min", "max")
SYSTEM_PREFIX = "system/"  # the sampler's metrics (duckml.tracking.system_metrics), shown apart
# Same columns the filter grammar's attributes refer to (``r.status``, ``r.start_time``, ...).
_RUNS = """(SELECT x.run_id, x.experiment_id, e.name AS experiment_name, x.run_name, x.status, x.start_time,
    x.end_time, x.parent_run_id, x.lifecycle_stage, e.lifecycle_stage AS experiment_lifecycle_stage
    FROM runs AS x JOIN experiments AS e ON e.experiment_id = x.experiment_id)"""


def finite(value):
    """A float JSON can carry: NaN and ±inf become None."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


# -- home ------------------------------------------------------------------------------------------------
def overview(store) -> dict:
    """Experiments with their active run counts, and registered models with versions and aliases."""
    with store.read() as con:
        experiments = con.execute("""
            SELECT e.name, e.experiment_id, count(r.run_id) AS runs,
                   count(r.run_id) FILTER (WHERE r.status = 'RUNNING') AS running, max(r.start_time) AS last_run
            FROM experiments AS e
            LEFT JOIN runs AS r ON r.experiment_id = e.experiment_id AND r.lifecycle_stage = 'active'
            WHERE e.lifecycle_stage = 'active'
            GROUP BY ALL ORDER BY last_run DESC NULLS LAST, e.name""").fetchall()
        models = con.execute("""
            SELECT m.name, count(v.version) AS versions, max(v.version) AS latest,
                   (SELECT list(a.alias || ' → v' || a.version ORDER BY a.alias) FROM model_aliases AS a
                    WHERE a.name = m.name) AS aliases
            FROM registered_models AS m LEFT JOIN model_versions AS v ON v.name = m.name
            GROUP BY m.name ORDER BY m.name""").fetchall()
    return {
        "experiments": [dict(zip(("name", "experiment_id", "runs", "running", "last_run"), row)) for row in experiments],
        "models": [{"name": n, "versions": c, "latest": lv, "aliases": a or []} for n, c, lv, a in models],
    }


# -- run list --------------------------------------------------------------------------------------------
@dataclass
class Column:
    """A chosen run-list column: ``params.model``, ``tags.team`` or ``metrics.rmse`` with last/min/max."""

    entity: str  # params | metrics | tags
    key: str
    aggregate: str = "last"

    @property
    def token(self) -> str:
        base = f"{self.entity}.{self.key}"
        return f"{base}:{self.aggregate}" if self.entity == "metrics" else base

    @property
    def label(self) -> str:
        return f"{self.key} ({self.aggregate})" if self.entity == "metrics" and self.aggregate != "last" else self.key

    @property
    def order_key(self) -> str | None:
        """The order_by text sorting by this column (min/max have no grammar term: not sortable)."""
        if self.entity == "metrics" and self.aggregate != "last":
            return None
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.key):
            return f"{self.entity}.{self.key}"
        return f"{self.entity}.`{self.key}`" if "`" not in self.key else None

    def sorted_as(self, order_by: list[str]) -> str | None:
        """"ASC" or "DESC" when the run list is ordered by this column first (however it was written)."""
        if not order_by or self.order_key is None:
            return None
        try:
            first = parse_order_by(order_by[:1], "runs")[0]
            mine = parse_order_by([self.order_key], "runs")[0]
        except InvalidInputError:
            return None
        if (first.entity, first.key) != (mine.entity, mine.key):
            return None
        return "ASC" if first.ascending else "DESC"


def parse_column(token: str) -> Column:
    """``metrics.rmse:min`` → Column; raises InvalidInputError on anything else.

    >>> parse_column("metrics.val loss:max").label
    'val loss (max)'
    """
    entity, dot, rest = token.partition(".")
    if not dot or entity not in ("params", "metrics", "tags") or not rest:
        raise InvalidInputError(f"column {token!r} must look like params.<key>, tags.<key> or metrics.<key>[:last|min|max]")
    aggregate = "last"
    if entity == "metrics":
        head, colon, tail = rest.rpartition(":")
        if colon and tail in AGGREGATES:
            rest, aggregate = head, tail
    return Column(entity, rest, aggregate)


@dataclass
class RunPage:
    total: int = 0
    runs: list = field(default_factory=list)
    keys: dict = field(default_factory=dict)


def _page_ids(con, experiment_id: str, filter_string: str, order_by: list[str], offset: int, limit: int,
              name_search: str = ""):
    """(run ids of the page in order, number of matching runs); nothing but ids crosses over.
    ``name_search``: only runs whose name contains it, case aside."""
    expr = parse_filter(filter_string or "", "runs")
    order = parse_order_by([o for o in order_by if o.strip()] or None, "runs")
    joins = KeyJoins("r")
    where, params = ["r.lifecycle_stage = 'active'", "r.experiment_id = ?"], [experiment_id]
    if name_search:
        where.append("contains(lower(coalesce(r.run_name, '')), lower(?))")
        params.append(name_search)
    if expr is not None:
        sql, filter_params = compile_filter(expr, "r", "runs", source="joins", joins=joins)
        where.append(sql)
        params += filter_params
    terms, order_params = compile_order_by(order, "r", "runs", source="joins", joins=joins)
    terms += ["r.start_time DESC", "r.run_id"]
    join_sql, join_params = joins.sql()
    rows = con.execute(
        f"""SELECT r.run_id, count(*) OVER () AS total FROM {_RUNS} AS r {join_sql}
            WHERE {' AND '.join(where)} ORDER BY {', '.join(terms)} LIMIT ? OFFSET ?""",
        join_params + params + order_params + [limit, offset]).fetchall()
    if rows:
        return [r[0] for r in rows], rows[0][1]
    total = 0 if offset == 0 else con.execute(
        f"SELECT count(*) FROM {_RUNS} AS r {join_sql} WHERE {' AND '.join(where)}", join_params + params).fetchone()[0]
    return [], total


# Every key of an experiment, for the column chooser: the one read that grows with the number of runs
# (a third of a page's time at 10,000 runs), so it is reused for a few seconds.
_KEYS_TTL_SECONDS = 5.0
_keys_cache: dict[tuple[str, str], tuple[float, list]] = {}
_keys_lock = threading.Lock()


def _experiment_keys(con, store, exp_id: str) -> list[tuple[str, str]]:
    cache_key = (str(store.path), exp_id)
    now = time.monotonic()
    with _keys_lock:
        hit = _keys_cache.get(cache_key)
        if hit is not None and now - hit[0] < _KEYS_TTL_SECONDS:
            return hit[1]
    keys = con.execute("""
        WITH chosen AS (SELECT run_id FROM runs WHERE experiment_id = ? AND lifecycle_stage = 'active')
        SELECT DISTINCT 'params', key FROM params WHERE run_id IN (SELECT run_id FROM chosen)
        UNION SELECT DISTINCT 'metrics', key FROM latest_metrics WHERE run_id IN (SELECT run_id FROM chosen)
        UNION SELECT DISTINCT 'tags', key FROM tags WHERE run_id IN (SELECT run_id FROM chosen)
        ORDER BY 1, 2""", [exp_id]).fetchall()
    with _keys_lock:
        if len(_keys_cache) > 256:
            _keys_cache.clear()
        _keys_cache[cache_key] = (now, keys)
    return keys


def experiment_id(con, name: str) -> str:
    found = con.execute("SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
                        [name]).fetchone()
    if found is None:
        raise NotFoundError(f"experiment {name!r} does not exist")
    return found[0]


def _runs_by_id(con, ids: list[str], summaries: bool) -> dict[str, dict]:
    """The run list's rows of ``ids``, by id: attributes, params, tags, each metric's last value (and with
    ``summaries`` its min and max, from the ingest's per-(run, key) table)."""
    runs = con.execute("""
        WITH page AS (SELECT * FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS g(run_id, position)),
        children AS (SELECT parent_run_id, count(*) AS n FROM runs
                     WHERE parent_run_id IN (SELECT run_id FROM page) AND lifecycle_stage = 'active'
                     GROUP BY parent_run_id)
        SELECT g.run_id, r.run_name, r.status, r.start_time, r.end_time, r.parent_run_id, coalesce(c.n, 0)
        FROM page AS g JOIN runs AS r ON r.run_id = g.run_id
        LEFT JOIN children AS c ON c.parent_run_id = g.run_id ORDER BY g.position""", [ids]).fetchall()
    # the page's ids as a table: hash joins, where list_contains would compare every row with every id
    cells = con.execute("""
        WITH page AS (SELECT unnest(?::VARCHAR[]) AS run_id)
        SELECT 'params', run_id, key, value, NULL, NULL FROM params JOIN page USING (run_id)
        UNION ALL SELECT 'tags', run_id, key, value, NULL, NULL FROM tags JOIN page USING (run_id)
        UNION ALL SELECT 'metrics', l.run_id, l.key, l.value::VARCHAR, NULL, NULL
            FROM latest_metrics AS l JOIN page USING (run_id)""", [ids]).fetchall()
    if summaries:  # min and max only when a column shows them: one row per metric, kept by the ingest
        cells += con.execute("""
            SELECT 'summary', s.run_id, s.key, NULL, s.min, s.max FROM _duckml_metric_summary AS s
            JOIN (SELECT unnest(?::VARCHAR[]) AS run_id) USING (run_id)""", [ids]).fetchall()
    by_id = {}
    for run_id, name, status, start, end, parent, children in runs:
        by_id[run_id] = {"run_id": run_id, "run_name": name, "status": status, "start_time": start,
                         "end_time": end, "parent_run_id": parent, "children": children, "depth": 0,
                         "params": {}, "tags": {}, "metrics": {}}
    for entity, run_id, key, value, low, high in cells:
        if entity == "metrics":
            by_id[run_id]["metrics"].setdefault(key, {"min": None, "max": None})["last"] = (
                float(value) if value is not None else None)
        elif entity == "summary":
            by_id[run_id]["metrics"].setdefault(key, {"last": None}).update(min=low, max=high)
        elif not key.startswith("mlflow."):
            by_id[run_id][entity][key] = value
    return by_id


def run_page(store, experiment: str, filter_string: str = "", order_by: list[str] | None = None,
             page: int = 1, page_size: int = 50, summaries: bool = False, name_search: str = "") -> dict:
    """One page of an experiment's runs, with every param/tag and each metric's last value (and with
    ``summaries`` its min and max, from the ingest's per-(run, key) table: never a scan of ``metrics``).

    Only the page's runs are read in full, so a page of 10,000 runs costs about what one of 100 does.
    Children follow their parent when both are on the page (``depth`` 1).
    Raises FilterSyntaxError for a bad filter or order_by (the page shows it inline).
    """
    if page_size not in PAGE_SIZES:
        raise InvalidInputError(f"page_size must be one of {', '.join(map(str, PAGE_SIZES))}, got {page_size}")
    page = max(1, page)
    with store.read() as con:
        exp_id = experiment_id(con, experiment)
        ids, total = _page_ids(con, exp_id, filter_string, order_by or [], (page - 1) * page_size, page_size,
                               name_search)
        by_id = _runs_by_id(con, ids, summaries)
        keys = _experiment_keys(con, store, exp_id)
        token = _live_state(con, experiment_id=exp_id)["token"]
    ordered = []
    placed = set()
    for run_id in ids:  # a child follows its parent when the parent is on this page
        run = by_id[run_id]
        if run_id in placed or (run["parent_run_id"] in by_id and run["parent_run_id"] not in placed):
            continue
        ordered.append(run)
        placed.add(run_id)
        for child_id in ids:
            if by_id[child_id]["parent_run_id"] == run_id and child_id not in placed:
                by_id[child_id]["depth"] = 1
                ordered.append(by_id[child_id])
                placed.add(child_id)
    ordered += [by_id[i] for i in ids if i not in placed]
    grouped: dict[str, list[str]] = {"params": [], "metrics": [], "tags": []}
    for entity, key in keys:
        if not key.startswith("mlflow."):
            grouped[entity].append(key)
    return {"total": total, "runs": ordered, "keys": grouped, "experiment_id": exp_id, "token": token,
            "running": any(r["status"] == "RUNNING" for r in ordered)}


# -- live pages ------------------------------------------------------------------------------------------
def live_state(store, experiment: str | None = None, run_ids: list[str] | None = None,
               shown: list[str] | None = None) -> dict:
    """What a page's background poll compares, for an experiment's run list (or chart view), one run's
    page or the compare page's runs: ``token`` changes when a run is added, ends, is deleted or restored,
    renamed or retagged, or a running run gets new metric points; with ``shown`` (the chart view's runs)
    only the new points of those runs count. One short read of the runs, tags and per-(run, key)
    summaries (never ``metrics``).

    >>> import duckml, tempfile, os
    >>> store = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run(experiment_name="live") as run:
    ...     duckml.log_metric("loss", 1.0)
    >>> state = live_state(store, experiment="live"); state["runs"], state["running"]
    (1, 0)
    >>> with duckml.start_run(experiment_name="live") as run:
    ...     duckml.log_metric("loss", 1.0)
    ...     live_state(store, experiment="live")["running"]
    1
    >>> live_state(store, experiment="live")["token"] != state["token"]
    True
    >>> live_state(store, run_ids=[run.info.run_id])["runs"]
    1
    >>> _ = duckml.set_store(None)
    """
    with store.read() as con:
        if run_ids is not None:
            ids = list(dict.fromkeys(run_ids))
            known = {r[0] for r in con.execute("SELECT run_id FROM runs WHERE list_contains(?::VARCHAR[], run_id)",
                                                [ids]).fetchall()}
            missing = [i for i in ids if i not in known]
            if missing:
                raise NotFoundError(f"run {missing[0]!r} does not exist")
            return _live_state(con, run_ids=ids)
        return _live_state(con, experiment_id=experiment_id(con, experiment), shown=shown)


def _live_state(con, experiment_id: str | None = None, run_id: str | None = None,
                run_ids: list[str] | None = None, shown: list[str] | None = None) -> dict:
    """live_state's read inside a read the caller holds: pages embed the token they were rendered at.
    ``shown`` narrows the point counts to those runs (the chart view: a running run it does not show,
    filtered out, must not make it refetch every history at every poll)."""
    if run_id is not None:
        where, arguments = "run_id = ?", [run_id]
    elif run_ids is not None:
        where, arguments = "list_contains(?::VARCHAR[], run_id)", [run_ids]
    else:
        where, arguments = "experiment_id = ?", [experiment_id]
    counted = "" if shown is None else " AND list_contains(?::VARCHAR[], run_id)"
    runs, running, token = con.execute(f"""
        WITH r AS (SELECT run_id, run_name, status, end_time, lifecycle_stage FROM runs WHERE {where})
        SELECT count(*) FILTER (WHERE lifecycle_stage = 'active'),
               count(*) FILTER (WHERE lifecycle_stage = 'active' AND status = 'RUNNING'),
               concat_ws('.', count(*), bit_xor(hash(run_id, run_name, status, end_time, lifecycle_stage)),
                         (SELECT bit_xor(hash(run_id, key, value)) FROM tags
                          WHERE run_id IN (SELECT run_id FROM r)),
                         (SELECT sum(count) FROM _duckml_metric_summary
                          WHERE run_id IN (SELECT run_id FROM r WHERE status = 'RUNNING'{counted})))
        FROM r""", arguments + ([] if shown is None else [list(shown)])).fetchone()
    return {"token": token, "runs": runs, "running": running}


EXPORT_CHUNK = 500  # runs per read of a CSV export: each read is short, whatever the view's length


def run_rows(store, experiment: str, filter_string: str = "", order_by: list[str] | None = None,
             summaries: bool = False, name_search: str = ""):
    """Every run of a view (filter, name search, order; not only one page) as the run list's rows, in
    the view's order, read EXPORT_CHUNK runs at a time: for a streamed CSV. The view's ids are read
    first, in one read, so a run that starts meanwhile neither shifts nor repeats rows.

    >>> import duckml, tempfile, os
    >>> store = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> for lr in (0.1, 0.2, 0.3):
    ...     with duckml.start_run(experiment_name="e"):
    ...         _ = duckml.log_param("lr", lr)
    >>> [r["params"]["lr"] for r in run_rows(store, "e", "params.lr != '0.2'", ["params.lr ASC"])]
    ['0.1', '0.3']
    """
    with store.read() as con:
        exp_id = experiment_id(con, experiment)
        ids, _ = _page_ids(con, exp_id, filter_string, order_by or [], 0, 2**62, name_search)
    for start in range(0, len(ids), EXPORT_CHUNK):
        chunk = ids[start:start + EXPORT_CHUNK]
        with store.read() as con:
            by_id = _runs_by_id(con, chunk, summaries)
        yield from (by_id[run_id] for run_id in chunk if run_id in by_id)  # deleted meanwhile: left out


# -- one run ---------------------------------------------------------------------------------------------
def run_detail(store, run_id: str) -> dict:
    """Everything the run page shows; NotFoundError for an unknown id."""
    with store.read() as con:
        row = con.execute("""
            SELECT r.run_id, r.run_name, r.status, r.start_time, r.end_time, r.parent_run_id, r.lifecycle_stage,
                   e.name, (SELECT run_name FROM runs AS p WHERE p.run_id = r.parent_run_id)
            FROM runs AS r JOIN experiments AS e ON e.experiment_id = r.experiment_id WHERE r.run_id = ?""",
                          [run_id]).fetchone()
        if row is None:
            raise NotFoundError(f"run {run_id!r} does not exist")
        params = con.execute("SELECT key, value FROM params WHERE run_id = ? ORDER BY key", [run_id]).fetchall()
        tags = con.execute("SELECT key, value FROM tags WHERE run_id = ? ORDER BY key", [run_id]).fetchall()
        metrics = con.execute("""
            SELECT s.key, l.value, s.min, s.max, s.count, l.step
            -- the ingest's per-(run, key) summary (pending points merged in by the overlay), not a scan of
            -- the run's history: a 1M-point run cost its page that scan every refresh
            FROM _duckml_metric_summary AS s
            JOIN latest_metrics AS l ON l.run_id = s.run_id AND l.key = s.key
            WHERE s.run_id = ? ORDER BY s.key""", [run_id]).fetchall()
        datasets = con.execute("""
            SELECT d.name, d.digest, i.context, d.row_count, d.source, d.source_type, d.schema
            FROM run_inputs AS i JOIN datasets AS d ON d.dataset_id = i.dataset_id
            WHERE i.run_id = ? ORDER BY d.name, i.context""", [run_id]).fetchall()
        models = con.execute("""SELECT name, version, aliases, created_at FROM model_versions_overview
                                WHERE run_id = ? ORDER BY name, version""", [run_id]).fetchall()
        artifacts = con.execute("SELECT path, size, media_type FROM artifacts WHERE run_id = ? ORDER BY path",
                                [run_id]).fetchall()
        children = con.execute("""SELECT run_id, run_name, status FROM runs
                                  WHERE parent_run_id = ? AND lifecycle_stage = 'active'
                                  ORDER BY start_time""", [run_id]).fetchall()
        # only a running run's page polls: a finished one is not worth the token's read (three on a lake)
        token = _live_state(con, run_id=run_id)["token"] if row[2] == "RUNNING" else ""
    names = ("run_id", "run_name", "status", "start_time", "end_time", "parent_run_id", "lifecycle_stage",
             "experiment_name", "parent_run_name")
    return {
        **dict(zip(names, row)),
        "params": params, "tags": [t for t in tags if not t[0].startswith("mlflow.")],
        "description": dict(tags).get("mlflow.note.content"),  # MLflow's run description
        "metrics": [dict(zip(("key", "last", "min", "max", "count", "step"), m)) for m in metrics
                    if not m[0].startswith(SYSTEM_PREFIX)],
        "system_metrics": [dict(zip(("key", "last", "min", "max", "count", "step"), m)) for m in metrics
                           if m[0].startswith(SYSTEM_PREFIX)],
        "image_series": image_series(run_id, [a[0] for a in artifacts]),
        "tables": logged_tables(store, run_id, dict(tags).get("mlflow.loggedArtifacts")),
        "datasets": [dict(zip(("name", "digest", "context", "rows", "source", "source_type", "schema"), d))
                     for d in datasets],
        "models": [dict(zip(("name", "version", "aliases", "created_at"), m)) for m in models],
        "artifacts": [dict(zip(("path", "size", "media_type"), a)) for a in artifacts],
        "logged_models": [a[0].rpartition("/")[0] for a in artifacts if a[0].endswith("/duckml_model.json")],
        "children": [dict(zip(("run_id", "run_name", "status"), c)) for c in children],
        "token": token,
    }


def run_params(store, run_ids: list[str]) -> dict[str, dict]:
    """{run_id: {"name": run_name, "params": {key: value}}} for the hover of overlaid charts."""
    with store.read() as con:
        rows = con.execute("""SELECT r.run_id, r.run_name, p.key, p.value FROM runs AS r
                              LEFT JOIN params AS p ON p.run_id = r.run_id
                              WHERE list_contains(?::VARCHAR[], r.run_id) ORDER BY p.key""", [run_ids]).fetchall()
    result: dict[str, dict] = {}
    for run_id, name, key, value in rows:
        entry = result.setdefault(run_id, {"name": name or run_id[:8], "params": {}})
        if key is not None:
            entry["params"][key] = value
    return result


# -- metric series ---------------------------------------------------------------------------------------
def metric_series(store, run_id: str, key: str, points: int, step_from: int | None = None,
                  step_to: int | None = None) -> dict:
    """A history as at most ``points`` buckets (macro ``metric_buckets``): CONTRACT's JSON shape.

    >>> import duckml, tempfile, os
    >>> store = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run() as run:
    ...     duckml.log_metric_series("loss", [3.0, 1.0, 9.0, 2.0])
    >>> metric_series(store, run.info.run_id, "loss", 2)["max"]
    [3.0, 9.0]
    """
    if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= MAX_POINTS:
        raise InvalidInputError(f"points must be an integer from 2 to {MAX_POINTS}, got {points!r}")
    with store.read() as con:
        if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone() is None:
            raise NotFoundError(f"run {run_id!r} does not exist")
        table = con.execute("""SELECT step, epoch_ms(timestamp) AS timestamp, value, min, max, count
                               FROM metric_buckets([?], [?], ?, ?, ?) ORDER BY bucket""",
                            [run_id, key, points, step_from, step_to]).to_arrow_table()
        if table.num_rows == 0 and con.execute("SELECT 1 FROM latest_metrics WHERE run_id = ? AND key = ?",
                                               [run_id, key]).fetchone() is None:
            raise NotFoundError(f"run {run_id!r} has no metric {key!r}")
    columns = table.to_pydict()
    return {
        "step": columns["step"],
        "value": [finite(v) for v in columns["value"]],
        "min": [finite(v) for v in columns["min"]],
        "max": [finite(v) for v in columns["max"]],
        "timestamp": columns["timestamp"],
        "points": sum(columns["count"]),
    }


# -- compare ---------------------------------------------------------------------------------------------
def compare(store, run_ids: list[str]) -> dict:
    """Runs side by side: params and metrics rows (differing ones first), each run's metric keys with histories."""
    if not run_ids:
        raise InvalidInputError("choose at least one run to compare (?run=<id>&run=<id>)")
    ids = list(dict.fromkeys(run_ids))
    with store.read() as con:
        runs = con.execute("""SELECT g.run_id, r.run_name, r.status, e.name, r.start_time, r.end_time
                              FROM unnest(?::VARCHAR[])
                              WITH ORDINALITY AS g(run_id, position) JOIN runs AS r ON r.run_id = g.run_id
                              JOIN experiments AS e ON e.experiment_id = r.experiment_id
                              ORDER BY g.position""", [ids]).fetchall()
        found = {r[0] for r in runs}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(f"run {missing[0]!r} does not exist")
        cells = con.execute("SELECT kind, key, run_id, value FROM compare_runs(?::VARCHAR[])", [ids]).fetchall()
        tags = con.execute("""SELECT 'tag', key, run_id, value FROM tags WHERE list_contains(?::VARCHAR[], run_id)
                              AND NOT starts_with(key, 'mlflow.') ORDER BY key""", [ids]).fetchall()
        # points per run and key from the ingest's summary, not a scan of the histories: a live compare
        # page reads this at every new point of a running run
        counts = con.execute("""SELECT key, list(run_id), max(count) FROM _duckml_metric_summary
                                WHERE list_contains(?::VARCHAR[], run_id) GROUP BY key ORDER BY key""",
                             [ids]).fetchall()
        running = any(r[2] == "RUNNING" for r in runs)
        # the token the page's poll compares (only a page with a running run polls)
        token = _live_state(con, run_ids=ids)["token"] if running else ""
    rows: dict[tuple[str, str], dict] = {}
    # when each run started and how long it took, as rows like the others (seconds: a number to plot)
    for run_id, _, _, _, start, end in runs:
        rows.setdefault(("attribute", "start_time"), {"kind": "attribute", "key": "start_time", "values": {}})[
            "values"][run_id] = start.isoformat(sep=" ", timespec="seconds") if start else None
        rows.setdefault(("attribute", "duration_s"), {"kind": "attribute", "key": "duration_s", "values": {}})[
            "values"][run_id] = (end - start).total_seconds() if start and end else None
    for kind, key, run_id, value in [*cells, *tags]:
        rows.setdefault((kind, key), {"kind": kind, "key": key, "values": {}})["values"][run_id] = value
    table = []
    for (kind, key), row in rows.items():
        values = [row["values"].get(i) for i in ids]
        if kind == "metric":
            values = [None if v is None else finite(float(v)) for v in values]
        row["values"] = values
        row["differs"] = len(set(map(str, values))) > 1
        table.append(row)
    # differing params first, then equal params, then metrics, tags and start/duration the same way
    kinds = ("param", "metric", "tag", "attribute")
    table.sort(key=lambda r: (r["kind"] != "param", not r["differs"], kinds.index(r["kind"])))
    return {
        "runs": [dict(zip(("run_id", "run_name", "status", "experiment_name"), r[:4])) for r in runs],
        "rows": table,
        # metric key -> the runs that have it, for keys with a history (more than one point somewhere)
        "history_keys": {k: [i for i in ids if i in set(owners)] for k, owners, n in counts if n > 1},
        "running": running,
        "token": token,
    }


# -- registry --------------------------------------------------------------------------------------------
def model_page(store, name: str, as_of=None) -> dict:
    """A registered model's versions (with source-run metrics), aliases, alias history, and aliases as of a time."""
    with store.read() as con:
        model = con.execute("SELECT name, description, created_at FROM registered_models WHERE name = ?",
                            [name]).fetchone()
        if model is None:
            raise NotFoundError(f"registered model {name!r} does not exist")
        versions = con.execute("""
            SELECT v.version, v.aliases, v.run_id, r.run_name, v.source_uri, v.created_at,
                   map_keys(v.metrics), map_values(v.metrics), v.description
            FROM model_versions_overview AS v LEFT JOIN runs AS r ON r.run_id = v.run_id
            WHERE v.name = ? ORDER BY v.version DESC""", [name]).fetchall()
        history = con.execute("""SELECT alias, version, valid_from, valid_to, set_by FROM alias_history
                                 WHERE name = ? ORDER BY alias, valid_from""", [name]).fetchall()
        tags = con.execute("SELECT key, value FROM registered_model_tags WHERE name = ? ORDER BY key",
                           [name]).fetchall()
        at = []
        if as_of is not None:
            at = con.execute("""SELECT a.alias, x.version FROM (SELECT DISTINCT alias FROM alias_history
                                WHERE name = ?) AS a, alias_as_of(?, a.alias, ?) AS x ORDER BY a.alias""",
                             [name, name, as_of]).fetchall()
    metric_keys = sorted({k for v in versions for k in v[6]})
    return {
        "name": model[0], "description": model[1], "created_at": model[2], "tags": tags,
        "versions": [{"version": v, "aliases": a, "run_id": rid, "run_name": rn, "source_uri": src, "created_at": c,
                      "metrics": {k: finite(x) for k, x in zip(mk, mv)}, "description": d}
                     for v, a, rid, rn, src, c, mk, mv, d in versions],
        "metric_keys": metric_keys,
        "history": [dict(zip(("alias", "version", "valid_from", "valid_to", "set_by"), h)) for h in history],
        "as_of": at,
        "aliases": sorted({a for v in versions for a in v[1]}),
    }
