"""duckml.mlflow's own behaviour: tracking URIs, MLflow's exceptions over duckml's errors, entities, the
pandas frame, forwarding to duckml functions by name, and what it imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import duckml
import duckml.mlflow as mlflow
from duckml.mlflow.entities import Metric, Param, Run, RunTag, ViewType
from duckml.mlflow.exceptions import MlflowException


@pytest.mark.parametrize("uri", ["http://localhost:5000", "https://mlflow.example.com", "sqlite:///mlflow.db",
                                 "databricks", "databricks://profile", "file:///tmp/mlruns",
                                 "postgresql://u@h/db"])
def test_mlflow_stores_are_refused_with_a_pointer_to_import_mlflow(uri, fresh_store):
    before = duckml.get_store().path
    with pytest.raises(MlflowException, match="duckml import-mlflow") as caught:
        mlflow.set_tracking_uri(uri)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE" and uri in str(caught.value)
    assert duckml.get_store().path == before
    with pytest.raises(MlflowException, match="duckml import-mlflow"):
        mlflow.MlflowClient(tracking_uri=uri)


@pytest.mark.parametrize("form", ["plain", "duckml", "path"])
def test_a_store_path_in_any_form_chooses_and_creates_the_store(form, tmp_path):
    target = tmp_path / "team" / "runs.duckdb"
    target.parent.mkdir()
    uri = {"plain": str(target), "duckml": f"duckml:{target}", "path": target}[form]
    mlflow.set_tracking_uri(uri)
    assert duckml.get_store().path == target and duckml.get_store().exists()
    assert mlflow.get_tracking_uri() == str(uri)
    assert mlflow.get_experiment_by_name("nothing") is None  # a read on the new store, as MLflow allows
    duckml.set_store(None)
    assert mlflow.get_tracking_uri() != str(uri)  # follows duckml's store once another is chosen


def test_duckml_errors_come_out_as_mlflow_exceptions_and_stay_duckml_errors(fresh_store):
    with mlflow.start_run():
        pass
    with pytest.raises(MlflowException) as caught:
        mlflow.get_run("f" * 32)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST" and isinstance(caught.value, duckml.NotFoundError)
    with pytest.raises(duckml.FilterSyntaxError) as caught:
        mlflow.search_runs(filter_string="metrics.rmse <")
    assert isinstance(caught.value, MlflowException) and caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert caught.value.text == "metrics.rmse <"  # the duckml error's own fields are kept
    with mlflow.start_run():
        mlflow.log_param("lr", 0.1)
        with pytest.raises(MlflowException) as caught:
            mlflow.log_param("lr", 0.2)
    assert isinstance(caught.value, duckml.ParamConflictError) and caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_entities_compare_by_value_and_print_as_mlflows():
    assert Metric("loss", 0.5, 1000, 2) == Metric("loss", 0.5, 1000, 2) != Metric("loss", 0.5, 1000, 3)
    assert dict(Param("lr", "0.1")) == {"key": "lr", "value": "0.1"} and repr(RunTag("a", "b")) == \
        "<RunTag: key='a', value='b'>"
    assert [ViewType.from_string(v) for v in ("ACTIVE_ONLY", "deleted_only", "ALL")] == [1, 2, 3]


def test_a_run_has_mlflows_info_and_the_tags_mlflow_sets(fresh_store, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py"])
    with mlflow.start_run(run_name="first", description="a note") as run:
        mlflow.log_metric("m", 1.5, step=3, timestamp=1_700_000_000_000)
    stored = mlflow.get_run(run.info.run_id)
    assert isinstance(stored, Run) and isinstance(run, Run)
    assert stored.info.user_id == stored.data.tags["mlflow.user"] != ""
    assert stored.info.artifact_uri == f"runs:/{run.info.run_id}" and stored.info.status == "FINISHED"
    assert stored.data.tags["mlflow.runName"] == "first" and stored.data.tags["mlflow.note.content"] == "a note"
    assert stored.data.tags["mlflow.source.name"] == "train.py" and stored.data.tags["mlflow.source.type"] == "LOCAL"
    assert isinstance(stored.info.start_time, int) and stored.info.end_time >= stored.info.start_time
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "m")
    assert history == [Metric("m", 1.5, 1_700_000_000_000, 3)]
    assert stored.inputs.dataset_inputs == []


def test_search_runs_frame_of_nothing_is_mlflows(fresh_store):
    frame = mlflow.search_runs()  # the Default experiment does not exist yet: MLflow's answer is still a frame
    assert list(frame.columns) == ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    assert len(frame) == 0 and set(map(str, frame.dtypes)) == {"float64"}  # as MLflow 3.17.2 gives it
    with pytest.raises(MlflowException, match="Unsupported output format"):
        mlflow.search_runs(output_format="polars")


def test_the_active_experiment_is_searched_by_default(fresh_store):
    mlflow.set_experiment("a")
    with mlflow.start_run():
        pass
    mlflow.set_experiment("b")
    assert len(mlflow.search_runs()) == 0
    assert len(mlflow.search_runs(search_all_experiments=True)) == 1
    assert len(mlflow.search_runs(experiment_names=["a"], output_format="list")) == 1


def test_calls_forward_to_duckml_functions_looked_up_at_call_time(fresh_store, monkeypatch):
    import polars as pl

    seen = []
    monkeypatch.setattr(duckml, "log_image", lambda *a, **k: seen.append((a, k)), raising=False)
    monkeypatch.setattr(duckml, "load_table", lambda name, run_ids=None: pl.DataFrame({"q": ["a"]}), raising=False)
    mlflow.log_image("IMAGE", key="samples", step=2)
    assert seen == [(("IMAGE", None), {"key": "samples", "step": 2, "timestamp": None})]
    table = mlflow.load_table("eval.json")
    assert type(table).__module__.startswith("pandas") and table["q"].tolist() == ["a"]
    monkeypatch.delattr(duckml, "log_image")
    if not hasattr(duckml, "log_image"):  # lazily loaded again when this duckml has it
        with pytest.raises(MlflowException, match=r"duckml.log_image is not available"):
            mlflow.log_image("IMAGE", "x.png")


def test_search_model_versions_filters_and_orders_as_mlflow(fresh_store):
    from sklearn.linear_model import LinearRegression

    for name, runs in (("alpha", 2), ("beta", 1)):
        for _ in range(runs):
            with mlflow.start_run():
                mlflow.sklearn.log_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), name="model",
                                         registered_model_name=name)
    mlflow.MlflowClient().set_model_version_tag("alpha", 1, "stage", "prod")
    found = mlflow.search_model_versions(filter_string="name LIKE 'al%'", order_by=["version_number ASC"])
    assert [(v.name, v.version) for v in found] == [("alpha", 1), ("alpha", 2)]
    assert [v.version for v in mlflow.search_model_versions(filter_string="tags.stage = 'prod'")] == [1]
    assert [v.name for v in mlflow.search_model_versions(filter_string="version_number > 1")] == ["alpha"]
    assert [(v.name, v.version) for v in mlflow.search_model_versions(
        filter_string="name IN ('alpha', 'beta')", order_by=["name DESC"])] == [("beta", 1), ("alpha", 2), ("alpha", 1)]
    with pytest.raises(MlflowException):
        mlflow.search_model_versions(filter_string="metrics.rmse > 1")


def test_nothing_below_imports_duckml_mlflow():
    from tests.test_architecture import _graph

    importers = sorted(module for module, edges in _graph().items()
                       if not module.startswith("duckml.mlflow") and any(e.startswith("duckml.mlflow") for e in edges))
    assert importers == []


@pytest.mark.slow
def test_importing_duckml_mlflow_loads_no_frame_library():
    root = Path(__file__).resolve().parents[2]
    code = ("import sys, duckml, duckml.mlflow as mlflow; "
            "print(sorted(m for m in ('pandas', 'polars', 'sklearn', 'duckdb', 'duckml.mlflow') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": ""}, timeout=120)
    assert done.stdout.strip() == "['duckml.mlflow']", done.stderr
    code = "import sys, duckml; print('duckml.mlflow' in sys.modules, 'pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": ""}, timeout=120)
    assert done.stdout.strip() == "False False", done.stderr


def test_scripts_import_the_signature_from_either_path():
    from duckml.mlflow.models import ModelSignature
    from duckml.mlflow.models.model import ModelInfo
    from duckml.mlflow.models.signature import infer_signature

    assert isinstance(infer_signature([[1.0, 2.0]]), ModelSignature) and ModelInfo.__name__ == "ModelInfo"


def test_reads_on_a_store_not_made_yet_answer_as_mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("DUCKML_STORE", str(tmp_path / "new" / "runs.duckdb"))
    duckml.reset_state()
    assert mlflow.get_experiment_by_name("x") is None
    assert [e.name for e in mlflow.search_experiments()] == []  # MLflow lists Default: duckml makes it on first use
    assert len(mlflow.search_runs()) == 0



@settings(max_examples=300, deadline=None)  # pure: no store, so many examples cost little
@given(pattern=st.text(alphabet="ab%_.\\*X\n", max_size=6), value=st.text(alphabet="ab%_.\\*X\n", max_size=6),
       ignore_case=st.booleans())
def test_model_version_filters_like_matches_duckdbs_like(pattern, value, ignore_case):
    """search_model_versions evaluates LIKE/ILIKE in Python: it must agree with the DuckDB LIKE that run and
    experiment searches compile to (``<column> LIKE ?``)."""
    import duckdb

    from duckml.mlflow.registry import _like

    operator = "ILIKE" if ignore_case else "LIKE"
    assert _like(pattern, value, ignore_case) == duckdb.execute(f"SELECT ? {operator} ?", [value, pattern]).fetchone()[0]
