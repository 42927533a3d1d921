"""import-mlflow keeps what MLflow's own client reads back (issue 23, "Import fidelity"), on hand-built stores.

The slow twins of these checks, on stores made by the real MLflow, are in ``test_mlflow_real.py``.
"""

from __future__ import annotations

import pytest

import duckml
import duckml.mlflow as mlflow
from duckml.interop.mlflow_import import import_mlflow
from duckml.mlflow.tracking import MlflowClient

from .mlflow_fixtures import (
    DELETED_EXPERIMENT, RUN_DELETED, RUN_PARENT, T0, add_fidelity_file_store, add_fidelity_sqlite,
    build_file_store, build_sqlite_store,
)


@pytest.fixture(params=["sqlite", "mlruns"])
def fidelity_uri(request, tmp_path):
    if request.param == "sqlite":
        uri = build_sqlite_store(tmp_path / "mlflow")
        add_fidelity_sqlite(uri)
        return uri
    root = build_file_store(tmp_path / "mlflow")
    add_fidelity_file_store(root)
    return str(root)


def test_deleted_experiments_and_their_runs_come_across_as_deleted(fidelity_uri):
    report = import_mlflow(fidelity_uri)
    assert RUN_DELETED in report.runs_imported
    experiment = duckml.get_experiment_by_name(DELETED_EXPERIMENT[1])
    assert experiment is not None and experiment.lifecycle_stage == "deleted"
    run = duckml.get_run(RUN_DELETED)
    assert run.info.lifecycle_stage == "deleted" and run.data.params == {"C": "5"}
    assert run.info.experiment_id == experiment.experiment_id
    assert import_mlflow(fidelity_uri).runs_imported == []  # and a second import adds nothing


def test_mlflow_experiment_ids_are_kept_and_found(fidelity_uri):
    import_mlflow(fidelity_uri)
    churn = mlflow.get_experiment_by_name("churn")
    assert churn.tags["mlflow.source_experiment_id"] == "1"
    assert mlflow.get_experiment("1").name == "churn"
    assert MlflowClient().get_experiment("2").name == "forecast"
    assert mlflow.get_experiment(churn.experiment_id).name == "churn"  # duckml's own id still works
    assert MlflowClient().get_experiment(DELETED_EXPERIMENT[0]).lifecycle_stage == "deleted"
    with pytest.raises(mlflow.exceptions.MlflowException):
        mlflow.get_experiment("42")


def test_the_version_source_is_kept_as_a_tag(fidelity_uri):
    import_mlflow(fidelity_uri)
    version = duckml.get_model_version("churn-model", 1)
    assert version.source_uri == f"runs:/{RUN_PARENT}/model"  # resolvable by duckml
    assert version.tags["mlflow.source_version_source"].endswith(f"/{RUN_PARENT}/artifacts/model")
    assert version.tags["validated"] == "yes"


def test_model_version_stages_are_kept_and_read_as_mlflow_reads_them(fidelity_uri):
    import_mlflow(fidelity_uri)
    client = MlflowClient()
    assert client.get_model_version("churn-model", "1").current_stage == "Production"
    assert [(v.version, v.current_stage) for v in client.get_latest_versions("churn-model", stages=["production"])] \
        == [(1, "Production")]
    latest = {v.current_stage: v.version for v in client.get_latest_versions("churn-model")}
    assert latest == {"Production": 1, "Staging": 2}
    assert client.get_latest_versions("churn-model", stages=["Archived"]) == []
    assert duckml.get_model_version("churn-model", 2).current_stage == "Staging"


def test_registry_times_are_the_sources(fidelity_uri):
    from duckml.interop.merge import to_us

    import_mlflow(fidelity_uri)
    version = MlflowClient().get_model_version("churn-model", "1")
    assert (version.creation_timestamp, version.last_updated_timestamp) == (T0 + 1, T0 + 700)
    model = MlflowClient().get_registered_model("churn-model")
    assert model.last_updated_timestamp == T0 + 500
    with duckml.get_store().read() as con:
        events = con.execute("SELECT event, version, epoch_us(event_time) FROM registry_events "
                             "WHERE name = 'churn-model' ORDER BY event_time").fetchall()
    assert events[:3] == [("created", None, T0 * 1000), ("version_created", 1, (T0 + 1) * 1000),
                          ("version_created", 2, (T0 + 2) * 1000)]
    assert all(t <= (T0 + 500) * 1000 for _, _, t in events)  # no event carries the import's time
    assert to_us(duckml.get_model_version("churn-model", 1).last_updated_at) == (T0 + 700) * 1000


def test_update_appends_to_runs_that_grew_and_still_refuses_changed_ones(fidelity_uri):
    from .mlflow_fixtures import RUN_CHILD, grow_source

    import_mlflow(fidelity_uri)
    grow_source(fidelity_uri)
    plain = import_mlflow(fidelity_uri)  # without --update both are conflicts, as before
    assert sorted(plain.conflicts) == sorted([RUN_PARENT, RUN_CHILD]) and plain.runs_updated == []
    report = import_mlflow(fidelity_uri, update=True)
    assert report.runs_updated == [RUN_PARENT] and report.conflicts == [RUN_CHILD]
    assert report.metric_points == 1
    run = duckml.get_run(RUN_PARENT)
    assert run.data.params["epochs"] == "10" and run.data.tags["note"] == "more"
    assert run.data.metrics["loss"] == 0.05  # the latest point is the new one
    from duckml.interop.merge import to_us

    assert to_us(run.info.end_time) == (T0 + 150) * 1000  # resumed: its end moved later
    assert duckml.get_metric_history(RUN_PARENT, "loss")["step"].to_list() == [0, 1, 1, 2, 3]
    assert duckml.get_run(RUN_CHILD).data.params["fold"] == "1"  # a changed run is left as it is
    again = import_mlflow(fidelity_uri, update=True)
    assert again.runs_updated == [] and RUN_PARENT in again.runs_skipped and again.conflicts == [RUN_CHILD]


def test_dataset_input_tags_and_the_whole_profile_are_kept(fidelity_uri):
    from .mlflow_fixtures import PROFILE, add_input_details

    add_input_details(fidelity_uri)
    import_mlflow(fidelity_uri)
    inputs = duckml.get_run_inputs(RUN_PARENT)
    assert inputs["row_count"].to_list() == [12] and inputs["profile"].to_list() == [PROFILE]
    (dataset_input,) = mlflow.get_run(RUN_PARENT).inputs.dataset_inputs
    assert {t.key: t.value for t in dataset_input.tags} == {"mlflow.data.context": "training",
                                                           "mlflow.data.split": "holdout-a"}
    assert dataset_input.dataset.profile == PROFILE


def test_logged_models_keep_params_tags_metrics_and_one_without_a_run_comes_across(fidelity_uri):
    from .mlflow_fixtures import MODEL_WITH_RUN, MODEL_WITHOUT_RUN, add_logged_models

    add_logged_models(fidelity_uri)
    report = import_mlflow(fidelity_uri)
    assert MODEL_WITHOUT_RUN in report.runs_imported  # the run-less model gets a run of its own
    with duckml.get_store().read() as con:
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT model_id, run_id, source_run_id, name, artifact_path, status, params, tags FROM logged_models"
        ).fetchall()}
        metrics = con.execute("SELECT model_id, run_id, key, value, step, dataset_name, dataset_digest "
                              "FROM logged_model_metrics").fetchall()
    assert rows[MODEL_WITH_RUN] == (RUN_PARENT, RUN_PARENT, "clf", "clf", "READY", {"alpha": "0.5"}, {"team": "ml"})
    assert rows[MODEL_WITHOUT_RUN] == (MODEL_WITHOUT_RUN, None, "standalone", "standalone", "READY",
                                       {"kind": "prompt"}, {})
    assert metrics == [(MODEL_WITH_RUN, RUN_PARENT, "acc", 0.9, 0, "eval", "abc123")]
    holder = duckml.get_run(MODEL_WITHOUT_RUN)
    assert holder.info.run_name == "standalone" and holder.data.tags["mlflow.loggedModelId"] == MODEL_WITHOUT_RUN
    assert {f.path for f in duckml.list_artifacts(MODEL_WITHOUT_RUN, "standalone")} == {"standalone/MLmodel"}
    assert {f.path for f in duckml.list_artifacts(RUN_PARENT, "clf")} == {"clf/MLmodel"}
    again = import_mlflow(fidelity_uri)
    assert again.runs_imported == [] and again.conflicts == []
    with duckml.get_store().read() as con:
        assert con.execute("SELECT count(*) FROM logged_model_metrics").fetchone() == (1,)
