"""The metric_buckets macro (sql/macros/metric_buckets.sql) and get_metric_histories(mode="minmax")."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import duckml
from duckml.errors import InvalidInputError

BUCKETS_SQL = "SELECT bucket, step, value, min, max, count FROM metric_buckets([?], [?], ?, ?, ?) ORDER BY bucket"


def buckets(store, run_id, key, n, step_from=None, step_to=None):
    with store.read() as con:
        return con.execute(BUCKETS_SQL, [run_id, key, n, step_from, step_to]).fetchall()


def log_series(values, steps=None, key="loss"):
    with duckml.start_run() as run:
        duckml.log_metric_series(key, values, steps=steps)
    return run.info.run_id


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(length=st.integers(2, 5000), where=st.floats(0, 1, exclude_max=True), n=st.integers(2, 300),
       height=st.floats(1e-6, 1e12), negative=st.booleans())
def test_a_spike_anywhere_survives_bucketing(store, length, where, n, height, negative):
    rng = np.random.default_rng(length)
    values = rng.uniform(-1, 1, length)
    position = int(where * length)
    spike = (-1 if negative else 1) * (1 + height)
    values[position] = spike
    run_id = log_series(values)
    rows = buckets(store, run_id, "loss", n)
    assert len(rows) <= n
    assert sum(r[5] for r in rows) == length  # every point in exactly one bucket
    extreme = min(r[3] for r in rows) if negative else max(r[4] for r in rows)
    assert extreme == spike
    # and the bucket holding the spike's step reports it
    holder = [r for r in rows if r[1] >= position][0]
    assert (holder[3] if negative else holder[4]) == spike


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.integers(-10**15, 10**15), min_size=1, max_size=300, unique=True), n=st.integers(2, 50))
def test_buckets_cover_the_series_in_order(store, steps, n):
    steps = sorted(steps)
    values = [float(i % 7) for i in range(len(steps))]
    run_id = log_series(values, steps=steps)
    rows = buckets(store, run_id, "loss", n)
    assert len(rows) <= n
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    assert rows[-1][1] == steps[-1] and rows[-1][2] == values[-1]  # the last bucket ends on the last point
    assert min(r[3] for r in rows) == min(values) and max(r[4] for r in rows) == max(values)
    if len(steps) <= n:
        assert [r[1] for r in rows] == steps and [r[2] for r in rows] == values


def test_last_value_is_the_latest_point_of_each_bucket(store):
    run_id = log_series([5.0, 1.0, 9.0, 2.0, 7.0, 3.0])
    rows = buckets(store, run_id, "loss", 3)
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [(1, 1.0, 1.0, 5.0, 2), (3, 2.0, 2.0, 9.0, 2),
                                                               (5, 3.0, 3.0, 7.0, 2)]


def test_step_range_zooms(store):
    run_id = log_series(np.arange(1000, dtype=float))
    rows = buckets(store, run_id, "loss", 10, 100, 199)
    assert len(rows) == 10 and rows[0][3] == 100.0 and rows[-1][4] == 199.0 and sum(r[5] for r in rows) == 100
    assert buckets(store, run_id, "loss", 10, 2000, None) == []


def test_nan_is_kept_as_value_but_not_in_min_max(store):
    run_id = log_series([1.0, float("nan"), 3.0, float("inf")])
    rows = buckets(store, run_id, "loss", 2)
    assert rows[0][3:5] == (1.0, 1.0) and np.isnan(rows[0][2])
    assert rows[1][4] == float("inf")
    only_nan = log_series([float("nan")], key="n")
    assert buckets(store, only_nan, "n", 2)[0][3:5] == (None, None)


def test_every_key_and_many_runs_at_once(store):
    first = log_series(np.arange(100, dtype=float))
    second = log_series(np.arange(10, dtype=float))
    with store.read() as con:
        rows = con.execute("SELECT run_id, count(*) FROM metric_buckets([?, ?], NULL, 20, NULL, NULL) GROUP BY run_id",
                           [first, second]).fetchall()
    assert dict(rows) == {first: 20, second: 10}


def test_get_metric_histories_minmax_keeps_spikes(store):
    values = np.zeros(100_000)
    spikes = np.random.default_rng(1).choice(100_000, 10, replace=False)
    values[spikes] = 50.0
    run_id = log_series(values)
    even = duckml.get_metric_histories([run_id], max_points=500)
    assert (even["value"] == 50.0).sum() < 10  # the old mode drops most spikes
    minmax = duckml.get_metric_histories([run_id], max_points=500, mode="minmax")
    assert minmax.height <= 500
    assert set(minmax.columns) >= {"run_id", "key", "step", "timestamp", "value", "min", "max", "count"}
    assert (minmax["max"] == 50.0).sum() == len({int(s * 500 // 100_000) for s in spikes})
    assert minmax["count"].sum() == 100_000


def test_get_metric_histories_minmax_keeps_run_order_and_filters(store):
    a = log_series(np.arange(30, dtype=float))
    b = log_series(np.arange(30, dtype=float))
    frame = duckml.get_metric_histories([b, a], keys=["loss"], max_points=5, mode="minmax")
    assert frame["run_id"].to_list() == [b] * 5 + [a] * 5
    assert duckml.get_metric_histories([a], keys=["other"], max_points=5, mode="minmax").height == 0


def test_get_metric_histories_rejects_unknown_mode(store):
    with pytest.raises(InvalidInputError, match="mode"):
        duckml.get_metric_histories(max_points=5, mode="spiky")


def reference_buckets(steps, values, n):
    """What metric_buckets must answer, in plain Python with exact integers: buckets of equal step width
    over [first, last], each with its latest point (by step, then logging order) and its exact min and max."""
    points = sorted(zip(steps, range(len(steps)), values))
    first, last = points[0][0], points[-1][0]
    placed: dict[int, list] = {}
    for step, order, value in points:
        bucket = step if len(points) <= n else (step - first) * n // (last - first + 1)
        placed.setdefault(bucket, []).append((step, order, value))
    return [(group[-1][0], START_MS + group[-1][1], group[-1][2], min(v for *_, v in group),
             max(v for *_, v in group), len(group)) for _, group in sorted(placed.items())]


START_MS = 1_700_000_000_000


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.integers(-2**62, 2**62), min_size=1, max_size=200), n=st.integers(2, 40),
       data=st.data())
def test_buckets_equal_an_exact_reference(store, steps, n, data):
    # repeated steps (logged at the same step), ranges up to 2^63 (past BIGINT's (step - first) * n)
    values = data.draw(st.lists(st.floats(-1e6, 1e6), min_size=len(steps), max_size=len(steps)))
    with duckml.start_run() as run:
        for order, (step, value) in enumerate(zip(steps, values)):  # a later point has a later timestamp (ms)
            duckml.log_metric("loss", value, step=step, timestamp=START_MS + order)
    with store.read() as con:
        rows = con.execute("""SELECT step, epoch_ms(timestamp), value, min, max, count
                              FROM metric_buckets([?], ['loss'], ?, NULL, NULL) ORDER BY bucket""",
                           [run.info.run_id, n]).fetchall()
    assert rows == reference_buckets(steps, values, n)


def test_a_huge_step_range_is_bucketed_exactly(store):
    # (step - first) * buckets overflows a BIGINT here; a DOUBLE put step 0 of [-2^60, 2^60] in the last bucket
    steps, values = [0, 2**60, -2**60], [1.0, 2.0, 3.0]
    with duckml.start_run() as run:
        for order, (step, value) in enumerate(zip(steps, values)):
            duckml.log_metric("loss", value, step=step, timestamp=START_MS + order)
    with store.read() as con:
        rows = con.execute("""SELECT step, epoch_ms(timestamp), value, min, max, count
                              FROM metric_buckets([?], ['loss'], 2, NULL, NULL) ORDER BY bucket""",
                           [run.info.run_id]).fetchall()
    assert rows == reference_buckets(steps, values, 2)
