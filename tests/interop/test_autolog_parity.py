"""Where duckml's autolog matches MLflow's sklearn autolog beyond a plain fit: fit_transform/fit_predict,
post-training metrics with MLflow's key rule, the artifacts MLflow writes, and the dataset context "train"."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, make_classification
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import duckml


@pytest.fixture
def autologged():
    duckml.autolog()
    yield
    duckml.autolog(disable=True)


def _only_run():
    runs = duckml.search_runs()
    assert len(runs) == 1, runs
    return duckml.get_run(runs["run_id"][0])


def _artifact_bytes(run_id: str, path: str, tmp_path) -> bytes:
    return open(duckml.download_artifacts(run_id, path, tmp_path), "rb").read()


def test_fit_transform_of_a_pca_logs_one_run_with_its_training_score(autologged):
    x, _ = load_iris(return_X_y=True)
    reduced = PCA(n_components=2).fit_transform(x)
    assert reduced.shape == (150, 2)
    run = _only_run()
    assert run.data.tags["estimator_name"] == "PCA"
    assert run.data.params["n_components"] == "2"
    assert run.data.metrics["training_score"] == pytest.approx(PCA(n_components=2).fit(x).score(x))


def test_fit_predict_of_kmeans_logs_one_run_not_two(autologged):
    x, _ = load_iris(return_X_y=True)
    labels = KMeans(n_clusters=3, n_init=2, random_state=0).fit_predict(x)  # calls fit inside
    assert len(set(labels)) == 3
    run = _only_run()
    assert run.data.tags["estimator_name"] == "KMeans"
    assert "training_score" in run.data.metrics


def test_post_training_metrics_follow_mlflows_key_rule(autologged, tmp_path):
    import sklearn.metrics

    x, y = make_classification(n_samples=200, n_features=5, random_state=0)
    X_train, X_test, y_train, y_test = x[:150], x[150:], y[:150], y[150:]
    model = LogisticRegression().fit(X_train, y_train)
    predicted = model.predict(X_test)
    first = sklearn.metrics.accuracy_score(y_test, predicted)
    again = sklearn.metrics.accuracy_score(y_test, predicted, normalize=False)
    score = model.score(X_test, y_test)
    derived = predicted.copy()
    sklearn.metrics.f1_score(y_test, derived)  # a derived object is not followed, as in MLflow
    run = _only_run()
    metrics = run.data.metrics
    assert metrics["accuracy_score_X_test"] == pytest.approx(first)
    assert metrics["accuracy_score-2_X_test"] == pytest.approx(again)
    assert metrics["LogisticRegression_score_X_test"] == pytest.approx(score)
    assert not any(key.startswith("f1_score") for key in metrics)
    info = json.loads(_artifact_bytes(run.info.run_id, "metric_info.json", tmp_path))
    assert info["accuracy_score_X_test"] == "accuracy_score(y_true=y_test, y_pred=predicted)"
    assert info["accuracy_score-2_X_test"] == "accuracy_score(y_true=y_test, y_pred=predicted, normalize=False)"
    assert info["LogisticRegression_score_X_test"].startswith("LogisticRegression.score(X=X_test, y=y_test")
    contexts = sorted(duckml.get_run_inputs(run.info.run_id)["context"].to_list())
    assert contexts == ["eval", "train"]


def test_two_datasets_held_by_the_same_name_get_an_index(autologged):
    import sklearn.metrics

    x, y = make_classification(n_samples=120, n_features=4, random_state=1)
    model = LogisticRegression().fit(x[:80], y[:80])
    for start in (80, 100):
        X_val = x[start:start + 20]
        sklearn.metrics.accuracy_score(y[start:start + 20], model.predict(X_val))
    assert {"accuracy_score_X_val", "accuracy_score-2_X_val-2"} <= set(_only_run().data.metrics)


def test_a_metric_function_imported_before_autolog_logs_nothing():
    from sklearn.metrics import r2_score  # the original: MLflow documents the same limit

    duckml.autolog()
    try:
        x, y = np.arange(20.0).reshape(-1, 1), np.arange(20.0) * 2
        model = LinearRegression().fit(x, y)
        r2_score(y, model.predict(x))
        assert not any(k.startswith("r2_score") for k in _only_run().data.metrics)
    finally:
        duckml.autolog(disable=True)


def test_training_metrics_inside_fit_are_not_post_training_metrics(autologged):
    x, y = make_classification(n_samples=60, n_features=4, random_state=2)
    LogisticRegression().fit(x, y)
    keys = set(_only_run().data.metrics)
    assert "training_accuracy_score" in keys
    assert not any(key.endswith(("_x", "_X", "unknown_dataset")) for key in keys), keys


def test_a_binary_classifier_logs_mlflows_artifacts(autologged, tmp_path):
    x, y = make_classification(n_samples=80, n_features=4, random_state=3)
    make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    run = _only_run()
    files = {f.path for f in duckml.list_artifacts(run.info.run_id)}
    assert {"estimator.html", "training_confusion_matrix.png", "training_roc_curve.png",
            "training_precision_recall_curve.png", "model"} <= files
    html = _artifact_bytes(run.info.run_id, "estimator.html", tmp_path).decode()
    assert "StandardScaler" in html and "LogisticRegression" in html
    png = _artifact_bytes(run.info.run_id, "training_confusion_matrix.png", tmp_path)
    from PIL import Image

    assert Image.open(io.BytesIO(png)).size[0] > 100


def test_a_multiclass_classifier_has_no_binary_curves_and_a_regressor_no_plots(autologged):
    x, y = load_iris(return_X_y=True)
    with duckml.start_run() as multiclass:
        LogisticRegression(max_iter=300).fit(x, y)
    with duckml.start_run() as regression:
        Ridge().fit(x, y.astype(float))
    multi = {f.path for f in duckml.list_artifacts(multiclass.info.run_id)}
    assert "training_confusion_matrix.png" in multi and "training_roc_curve.png" not in multi
    reg = {f.path for f in duckml.list_artifacts(regression.info.run_id)}
    assert "estimator.html" in reg and not any(p.startswith("training_") for p in reg)


def test_a_search_logs_cv_results_csv(autologged, tmp_path):
    import pandas as pd

    x, y = load_iris(return_X_y=True)
    grid = GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.1, 1.0, 10.0]}, cv=3).fit(x, y)
    runs = duckml.search_runs()
    parent = runs.filter(runs["tags.mlflow.parentRunId"].is_null())["run_id"][0]
    table = pd.read_csv(io.BytesIO(_artifact_bytes(parent, "cv_results.csv", tmp_path)))
    assert len(table) == 3 and list(table["rank_test_score"]) == list(grid.cv_results_["rank_test_score"])


def test_the_training_data_is_logged_even_when_fit_fails(autologged):
    with pytest.raises(ValueError):
        LinearRegression().fit([[0.0], [np.nan]], [0.0, 1.0])
    run = _only_run()
    assert run.info.status == "FAILED"
    inputs = duckml.get_run_inputs(run.info.run_id)
    assert inputs["context"].to_list() == ["train"] and inputs["row_count"].to_list() == [2]


def test_a_pipeline_keeps_scikit_learns_answer_to_hasattr(autologged):
    regression = make_pipeline(StandardScaler(), Ridge())
    assert not hasattr(regression, "predict_proba")  # available_if says no: the patch must not say yes
    classification = make_pipeline(StandardScaler(), LogisticRegression())
    assert hasattr(classification, "predict_proba")
