"""duckml.autolog(): what one fit logs, nesting, failures, searches, and undoing the patches."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import duckml
from duckml.interop import autolog as autolog_module

CLASSIFIER_METRICS = {"training_score", "training_accuracy_score", "training_precision_score",
                      "training_recall_score", "training_f1_score", "training_log_loss", "training_roc_auc"}
REGRESSOR_METRICS = {"training_score", "training_mean_squared_error", "training_root_mean_squared_error",
                     "training_mean_absolute_error", "training_r2_score"}


@pytest.fixture
def iris():
    return load_iris(return_X_y=True)


def _runs():
    return duckml.search_runs()


def test_a_fit_logs_a_complete_run(iris):
    x, y = iris
    duckml.autolog()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(x, y)
    runs = _runs()
    assert len(runs) == 1  # the pipeline's steps logged nothing of their own
    run = duckml.get_run(runs["run_id"][0])
    assert run.info.status == "FINISHED"
    assert CLASSIFIER_METRICS <= set(run.data.metrics)
    assert run.data.metrics["training_accuracy_score"] == pytest.approx(model.score(x, y))
    assert run.data.params["logisticregression__C"] == "1.0"
    assert run.data.params["steps"].startswith("[('standardscaler'")
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert run.data.tags["estimator_class"] == "sklearn.pipeline.Pipeline"
    loaded = duckml.load_model(f"runs:/{run.info.run_id}/model")
    assert (loaded.predict(x) == model.predict(x)).all()
    files = {f.path for f in duckml.list_artifacts(run.info.run_id, "model")}
    assert "model/input_example.json" in files
    inputs = duckml.get_run_inputs(run.info.run_id)
    # MLflow's contexts: the data fit was given ("train"), and the data the fitted model then predicted on
    # ("eval": the predict() calls above, on the same rows here)
    assert inputs["row_count"].to_list() == [150, 150] and sorted(inputs["context"].to_list()) == ["eval", "train"]


def test_regressor_metrics_match_sklearn():
    x, y = make_regression(n_samples=60, n_features=3, noise=5.0, random_state=0)
    duckml.autolog()
    model = Ridge(alpha=2.0).fit(x, y)
    metrics = duckml.get_run(_runs()["run_id"][0]).data.metrics
    assert REGRESSOR_METRICS <= set(metrics)
    mse = float(np.mean((model.predict(x) - y) ** 2))
    assert metrics["training_mean_squared_error"] == pytest.approx(mse)
    assert metrics["training_root_mean_squared_error"] == pytest.approx(mse ** 0.5)
    assert metrics["training_r2_score"] == pytest.approx(model.score(x, y))


def test_an_active_run_is_logged_into_and_left_open(iris):
    x, y = iris
    duckml.autolog(log_models=False)
    with duckml.start_run() as run:
        LogisticRegression(max_iter=300).fit(x, y)
        assert duckml.active_run().run_id == run.run_id
        duckml.log_metric("extra", 1.0)
    assert len(_runs()) == 1
    data = duckml.get_run(run.run_id).data
    assert "training_score" in data.metrics and "extra" in data.metrics


def test_an_exception_in_fit_fails_the_run_and_is_reraised_unchanged():
    duckml.autolog()
    raised = ValueError("bad input")

    class Exploding(LinearRegression):
        pass

    def explode(self, X, y, sample_weight=None):
        raise raised

    # LinearRegression's patched fit calls the original, which we make raise for this subclass only
    original = autolog_module._originals  # the patch is in place
    assert (LinearRegression, "fit") in original
    Exploding.fit = autolog_module._patched(explode)
    with pytest.raises(ValueError) as caught:
        Exploding().fit([[0.0], [1.0]], [0.0, 1.0])
    assert caught.value is raised
    run = duckml.get_run(_runs()["run_id"][0])
    assert run.info.status == "FAILED"
    assert duckml.active_run() is None


def test_a_failing_real_fit_fails_the_run():
    duckml.autolog()
    with pytest.raises(ValueError) as caught:
        LinearRegression().fit([[0.0], [np.nan]], [0.0, 1.0])
    assert "NaN" in str(caught.value)
    assert _runs()["status"].to_list() == ["FAILED"]


def test_grid_search_logs_a_parent_and_the_best_children(iris):
    x, y = iris
    duckml.autolog(max_tuning_runs=3)
    grid = GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.01, 0.1, 1.0, 10.0]}, cv=3).fit(x, y)
    runs = _runs()
    parents = runs.filter(runs["tags.mlflow.parentRunId"].is_null())
    children = runs.filter(runs["tags.mlflow.parentRunId"].is_not_null())
    assert len(parents) == 1 and len(children) == 3
    parent = duckml.get_run(parents["run_id"][0])
    assert parent.data.params["best_C"] == str(grid.best_params_["C"])
    assert parent.data.metrics["best_cv_score"] == pytest.approx(grid.best_score_)
    assert "estimator" in parent.data.params and "estimator__C" not in parent.data.params  # deep=False
    best_three = sorted(range(4), key=lambda i: grid.cv_results_["rank_test_score"][i])[:3]
    assert sorted(children["params.C"].to_list()) == sorted(str(grid.cv_results_["params"][i]["C"])
                                                            for i in best_three)
    for row in children.iter_rows(named=True):
        child = duckml.get_run(row["run_id"])
        assert child.info.parent_run_id == parent.info.run_id
        assert child.info.status == "FINISHED"
        assert {"mean_test_score", "rank_test_score", "mean_fit_time"} <= set(child.data.metrics)
        assert not any(k.startswith("split") for k in child.data.metrics)
    files = {f.path for f in duckml.list_artifacts(parent.info.run_id)}
    assert {"model", "best_estimator"} <= files


def test_randomized_search_with_no_cap_logs_every_candidate(iris):
    x, y = iris
    duckml.autolog(max_tuning_runs=None, log_models=False)
    RandomizedSearchCV(LogisticRegression(max_iter=300), {"C": [0.1, 1.0, 10.0]}, n_iter=3, cv=2,
                       random_state=0).fit(x, y)
    assert _runs()["tags.mlflow.parentRunId"].is_not_null().sum() == 3


def test_disable_restores_every_fit():
    import sklearn.metrics

    patched_names = ("fit", "fit_transform", "fit_predict", "predict", "predict_proba", "transform", "score")
    every_method = {(cls, name): cls.__dict__.get(name) for cls in autolog_module.estimators_to_patch()
                    for name in patched_names}
    metric_functions = {name: getattr(sklearn.metrics, name) for name in sklearn.metrics.__all__}
    before = {cls: cls.__dict__.get("fit") for cls in autolog_module.estimators_to_patch()}
    duckml.autolog()
    assert GridSearchCV.__dict__["fit"] is not before[GridSearchCV]
    duckml.autolog()  # twice: still one layer of patching
    assert GridSearchCV.fit._duckml_autolog_original is not None
    assert not hasattr(GridSearchCV.fit._duckml_autolog_original, "_duckml_autolog_original")
    assert sklearn.metrics.accuracy_score is not metric_functions["accuracy_score"]
    duckml.autolog(disable=True)
    assert {cls: cls.__dict__.get("fit") for cls in before} == before
    assert {key: key[0].__dict__.get(key[1]) for key in every_method} == every_method
    assert {name: getattr(sklearn.metrics, name) for name in sklearn.metrics.__all__} == metric_functions
    LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    assert len(_runs()) == 0


def test_params_are_truncated_as_mlflow_does():
    params = autolog_module.loggable_params({"short": 1, "long": "y" * 6001, "edge": "z" * 6000})
    assert params["short"] == "1"
    assert params["long"] == "y" * 5997 + "..." and len(params["long"]) == 6000
    assert params["edge"] == "z" * 6000


def test_threads_log_their_own_runs():
    duckml.autolog(log_models=False, log_datasets=False)
    x, y = make_regression(n_samples=30, n_features=2, random_state=1)
    errors = []

    def train():
        try:
            for _ in range(3):
                Ridge().fit(x, y)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=train) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    runs = _runs()
    assert len(runs) == 9 and set(runs["status"].to_list()) == {"FINISHED"}


def test_bad_max_tuning_runs_is_refused():
    with pytest.raises(duckml.InvalidInputError, match="max_tuning_runs"):
        duckml.autolog(max_tuning_runs=-1)


def test_frames_keep_their_column_names_and_sparse_data_is_not_described():
    import pandas as pd
    import scipy.sparse as sparse

    duckml.autolog(log_models=False)
    frame = pd.DataFrame({"a": [0.0, 1, 2, 3], "b": [1.0, 0, 1, 0]})
    labels = pd.Series([0, 1, 0, 1], name="label")
    LogisticRegression().fit(frame, labels)
    run_id = _runs()["run_id"][0]
    assert '"name": "label"' in duckml.get_run_inputs(run_id)["schema"][0]
    LogisticRegression().fit(sparse.csr_matrix(frame.values), labels.values)
    runs = _runs()
    assert len(runs) == 2
    sparse_run = [r for r in runs["run_id"] if r != run_id][0]
    assert duckml.get_run_inputs(sparse_run).is_empty()
    assert "training_accuracy_score" in duckml.get_run(sparse_run).data.metrics
