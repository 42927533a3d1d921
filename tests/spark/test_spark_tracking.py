"""Runs logged on Spark executors (a per-partition hyperparameter search in mapInPandas) land in the
driver's store as child runs of the driver's run: on a DuckDB file and on a DuckLake catalog."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

import duckml
import duckml.spark

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lake"))
from pgcluster import PgCluster  # noqa: E402

from duckml.store.lake_extensions import lake_extensions_available  # noqa: E402

ALPHAS = [0.01, 0.1, 1.0, 10.0]

pytestmark = pytest.mark.slow  # a Spark local-cluster: separate JVMs and Python workers


def _search(spark, context) -> list:
    """One Ridge per partition, each partition its own alpha, logged from the executor that fits it."""
    def fit_partition(frames):
        import numpy as np
        import pandas as pd
        from sklearn.linear_model import Ridge

        import duckml as executor_duckml

        for frame in frames:
            if frame.empty:
                continue
            alpha = float(frame["alpha"].iloc[0])
            rng = np.random.default_rng(0)
            X = rng.normal(size=(200, 3))
            y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=200) * 0.1
            with context.start_run(run_name=f"alpha={alpha}") as run:
                executor_duckml.log_param("alpha", alpha)
                model = Ridge(alpha=alpha).fit(X, y)
                executor_duckml.log_metric("r2", float(model.score(X, y)))
            yield pd.DataFrame({"alpha": [alpha], "run_id": [run.info.run_id]})

    grid = spark.createDataFrame([(a,) for a in ALPHAS], "alpha double").repartition(len(ALPHAS), "alpha")
    return grid.mapInPandas(fit_partition, "alpha double, run_id string").collect()


def _check_children(parent_id: str, rows: list) -> None:
    duckml.flush()
    children = duckml.connect().sql(
        "SELECT run_id, run_name, status, params['alpha'], metrics['r2'] FROM runs_overview "
        "WHERE parent_run_id = ? ORDER BY run_name", [parent_id]).fetchall()
    assert sorted(r.run_id for r in rows) == sorted(c[0] for c in children)
    assert [c[1] for c in children] == sorted(f"alpha={a}" for a in ALPHAS)
    assert all(c[2] == "FINISHED" and c[4] > 0.9 for c in children), children


def test_executor_runs_are_children_of_the_driver_run_in_a_file_store(spark):
    duckml.set_experiment("spark-search")
    with duckml.start_run(run_name="search") as parent:
        rows = _search(spark, duckml.spark.run_context())
    _check_children(parent.info.run_id, rows)
    experiment = duckml.connect().sql("SELECT DISTINCT experiment_name FROM runs_overview").fetchall()
    assert experiment == [("spark-search",)]


def test_executor_runs_land_in_the_team_lake(spark, tmp_path, monkeypatch):
    if not lake_extensions_available():
        pytest.skip('the ducklake/postgres extension wheels are not installed: pip install "duckml[lake]"')
    cluster = PgCluster.from_environment()
    if cluster is None:
        pytest.skip("no PostgreSQL for the lake test: DUCKML_TEST_PG is unset (run .ci/postgres-start)")
    spec = "ducklake:postgres:" + cluster.create_database("s" + uuid.uuid4().hex[:12])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "driver-cache"))
    duckml.reset_state(flush=False)
    duckml.set_store(spec, data_path=tmp_path / "shared")
    try:
        with duckml.start_run(run_name="search") as parent:
            context = duckml.spark.run_context()
            assert context.store == spec and context.data_path == str(tmp_path / "shared")
            rows = _search(spark, context)
        _check_children(parent.info.run_id, rows)
    finally:
        duckml.set_store(None)
