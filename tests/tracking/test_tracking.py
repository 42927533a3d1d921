"""The fluent tracking API: values round-trip exactly, params are immutable, runs end as MLflow's do."""

from __future__ import annotations

import math
import threading
from datetime import datetime, timezone

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import duckml
from duckml.tracking import runs as tracking
from tiers import slow_case

KEYS = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40).filter(
    lambda k: k.strip())


def _own(tags: dict) -> dict:
    """A run's tags without the mlflow.* context tags every run carries."""
    return {k: v for k, v in tags.items() if not k.startswith("mlflow.")}


def test_log_and_read_back(store):
    duckml.set_experiment("exp")
    with duckml.start_run(run_name="first") as run:
        duckml.log_param("model", "rf")
        duckml.log_params({"depth": 3, "lr": 0.1})
        duckml.log_metric("rmse", 0.5)
        duckml.log_metric("rmse", 0.25, step=1)
        duckml.set_tag("team", "sales")
    got = duckml.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "first"
    assert got.info.end_time is not None
    assert got.data.params == {"model": "rf", "depth": "3", "lr": "0.1"}
    assert got.data.metrics == {"rmse": 0.25}
    assert _own(got.data.tags) == {"team": "sales"}
    history = duckml.get_metric_history(run.run_id, "rmse")
    assert history.columns == ["step", "timestamp", "value"]
    assert history["value"].to_list() == [0.5, 0.25] and history["step"].to_list() == [0, 1]


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=KEYS, values=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=5),
       steps=st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=5, max_size=5),
       param=st.text(max_size=50))
def test_values_round_trip(store, key, values, steps, param):
    with duckml.start_run() as run:
        for value, step in zip(values, steps):
            duckml.log_metric(key, value, step=step)
        duckml.log_param(key, param)
    history = duckml.get_metric_history(run.run_id, key).sort(["step", "timestamp"])
    expected = sorted(zip(steps, values), key=lambda p: p[0])
    got = list(zip(history["step"].to_list(), history["value"].to_list()))
    assert len(got) == len(expected)
    for (step_a, a), (step_b, b) in zip(sorted(got, key=lambda p: p[0]), expected):
        assert step_a == step_b
        assert (math.isnan(a) and math.isnan(b)) or a == b
    assert duckml.get_run(run.run_id).data.params == {key: param}


def test_nan_and_inf_reach_the_file_as_is(store):
    with duckml.start_run() as run:
        duckml.log_metrics({"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf")})
    duckml.flush()
    con = duckdb.connect(str(store.path), read_only=True)
    rows = dict(con.execute("SELECT key, value FROM metrics WHERE run_id = ?", [run.run_id]).fetchall())
    con.close()
    assert math.isnan(rows["nan"]) and rows["inf"] == math.inf and rows["ninf"] == -math.inf


def test_timestamps_ms_and_datetime(store):
    with duckml.start_run() as run:
        duckml.log_metric("a", 1.0, timestamp=1_700_000_000_123)
        duckml.log_metric("b", 1.0, timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    a = duckml.get_metric_history(run.run_id, "a")["timestamp"][0]
    b = duckml.get_metric_history(run.run_id, "b")["timestamp"][0]
    assert a == datetime(2023, 11, 14, 22, 13, 20, 123000)
    assert b == datetime(2026, 1, 2, 3, 4, 5)


def test_params_are_immutable(store):
    with duckml.start_run() as run:
        duckml.log_param("lr", 0.1)
        duckml.log_param("lr", 0.1)  # the same value is fine
        with pytest.raises(duckml.ParamConflictError, match="'lr'.*already '0.1'"):
            duckml.log_param("lr", 0.2)
        with pytest.raises(ValueError):  # the whole batch is refused: 'new' is not written either
            duckml.log_params({"new": 1, "lr": 0.3})
    assert duckml.get_run(run.run_id).data.params == {"lr": "0.1"}


def test_immutability_holds_after_resume_in_a_fresh_cache(store):
    with duckml.start_run() as run:
        duckml.log_param("lr", 0.1)
    duckml.tracking.runs.forget_cached_runs()
    with duckml.start_run(run_id=run.run_id):
        with pytest.raises(duckml.ParamConflictError):
            duckml.log_param("lr", 0.5)
        duckml.log_metric("after_resume", 1.0)
    got = duckml.get_run(run.run_id)
    assert got.info.status == "FINISHED" and "after_resume" in got.data.metrics


def test_exception_marks_run_failed(store):
    with pytest.raises(RuntimeError):
        with duckml.start_run() as run:
            raise RuntimeError("boom")
    assert duckml.get_run(run.run_id).info.status == "FAILED"
    assert duckml.active_run() is None


def test_nested_runs_record_their_parent(store):
    with duckml.start_run(run_name="parent") as parent:
        with duckml.start_run(run_name="child", nested=True) as child:
            assert duckml.active_run().run_id == child.run_id
        assert duckml.active_run().run_id == parent.run_id
        with pytest.raises(duckml.RunStateError, match="nested=True"):
            duckml.start_run()
    assert duckml.get_run(child.run_id).info.parent_run_id == parent.run_id
    frame = duckml.connect().sql("SELECT run_name, parent_run_id FROM runs_overview ORDER BY run_name").pl()
    assert frame.to_dicts() == [{"run_name": "child", "parent_run_id": parent.run_id},
                                {"run_name": "parent", "parent_run_id": None}]


def test_bare_log_starts_a_run_in_default(store):
    duckml.log_metric("x", 1.0)
    run = duckml.active_run()
    assert run is not None
    duckml.end_run()
    assert duckml.last_active_run().info.run_id == run.run_id
    assert duckml.get_run(run.run_id).info.experiment_id == "0"
    assert duckml.get_experiment_by_name("Default").experiment_id == "0"


def test_soft_delete_and_restore(store):
    duckml.set_experiment("keep")
    with duckml.start_run(run_name="a") as a:
        pass
    with duckml.start_run(run_name="b"):
        pass
    duckml.delete_run(a.run_id)
    names = duckml.connect().sql("SELECT run_name FROM runs_overview ORDER BY 1").fetchall()
    assert names == [("b",)]
    assert duckml.get_run(a.run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(duckml.RunStateError, match="deleted"):
        duckml.log_metric("x", 1.0, run_id=a.run_id)
    duckml.restore_run(a.run_id)
    assert duckml.connect().sql("SELECT count(*) FROM runs_overview").fetchone() == (2,)
    duckml.delete_experiment("keep")
    assert duckml.connect().sql("SELECT count(*) FROM runs_overview").fetchone() == (0,)
    with pytest.raises(duckml.RunStateError, match="deleted"):
        duckml.set_experiment("keep")
    duckml.restore_experiment("keep")
    assert duckml.connect().sql("SELECT count(*) FROM runs_overview").fetchone() == (2,)


def test_tags_set_overwrite_delete(store):
    with duckml.start_run() as run:
        duckml.set_tags({"a": 1, "b": "x"})
        duckml.set_tag("a", "2")
        duckml.delete_tag("b")
        with pytest.raises(duckml.NotFoundError):
            duckml.delete_tag("never")
    assert _own(duckml.get_run(run.run_id).data.tags) == {"a": "2"}


# The inner loop keeps one case per behaviour (a bad key, value, step, timestamp of a metric; a param, a tag,
# a batch; each kind of unknown thing); the full suite runs the matrix (the other spellings of a bad key or
# value, and one more unknown-run read)
@pytest.mark.parametrize("call, error", [
    (lambda: duckml.log_metric("", 1.0), ValueError),
    slow_case((lambda: duckml.log_metric("   ", 1.0), ValueError), single=False),
    slow_case((lambda: duckml.log_metric(3, 1.0), ValueError), single=False),
    (lambda: duckml.log_metric("k", "1.0"), ValueError),
    slow_case((lambda: duckml.log_metric("k", None), ValueError), single=False),
    (lambda: duckml.log_metric("k", 1.0, step=1.5), ValueError),
    (lambda: duckml.log_metric("k", 1.0, timestamp="yesterday"), ValueError),
    (lambda: duckml.log_param(None, 1), ValueError),
    slow_case((lambda: duckml.log_param("a\x00b", 1), ValueError), single=False),
    (lambda: duckml.set_tag("", "v"), ValueError),
    (lambda: duckml.log_metrics({"ok": 1.0, "bad": "x"}), ValueError),
    (lambda: duckml.log_metric("k", 1.0, run_id="no-such-run"), LookupError),
    (lambda: duckml.get_run("no-such-run"), LookupError),
    slow_case((lambda: duckml.get_metric_history("no-such-run", "k"), LookupError), single=False),
    (lambda: duckml.start_run(run_id="no-such-run", nested=True), LookupError),
    (lambda: duckml.delete_experiment("no-such-experiment"), LookupError),
])
def test_bad_input_is_refused_and_store_intact(store, call, error):
    with duckml.start_run(run_name="kept") as run:
        duckml.log_metric("good", 1.0)
        with pytest.raises(error) as raised:
            call()
        assert isinstance(raised.value, duckml.DuckmlError)
    got = duckml.get_run(run.run_id)
    assert got.data.metrics == {"good": 1.0} and got.data.params == {}


def test_two_threads_log_to_their_own_runs(store):
    errors = []

    def work(name):
        try:
            with duckml.start_run(run_name=name):
                for i in range(500):
                    duckml.log_metric("m", float(i), step=i)
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    counts = duckml.connect().sql("SELECT r.run_name, count(*) FROM metrics m JOIN runs r USING (run_id) "
                                  "GROUP BY ALL ORDER BY 1").fetchall()
    assert counts == [("t0", 500), ("t1", 500)]


def test_log_metric_series_bulk(store):
    import numpy as np

    with duckml.start_run() as run:
        duckml.log_metric_series("loss", np.arange(10_000, dtype=float), steps=np.arange(10_000) * 2)
    history = duckml.get_metric_history(run.run_id, "loss")
    assert history.height == 10_000 and history["step"][-1] == 19_998 and history["value"][-1] == 9_999.0


def test_metric_history_of_an_unknown_run_is_not_found(store):
    with pytest.raises(duckml.NotFoundError, match="no run with id 'nope'"):
        duckml.get_metric_history("nope", "loss")
    with pytest.raises(duckml.InvalidInputError, match="run_id"):
        duckml.get_metric_history("", "loss")
    with duckml.start_run() as run:
        pass
    tracking.forget_cached_runs()  # a run this process never logged to: found in the file
    assert duckml.get_metric_history(run.info.run_id, "loss").height == 0


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 5),
                                   st.floats(allow_nan=False, width=32)), min_size=1, max_size=6),
                min_size=1, max_size=4))
def test_latest_metric_stays_one_row_per_key_across_ingests(store, batches):
    """Each batch is ingested on its own; the latest value is MLflow's rule over every point logged."""
    run = duckml.start_run()
    expected: dict[str, tuple[int, int, float]] = {}
    for batch in batches:
        for key, step, value in batch:
            duckml.log_metric(key, value, step=step)
        duckml.flush()
    duckml.end_run()
    points = duckml.connect().sql(
        "SELECT key, step, timestamp, value FROM metrics WHERE run_id = ?", [run.info.run_id]).fetchall()
    for key, step, stamp, value in points:  # MLflow: highest step, then latest timestamp, then largest value
        if key not in expected or (step, stamp, value) > expected[key]:
            expected[key] = (step, stamp, value)
    rows = duckml.connect().sql("SELECT key, value FROM _duckml_latest WHERE run_id = ?", [run.info.run_id]).fetchall()
    assert sorted(rows) == sorted((k, v[2]) for k, v in expected.items())
    assert duckml.get_run(run.info.run_id).data.metrics == {k: v[2] for k, v in expected.items()}


def test_every_run_carries_mlflows_context_tags(store, monkeypatch):
    """MLflow's start_run sets mlflow.user, mlflow.source.name/type on every run, and mlflow.parentRunId on a
    child; a caller's own tags win."""
    import getpass
    import sys

    monkeypatch.setattr(sys, "argv", ["train.py", "--fast"])
    with duckml.start_run() as parent:
        with duckml.start_run(nested=True, tags={"mlflow.source.type": "JOB"}) as child:
            pass
    parent_tags = duckml.get_run(parent.run_id).data.tags
    assert parent_tags == {"mlflow.user": getpass.getuser(), "mlflow.source.name": "train.py",
                           "mlflow.source.type": "LOCAL"}
    child_tags = duckml.get_run(child.run_id).data.tags
    assert child_tags["mlflow.source.type"] == "JOB" and child_tags["mlflow.parentRunId"] == parent.run_id
    monkeypatch.setattr(sys, "argv", [])
    with duckml.start_run() as console:
        pass
    assert duckml.get_run(console.run_id).data.tags["mlflow.source.name"] == "<console>"


def test_start_run_with_parent_run_id_makes_a_child_of_a_run_not_active(store):
    with duckml.start_run() as parent:
        pass
    with duckml.start_run(parent_run_id=parent.run_id) as child:  # MLflow's way to attach to an ended run
        with pytest.raises(duckml.RunStateError, match="parent_run_id"):
            duckml.start_run(parent_run_id=parent.run_id, nested=True)  # the active run is not that parent
        with duckml.start_run(parent_run_id=child.run_id) as grandchild:  # = the active run: nested
            pass
    assert duckml.get_run(child.run_id).info.parent_run_id == parent.run_id
    assert duckml.get_run(grandchild.run_id).info.parent_run_id == child.run_id
    assert duckml.get_run(child.run_id).data.tags["mlflow.parentRunId"] == parent.run_id
