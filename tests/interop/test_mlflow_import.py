"""import-mlflow on small hand-built MLflow stores (SQLite and mlruns/): content, idempotence, conflicts, models."""

from __future__ import annotations

import math
import sys

import pytest

import duckml
from duckml.interop.mlflow_import import import_mlflow
from duckml.interop.mlflow_sources import local_path, read_tracking_uri

from .mlflow_fixtures import (
    DATASET, POINTS, RUN_CHILD, RUN_FAILED, RUN_PARENT, T0, X, build_file_store, build_sqlite_store, fitted_model,
)


@pytest.fixture(params=["sqlite", "mlruns"])
def mlflow_uri(request, tmp_path):
    if request.param == "sqlite":
        return build_sqlite_store(tmp_path / "mlflow")
    return str(build_file_store(tmp_path / "mlflow"))


# The inner loop keeps one case per behaviour; the full suite runs the matrix: each check below runs on
# both MLflow sources in the full suite, and on one of them (in turn) in the inner loop; the first check
# reads both there, so each source's reader stays in the inner loop
def _on_sources(fast: str):
    return pytest.mark.parametrize("mlflow_uri", [
        source if source == fast else pytest.param(source, marks=pytest.mark.slow)
        for source in ("sqlite", "mlruns")], indirect=True)


def _counts(store) -> dict[str, int]:
    tables = ["experiments", "experiment_tags", "runs", "params", "tags", "metrics", "_duckml_latest", "artifacts",
              "datasets", "run_inputs", "registered_models", "model_versions", "model_aliases",
              "model_version_tags", "registered_model_tags"]
    with store.read() as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def _us(ms: int) -> int:
    return ms * 1000


def test_runs_params_tags_and_times_come_across(mlflow_uri):
    report = import_mlflow(mlflow_uri)
    assert sorted(report.runs_imported) == sorted([RUN_PARENT, RUN_CHILD, RUN_FAILED])
    parent, child, failed = (duckml.get_run(r) for r in (RUN_PARENT, RUN_CHILD, RUN_FAILED))
    assert (parent.info.run_name, parent.info.status) == ("lr-0", "FINISHED")
    assert (failed.info.run_name, failed.info.status) == ("arima", "FAILED")
    assert child.info.parent_run_id == RUN_PARENT and child.data.tags["mlflow.parentRunId"] == RUN_PARENT
    assert parent.data.params == {"C": "0.1", "model": "lr"}
    assert parent.data.tags == {"stage": "dev", "with space": "yes"}
    from duckml.interop.merge import to_us

    assert to_us(parent.info.start_time) == _us(T0) and to_us(parent.info.end_time) == _us(T0 + 100)
    assert duckml.get_experiment_by_name("churn") is not None
    with duckml.get_store().read() as con:
        assert con.execute("SELECT key, value FROM experiment_tags t JOIN experiments e USING (experiment_id) "
                           "WHERE e.name = 'churn' ORDER BY key").fetchall() == [
            ("mlflow.source_experiment_id", "1"), ("team", "growth")]
    found = duckml.search_runs(experiment_names=["churn"], filter_string="params.C = '0.1' and tags.stage = 'dev'")
    assert found["run_id"].to_list() == [RUN_PARENT]


def _as_read_back(uri: str, value: float) -> float:
    # MLflow's SQL store clamps ±inf to ±DBL_MAX and its client reads back ±DBL_MAX; its file store keeps ±inf
    return max(min(value, sys.float_info.max), -sys.float_info.max) if uri.startswith("sqlite") else value


@_on_sources("sqlite")  # where ±inf is stored as ±DBL_MAX
def test_every_metric_point_is_exact(mlflow_uri):
    import_mlflow(mlflow_uri)
    for run_id in (RUN_PARENT, RUN_CHILD, RUN_FAILED):
        for key in {p[1] for p in POINTS if p[0] == run_id}:
            expected = sorted((step, _us(stamp), _as_read_back(mlflow_uri, value))
                              for r, k, value, stamp, step in POINTS if r == run_id and k == key)
            history = duckml.get_metric_history(run_id, key)
            from duckml.interop.merge import to_us

            got = sorted(zip(history["step"].to_list(), [to_us(t) for t in history["timestamp"].to_list()],
                             history["value"].to_list()))
            assert len(got) == len(expected)
            for (s1, t1, v1), (s2, t2, v2) in zip(got, expected):
                assert (s1, t1) == (s2, t2)
                assert (math.isnan(v1) and math.isnan(v2)) or v1 == v2
    # the latest point per metric: highest step, then latest time
    assert duckml.get_run(RUN_PARENT).data.metrics["loss"] == 0.1
    assert duckml.get_run(RUN_PARENT).data.metrics["odd"] == _as_read_back(mlflow_uri, float("-inf"))


@_on_sources("sqlite")
def test_artifacts_and_datasets_come_across(mlflow_uri, tmp_path):
    import_mlflow(mlflow_uri)
    files = {f.path for f in duckml.list_artifacts(RUN_PARENT, "docs")}
    assert files == {"docs/notes.txt"}
    out = duckml.download_artifacts(RUN_PARENT, "docs/notes.txt", tmp_path / "out")
    assert open(out).read() == f"notes of {RUN_PARENT}\n"
    inputs = duckml.get_run_inputs(RUN_PARENT)
    assert inputs["dataset_id"].to_list() == [DATASET]
    assert inputs["name"].to_list() == ["train"] and inputs["row_count"].to_list() == [12]
    assert inputs["context"].to_list() == ["training"]


@_on_sources("mlruns")
def test_registry_versions_aliases_and_tags_keep_their_numbers(mlflow_uri):
    import_mlflow(mlflow_uri)
    v1 = duckml.get_model_version("churn-model", 1)
    assert v1.run_id == RUN_PARENT and v1.source_uri == f"runs:/{RUN_PARENT}/model"
    assert v1.tags.pop("mlflow.source_version_source").endswith(f"{RUN_PARENT}/artifacts/model")
    assert v1.tags == {"validated": "yes"} and v1.aliases == ("champion",)
    assert duckml.get_model_version("churn-model", 2).source_uri == f"runs:/{RUN_PARENT}/skops_model"
    models = duckml.search_registered_models()
    assert models["description"].to_list() == ["predicts churn"]
    assert models["tags"].to_list() == [{"owner": "growth"}]


@_on_sources("sqlite")
def test_reimport_adds_nothing(mlflow_uri):
    store = duckml.get_store()
    import_mlflow(mlflow_uri)
    before = _counts(store)
    again = import_mlflow(mlflow_uri)
    assert again.runs_imported == [] and len(again.runs_skipped) == 3 and again.conflicts == []
    assert again.versions_imported == [] and again.aliases_set == []
    assert _counts(store) == before


@_on_sources("mlruns")
def test_a_changed_run_is_reported_not_overwritten(mlflow_uri):
    import_mlflow(mlflow_uri)
    duckml.set_tag("reviewed", "yes", run_id=RUN_CHILD)
    duckml.flush()
    report = import_mlflow(mlflow_uri)
    assert report.conflicts == [RUN_CHILD]
    assert duckml.get_run(RUN_CHILD).data.tags["reviewed"] == "yes"


@_on_sources("sqlite")
def test_skops_models_load_and_pickles_do_not_until_trusted(mlflow_uri):
    report = import_mlflow(mlflow_uri)
    assert report.models_untrusted == [f"runs:/{RUN_PARENT}/model"]
    assert report.models_loadable == [f"runs:/{RUN_PARENT}/skops_model"]
    loaded = duckml.load_model("models:/churn-model/2")
    assert (loaded.predict(X) == fitted_model(10.0).predict(X)).all()
    with pytest.raises(duckml.UntrustedModelError, match="--trust-pickled-models"):
        duckml.load_model("models:/churn-model@champion")


@pytest.mark.slow
def test_trusted_pickles_are_resaved_safely(mlflow_uri):
    import_mlflow(mlflow_uri)
    report = import_mlflow(mlflow_uri, trust_pickled_models=True)
    assert report.models_loadable == [f"runs:/{RUN_PARENT}/model"]
    loaded = duckml.load_model("models:/churn-model@champion")
    assert (loaded.predict_proba(X) == fitted_model(0.1).predict_proba(X)).all()
    files = {f.path for f in duckml.list_artifacts(RUN_PARENT, "model")}
    assert {"model/model.pkl", "model/MLmodel", "model/model.skops", "model/duckml_model.json"} <= files
    assert import_mlflow(mlflow_uri, trust_pickled_models=True).models_loadable == []  # once only


def test_unsupported_uris_are_refused(tmp_path):
    with pytest.raises(duckml.InvalidInputError, match="not supported"):
        read_tracking_uri("http://localhost:5000")
    with pytest.raises(duckml.NotFoundError):
        read_tracking_uri(f"sqlite:///{tmp_path}/missing.db")
    not_mlflow = tmp_path / "other.db"
    import sqlite3

    sqlite3.connect(not_mlflow).execute("CREATE TABLE x (a INT)").connection.commit()
    with pytest.raises(duckml.InvalidInputError, match="not an MLflow"):
        read_tracking_uri(f"sqlite:///{not_mlflow}")


def test_local_path_reads_file_uris_only():
    assert str(local_path("file:///a/b%20c")) == "/a/b c"
    assert local_path("mlflow-artifacts:/1/x") is None
