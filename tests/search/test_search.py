"""search_runs / search_experiments / compare_runs / get_metric_histories and the run_list, run_details and
compare_runs SQL, over a known set of runs (an in-memory database built from sql/) and end to end."""

from __future__ import annotations

import math
import re
from contextlib import contextmanager

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import duckml
from duckml.store import schema
from duckml.search import queries as search
from duckml.errors import FilterSyntaxError, InvalidInputError, NotFoundError
from duckml.search import And, Comparison, KeyJoins, Not, Or, compile_filter, render_filter

_FIXTURE = """
INSERT INTO experiments VALUES
    ('0', 'Default', 'active', TIMESTAMP '2023-12-01', TIMESTAMP '2023-12-01'),
    ('e2', 'exp2', 'active', TIMESTAMP '2023-12-02', TIMESTAMP '2023-12-02'),
    ('e3', 'gone', 'deleted', TIMESTAMP '2023-12-03', TIMESTAMP '2023-12-03');
INSERT INTO experiment_tags VALUES ('e2', 'team', 'nlp');
INSERT INTO runs VALUES
    ('r1', '0', 'alpha', 'FINISHED', TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-01 00:10:00', 'active', NULL),
    ('r2', '0', 'beta', 'FAILED', TIMESTAMP '2024-01-02', TIMESTAMP '2024-01-02 00:01:00', 'active', NULL),
    ('r3', '0', 'gamma', 'FINISHED', TIMESTAMP '2024-01-03', TIMESTAMP '2024-01-03 00:01:00', 'active', NULL),
    ('r4', '0', 'delta', 'RUNNING', TIMESTAMP '2024-01-04', NULL, 'active', 'r1'),
    ('r5', '0', 'removed', 'FINISHED', TIMESTAMP '2024-01-05', TIMESTAMP '2024-01-05 00:01:00', 'deleted', NULL),
    ('r6', 'e2', 'zeta', 'FINISHED', TIMESTAMP '2024-01-06', TIMESTAMP '2024-01-06 00:01:00', 'active', NULL),
    ('r7', 'e3', 'old', 'FINISHED', TIMESTAMP '2024-01-07', TIMESTAMP '2024-01-07 00:01:00', 'active', NULL);
INSERT INTO params VALUES
    ('r1', 'model', 'rf'), ('r1', 'lr', '0.1'), ('r2', 'model', 'RF'), ('r2', 'lr', '0.01'), ('r3', 'model', 'gb'),
    ('r5', 'model', 'rf'), ('r6', 'model', 'rf'), ('r6', 'lr', '0.2'), ('r7', 'model', 'rf');
INSERT INTO metrics VALUES
    ('r1', 'rmse', 0.5, 0, TIMESTAMP '2024-01-01'), ('r1', 'rmse', 0.3, 1, TIMESTAMP '2024-01-01'),
    ('r1', 'acc', 0.9, 0, TIMESTAMP '2024-01-01'), ('r2', 'rmse', 0.6, 0, TIMESTAMP '2024-01-02'),
    ('r3', 'rmse', 'nan'::DOUBLE, 0, TIMESTAMP '2024-01-03'), ('r6', 'rmse', 0.1, 0, TIMESTAMP '2024-01-06'),
    ('r7', 'rmse', 0.2, 0, TIMESTAMP '2024-01-07');
INSERT INTO tags VALUES
    ('r1', 'team', 'vision'), ('r1', 'with space', 'yes'), ('r2', 'team', 'nlp'), ('r3', 'with space', 'no');
INSERT INTO datasets VALUES
    ('d1', 'iris', 'abc123', 'iris.csv', 'local', NULL, 150, TIMESTAMP '2024-01-01'),
    ('d2', 'wine', 'def456', 'wine.csv', 'local', NULL, 178, TIMESTAMP '2024-01-01');
INSERT INTO run_inputs VALUES ('r1', 'd1', 'training', TIMESTAMP '2024-01-01'), ('r3', 'd2', 'eval', TIMESTAMP '2024-01-03');
-- what ingest maintains for a real store (migration 0002, duckml/ingest.py)
INSERT INTO _duckml_latest SELECT run_id, key, value, step, timestamp FROM metrics
QUALIFY row_number() OVER (PARTITION BY run_id, key ORDER BY step DESC, timestamp DESC, value DESC) = 1;
"""
ACTIVE = {"r1", "r2", "r3", "r4", "r6"}
JAN_3_MS = 1704240000000


def _database() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for migration in schema.migrations():
        con.execute(migration.sql)
    schema.create_definitions(con)
    con.execute(_FIXTURE)
    return con


_CON = _database()


@pytest.fixture
def known_runs(monkeypatch):
    """search.* read the fixture database instead of a store."""

    @contextmanager
    def reading():
        yield _CON

    monkeypatch.setattr(search, "_reading", reading)
    return _CON


def _ids(frame: pl.DataFrame) -> list[str]:
    return frame["run_id"].to_list()


@pytest.mark.parametrize("filter_string, expected", [
    ("", ACTIVE),
    ("params.model = 'rf'", {"r1", "r6"}),
    ("params.model = \"rf\"", {"r1", "r6"}),
    ("params.model LIKE 'rf'", {"r1", "r6"}),
    ("params.model ILIKE 'rf'", {"r1", "r2", "r6"}),
    ("params.model LIKE 'R%'", {"r2"}),
    ("params.model != 'rf'", {"r2", "r3"}),  # r4 has no model: a missing key never matches, as in MLflow
    ("params.lr != '0.1'", {"r2", "r6"}),
    ("NOT params.model = 'rf'", {"r2", "r3"}),
    ("params.model IN ('rf', 'gb')", {"r1", "r3", "r6"}),
    ("params.model NOT IN ('rf', 'gb')", {"r2"}),
    ("params.lr IS NULL", {"r3", "r4"}),
    ("params.lr IS NOT NULL", {"r1", "r2", "r6"}),
    ("params.lr < 0.05", {"r2"}),
    ("params.lr > 0.05", {"r1", "r6"}),
    ("params.model > 0", set()),  # not a number: never matches a number
    ("metrics.rmse < 0.5", {"r1", "r6"}),  # latest value 0.3, not the first 0.5
    ("metrics.rmse > 0.5", {"r2"}),  # NaN matches no ordering comparison
    ("metrics.rmse != 0.3", {"r2", "r3", "r6"}),  # ... but != (MLflow's rule)
    ("metrics.rmse = 0.3", {"r1"}),
    ("metrics.rmse IN (0.1, 0.6)", {"r2", "r6"}),
    ("metrics.rmse IS NULL", {"r4"}),
    ("metrics.acc >= 0.9 AND params.model = 'rf'", {"r1"}),
    ("attributes.status = 'FAILED'", {"r2"}),
    ("status != 'FAILED'", {"r1", "r3", "r4", "r6"}),
    ("attributes.status = 'failed'", set()),
    ("attributes.status ILIKE 'failed'", {"r2"}),
    ("attributes.run_id IN ('r1', 'r2', 'r5')", {"r1", "r2"}),
    ("attributes.run_name = 'alpha'", {"r1"}),
    ("tags.mlflow.runName = 'alpha'", {"r1"}),
    ("run_name ILIKE 'AL%'", {"r1"}),
    ("`Run Name` = 'beta'", {"r2"}),
    ("attributes.end_time IS NULL", {"r4"}),
    ("parent_run_id = 'r1'", {"r4"}),
    ("experiment_name = 'exp2'", {"r6"}),
    (f"attributes.start_time >= {JAN_3_MS}", {"r3", "r4", "r6"}),
    (f"created < {JAN_3_MS}", {"r1", "r2"}),
    ("tags.\"with space\" = 'yes'", {"r1"}),
    ("tags.`with space` = 'no'", {"r3"}),
    ("tags.team IN ('nlp')", {"r2"}),
    ("tags.team != 'nlp'", {"r1"}),
    ("datasets.name = 'iris'", {"r1"}),
    ("datasets.context = 'eval'", {"r3"}),
    ("datasets.digest LIKE 'def%'", {"r3"}),
    ("datasets.name IN ('iris', 'wine')", {"r1", "r3"}),
    ("datasets.name != 'iris'", {"r3"}),
    ("NOT datasets.name = 'iris'", {"r2", "r3", "r4", "r6"}),
    ("params.model = 'rf' OR metrics.rmse > 0.5", {"r1", "r2", "r6"}),
    ("params.model = 'rf' or METRICS.rmse > 0.5", {"r1", "r2", "r6"}),
    ("(params.model = 'gb' OR params.model = 'RF') AND status = 'FAILED'", {"r2"}),
    ("params.model = 'gb' OR params.model = 'RF' AND status = 'FAILED'", {"r2", "r3"}),
    ("NOT (params.model = 'rf' OR status = 'RUNNING')", {"r2", "r3"}),
])
def test_filter_table(known_runs, filter_string, expected):
    assert set(_ids(search.search_runs(filter_string=filter_string))) == expected


@pytest.mark.parametrize("run_view_type, expected", [
    ("ACTIVE_ONLY", ACTIVE),
    ("deleted_only", {"r5", "r7"}),  # a deleted run, and a run of a deleted experiment
    ("ALL", ACTIVE | {"r5", "r7"}),
    (3, ACTIVE | {"r5", "r7"}),
])
def test_run_view_type(known_runs, run_view_type, expected):
    assert set(_ids(search.search_runs(run_view_type=run_view_type))) == expected


@pytest.mark.parametrize("order_by, expected", [
    (None, ["r6", "r4", "r3", "r2", "r1"]),
    (["metrics.rmse ASC"], ["r6", "r1", "r2", "r3", "r4"]),  # values, then NaN, then missing
    (["metrics.rmse DESC"], ["r2", "r1", "r6", "r3", "r4"]),
    (["params.model DESC", "start_time ASC"], ["r1", "r6", "r3", "r2", "r4"]),
    (["params.lr"], ["r2", "r1", "r6", "r4", "r3"]),  # missing last, then newest first
    (["attributes.run_name"], ["r1", "r2", "r4", "r3", "r6"]),
    (["tags.mlflow.runName DESC"], ["r6", "r3", "r4", "r2", "r1"]),
    (["start_time"], ["r1", "r2", "r3", "r4", "r6"]),
])
def test_order_by(known_runs, order_by, expected):
    assert _ids(search.search_runs(order_by=order_by)) == expected


def test_columns_are_mlflows(known_runs):
    frame = search.search_runs(["Default"], order_by=["start_time"])
    assert frame.columns == ["run_id", "experiment_id", "status", "start_time", "end_time", "run_name",
                             "metrics.acc", "metrics.rmse", "params.lr", "params.model",
                             "tags.mlflow.runName", "tags.team", "tags.with space"]
    assert frame.schema["metrics.rmse"] == pl.Float64
    assert frame.schema["start_time"] == pl.Datetime("us", "UTC")
    first = frame.row(0, named=True)
    assert first["metrics.rmse"] == 0.3 and first["params.lr"] == "0.1" and first["tags.mlflow.runName"] == "alpha"
    assert math.isnan(frame.filter(pl.col("run_id") == "r3")["metrics.rmse"][0])


def test_experiments_and_limits(known_runs):
    assert set(_ids(search.search_runs(["exp2"]))) == {"r6"}
    assert set(_ids(search.search_runs("exp2"))) == {"r6"}
    assert set(_ids(search.search_runs(experiment_ids=["e2", "0"]))) == ACTIVE
    assert _ids(search.search_runs(max_results=2)) == ["r6", "r4"]
    assert search.search_runs(max_results=0).height == 0
    assert search.search_runs([]).columns[:6] == ["run_id", "experiment_id", "status", "start_time", "end_time",
                                                  "run_name"]
    with pytest.raises(NotFoundError, match="experiment 'nope' does not exist; existing: Default, exp2, gone"):
        search.search_runs(["Default", "nope"])
    with pytest.raises(NotFoundError, match="experiment id 'e9'"):
        search.search_runs(experiment_ids=["e9"])
    with pytest.raises(InvalidInputError, match="max_results"):
        search.search_runs(max_results=-1)
    with pytest.raises(InvalidInputError, match="run_view_type"):
        search.search_runs(run_view_type="SOME")
    with pytest.raises(FilterSyntaxError):
        search.search_runs(filter_string="metrics.rmse <")


def test_search_experiments(known_runs):
    assert search.search_experiments()["name"].to_list() == ["exp2", "Default"]
    assert search.search_experiments(view_type="ALL", order_by=["name"])["name"].to_list() == ["Default", "exp2",
                                                                                              "gone"]
    frame = search.search_experiments("tags.team = 'nlp'")
    assert frame["name"].to_list() == ["exp2"] and frame["tags.team"].to_list() == ["nlp"]
    assert search.search_experiments("name LIKE 'Def%' OR name = 'gone'", view_type="ALL")["name"].to_list() == [
        "gone", "Default"]
    assert search.search_experiments("creation_time > 1701400000000")["name"].to_list() == ["exp2"]
    with pytest.raises(FilterSyntaxError, match="unknown key type 'metrics'"):
        search.search_experiments("metrics.x > 1")


def test_compare_runs(known_runs):
    frame = search.compare_runs(["r2", "r1", "r3"])
    assert frame.columns == ["kind", "key", "beta", "alpha", "gamma", "differs"]
    assert frame.rows() == [
        ("param", "lr", "0.01", "0.1", None, True),
        ("param", "model", "RF", "rf", "gb", True),
        ("metric", "acc", None, "0.9", None, True),
        ("metric", "rmse", "0.6", "0.3", "nan", True),
    ]
    same = search.compare_runs(["r1", "r1"])
    assert same.columns == ["kind", "key", "alpha", "differs"] and not same["differs"].any()
    assert search.compare_runs(["r4"]).columns == ["kind", "key", "delta", "differs"]
    with pytest.raises(NotFoundError, match="no run with id 'nope'"):
        search.compare_runs(["r1", "nope"])
    with pytest.raises(InvalidInputError, match="at least one"):
        search.compare_runs([])


def test_compare_runs_column_names_are_unique():
    names = search._column_names([("aaaaaaaa1", "x"), ("bbbbbbbb2", "x"), ("cccccccc3", None), ("dddd", "key")])
    assert names == ["x (aaaaaaaa)", "x (bbbbbbbb)", "cccccccc", "key (dddd)"]
    assert len(set(search._column_names([("a", "z"), ("a", "z"), ("a", "z")]))) == 3


def test_compare_runs_sql_macro():
    rows = _CON.execute("SELECT kind, key, run_id, run_name, value FROM compare_runs(['r2', 'r1'])").fetchall()
    assert rows == [
        ("param", "lr", "r2", "beta", "0.01"), ("param", "lr", "r1", "alpha", "0.1"),
        ("param", "model", "r2", "beta", "RF"), ("param", "model", "r1", "alpha", "rf"),
        ("metric", "acc", "r2", "beta", None), ("metric", "acc", "r1", "alpha", "0.9"),
        ("metric", "rmse", "r2", "beta", "0.6"), ("metric", "rmse", "r1", "alpha", "0.3"),
    ]
    pivot = _CON.sql("PIVOT (FROM compare_runs(['r1', 'r2'])) ON run_id USING first(value) GROUP BY kind, key "
                     "ORDER BY kind, key").fetchall()
    assert pivot[0] == ("metric", "acc", "0.9", None)


def test_run_list_and_run_details_sql():
    assert [r[0] for r in _CON.execute("SELECT run_id FROM run_list").fetchall()] == ["r6", "r4", "r3", "r2", "r1"]
    assert _CON.execute("SELECT metrics['rmse'], params['model'], duration_seconds FROM run_list "
                        "WHERE run_id = 'r1'").fetchone() == (0.3, "rf", 600.0)
    details = _CON.execute("SELECT section, key, value, detail FROM run_details('r1')").fetchall()
    sections = [row[0] for row in details]
    assert sections == sorted(sections, key=["attribute", "param", "metric", "tag", "dataset", "artifact",
                                             "child"].index)
    assert ("metric", "rmse", "0.3", "step 1, min 0.3, max 0.5, 2 points") in details
    assert ("dataset", "iris", "abc123", "context training, 150 rows, source iris.csv") in details
    assert ("child", "r4", "delta", "RUNNING") in details
    assert ("attribute", "status", "FINISHED", None) in details
    assert _CON.execute("SELECT count(*) FROM run_details('r5')").fetchone() == (11,)  # deleted runs too
    assert _CON.execute("SELECT count(*) FROM run_details('nope')").fetchone() == (0,)


def test_metric_histories(known_runs):
    frame = search.get_metric_histories(["r2", "r1"])
    assert frame.columns == ["run_id", "key", "step", "timestamp", "value"]
    assert frame.select("run_id", "key", "step").rows() == [
        ("r2", "rmse", 0), ("r1", "acc", 0), ("r1", "rmse", 0), ("r1", "rmse", 1)]
    assert search.get_metric_histories(keys=["rmse"])["run_id"].unique().sort().to_list() == ["r1", "r2", "r3", "r6"]
    assert search.get_metric_histories(experiment_names=["exp2"])["run_id"].to_list() == ["r6"]
    assert search.get_metric_histories(["r1", "r6"], experiment_names=["exp2"])["run_id"].to_list() == ["r6"]
    assert search.get_metric_histories(["r5"]).height == 0  # deleted runs by id: no points logged, no error
    with pytest.raises(NotFoundError, match="no run with id 'zz'"):
        search.get_metric_histories(["zz"])
    with pytest.raises(NotFoundError, match="experiment 'nope' does not exist; existing: Default, exp2, gone"):
        search.get_metric_histories(experiment_names=["nope"])
    with pytest.raises(InvalidInputError, match="max_points"):
        search.get_metric_histories(max_points=1)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), m=st.integers(2, 50))
def test_downsampling_keeps_first_last_and_even_spacing(n, m):
    sql, params = search._downsample_clause(m)
    kept = [row[0] for row in duckdb.execute(
        f"SELECT i FROM (SELECT range AS i, {n} AS n FROM range({n})) WHERE {sql} ORDER BY i", params).fetchall()]
    assert len(kept) == min(n, m)
    assert kept[0] == 0 and kept[-1] == n - 1
    gaps = {b - a for a, b in zip(kept, kept[1:])}
    assert not gaps or max(gaps) - min(gaps) <= 1


# --- the compiled SQL agrees with a direct reading of MLflow's rules, on random filters -----------

_RUNS = {row[0]: row for row in _CON.execute(
    "SELECT run_id, run_name, status, experiment_id, experiment_name, parent_run_id, epoch_ms(start_time), "
    "epoch_ms(end_time), map_entries(params), map_entries(metrics), map_entries(tags) FROM runs_overview").fetchall()}
_INPUTS = _CON.execute("SELECT i.run_id, d.name, d.digest, i.context FROM run_inputs i JOIN datasets d "
                       "USING (dataset_id)").fetchall()
_ATTRS = ["run_id", "run_name", "status", "experiment_id", "experiment_name", "parent_run_id", "start_time",
          "end_time"]


def _like(value: str, pattern: str, fold: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    if fold:
        value, regex = value.lower(), regex.lower()
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _compare(lhs, op, value):
    if op in ("IN", "NOT IN"):
        return (lhs in value) == (op == "IN")
    if op in ("LIKE", "ILIKE"):
        return _like(lhs, value, op == "ILIKE")
    return {"=": lhs == value, "!=": lhs != value, "<": lhs < value, "<=": lhs <= value, ">": lhs > value,
            ">=": lhs >= value}[op]


def _reference(expr, run) -> bool | None:
    """Three-valued truth of a filter for one run, read off MLflow's rules (None: unknown)."""
    if isinstance(expr, Not):
        inner = _reference(expr.item, run)
        return None if inner is None else not inner
    if isinstance(expr, (And, Or)):
        values = [_reference(i, run) for i in expr.items]
        decisive = isinstance(expr, Or)
        if decisive in values:
            return decisive
        return None if None in values else not decisive
    entity, key, op, value = expr.entity, expr.key, expr.op, expr.value
    if entity == "dataset":
        column = {"name": 1, "digest": 2, "context": 3}[key]
        return any(_compare(row[column], op, value) for row in _INPUTS if row[0] == run[0])
    if entity == "attribute":
        lhs = run[_ATTRS.index(key)]
    else:
        entries = run[{"param": 8, "metric": 9, "tag": 10}[entity]] or []
        lhs = {e["key"]: e["value"] for e in entries}.get(key)
        if entity == "tag" and key == "mlflow.runName":
            lhs = run[1]
    if op in ("IS NULL", "IS NOT NULL"):
        return (lhs is None) == (op == "IS NULL")
    if lhs is None:
        return None
    numbers = value if isinstance(value, tuple) else (value,)
    if entity in ("param", "tag") and not isinstance(numbers[0], str):
        try:
            lhs = float(lhs)
        except ValueError:
            return None
    if isinstance(lhs, float) and math.isnan(lhs):
        return op in ("!=", "NOT IN")
    return _compare(lhs, op, value)


_known_keys = st.sampled_from(["model", "lr", "rmse", "acc", "team", "with space", "mlflow.runName", "missing"])
_known_strings = st.sampled_from(["rf", "RF", "r%", "%F", "_f", "gb", "0.1", "nlp", "yes", "alpha", "FAILED",
                                  "r1", "iris", "abc%", "eval", "Default", ""])
_known_numbers = st.sampled_from([0, 0.05, 0.1, 0.3, 0.5, 0.6, 0.9, 1, -1, JAN_3_MS, 1704067200000])


@st.composite
def _known_comparisons(draw):
    entity = draw(st.sampled_from(["metric", "param", "tag", "attribute", "dataset"]))
    key = draw(st.sampled_from(_ATTRS)) if entity == "attribute" else \
        draw(st.sampled_from(["name", "digest", "context"])) if entity == "dataset" else draw(_known_keys)
    numeric = entity == "metric" or key.endswith("_time") or (entity in ("param", "tag") and draw(st.booleans()))
    ops = ["=", "!=", "IN", "NOT IN"] + ([] if entity == "dataset" else ["<", ">=", "IS NULL", "IS NOT NULL"])
    ops += [] if numeric else ["LIKE", "ILIKE"]
    op = draw(st.sampled_from(ops))
    scalar = _known_numbers if numeric else _known_strings
    value = None if op.startswith("IS") else tuple(draw(st.lists(scalar, min_size=1, max_size=3))) \
        if op.endswith("IN") else draw(scalar)
    return Comparison(entity, key, op, value)


_known_filters = st.recursive(_known_comparisons(), lambda inner: st.one_of(
    inner.map(Not), st.lists(inner, min_size=2, max_size=3).map(lambda i: And(tuple(i))),
    st.lists(inner, min_size=2, max_size=3).map(lambda i: Or(tuple(i)))), max_leaves=6)


@settings(max_examples=80, deadline=None)
@given(_known_filters)
def test_sql_matches_the_reference_semantics(expr):
    expected = {run_id for run_id, run in _RUNS.items() if _reference(expr, run) is True}
    sql, params = compile_filter(expr)
    got = {row[0] for row in _CON.execute(f"SELECT run_id FROM runs_overview AS r WHERE {sql}", params).fetchall()}
    assert got == expected, render_filter(expr)
    joins = KeyJoins("r")
    sql, params = compile_filter(expr, source="joins", joins=joins)
    join_sql, join_params = joins.sql()
    got = {row[0] for row in _CON.execute(f"SELECT r.run_id FROM {search._RUNS} AS r {join_sql} WHERE {sql} AND "
                                          f"r.lifecycle_stage = 'active' AND r.experiment_lifecycle_stage = 'active'",
                                          join_params + params).fetchall()}
    assert got == expected, render_filter(expr)


# --- end to end, through the public API on a real store ----------------------------------------

def _log_runs():
    duckml.set_experiment("e2e")
    ids = {}
    for name, model, rmse in [("a", "rf", 0.4), ("b", "gb", 0.7), ("c", "rf", 0.2)]:
        with duckml.start_run(run_name=name) as run:
            duckml.log_param("model", model)
            for step in range(10):
                duckml.log_metric("rmse", rmse + step / 100, step=step)
        ids[name] = run.info.run_id
    with pytest.raises(RuntimeError):
        with duckml.start_run(run_name="broken") as run:
            duckml.log_param("model", "rf")
            raise RuntimeError("boom")
    ids["broken"] = run.info.run_id
    return ids


def test_end_to_end(store):
    ids = _log_runs()
    frame = duckml.search_runs(["e2e"], "params.model = 'rf' AND metrics.rmse < 0.5", order_by=["metrics.rmse"])
    assert frame["run_name"].to_list() == ["c", "a"]
    assert frame["metrics.rmse"].to_list() == pytest.approx([0.29, 0.49])
    assert duckml.search_runs(filter_string="attributes.status = 'FAILED'")["run_name"].to_list() == ["broken"]
    assert duckml.search_runs(filter_string="params.model = 'rf' OR run_name = 'b'").height == 4
    compared = duckml.compare_runs([ids["a"], ids["b"]])
    assert compared.columns == ["kind", "key", "a", "b", "differs"]
    assert compared.rows()[0] == ("param", "model", "rf", "gb", True)
    histories = duckml.get_metric_histories([ids["a"], ids["c"]], keys=["rmse"], max_points=4)
    assert histories.group_by("run_id").len()["len"].to_list() == [4, 4]
    assert histories["step"].to_list()[:4] == [0, 3, 6, 9]
    duckml.delete_run(ids["b"])
    assert "b" not in duckml.search_runs()["run_name"].to_list()
    assert duckml.search_runs(run_view_type="DELETED_ONLY")["run_name"].to_list() == ["b"]
    assert "e2e" in duckml.search_experiments()["name"].to_list()
    with pytest.raises(NotFoundError):
        duckml.search_runs(["nope"])
    with duckml.start_run(run_name="odd keys"):
        duckml.log_params({"run_id": "p", "key": "k"})
    odd = duckml.search_runs(filter_string="params.run_id = 'p'")
    assert odd["params.run_id"].to_list() == ["p"] and odd["run_id"].to_list() != ["p"]


def test_sql_objects_from_a_plain_duckdb_client(store):
    ids = _log_runs()
    duckml.flush()
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM run_list").fetchone() == (4,)
        assert con.execute("SELECT value FROM compare_runs([?]) WHERE key = 'model'", [ids["a"]]).fetchall() == [
            ("rf",)]
        assert ("attribute", "run_name", "a", None) in con.execute("FROM run_details(?)", [ids["a"]]).fetchall()
    finally:
        con.close()


_frozen_state = "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM params), (SELECT count(*) FROM metrics), " \
                "(SELECT string_agg(run_id || status || lifecycle_stage, ',' ORDER BY run_id) FROM runs)"


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=40) | st.sampled_from(["params.model = 'rf'; DROP TABLE runs", "x'); DELETE FROM runs; --",
                                                     "metrics.rmse < 1 OR 1=1"]))
def test_any_filter_leaves_the_store_unchanged(store, text):
    if not duckml.search_runs().height:
        _log_runs()
    with store.read() as con:
        before = con.execute(_frozen_state).fetchone()
    try:
        duckml.search_runs(filter_string=text)
    except FilterSyntaxError:
        pass
    with store.read() as con:
        assert con.execute(_frozen_state).fetchone() == before
