"""duckml.evaluate: MLflow's default metric names, values equal to scikit-learn's on the same data, the
default plots as real PNG artifacts, and MLflow's run handling (reuse the active run, else start one)."""

from __future__ import annotations

import io
import math

import numpy as np
import polars as pl
import pytest
from PIL import Image
from sklearn import metrics as sk
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression

import duckml
from duckml.errors import InvalidInputError
from duckml.tracking.artifacts import artifact_local_path


def _binary():
    x, y = make_classification(n_samples=300, n_features=5, random_state=0)
    labels = np.where(y == 1, "yes", "no")  # string labels: the larger one ("yes") is positive, as in MLflow
    model = LogisticRegression().fit(x[:200], labels[:200])
    return model, x[200:], labels[200:]


def _is_png(run_id, path):
    image = Image.open(io.BytesIO(artifact_local_path(run_id, path).read_bytes()))
    return image.format == "PNG" and image.size[0] > 100


def test_binary_classifier_metrics_equal_sklearns_and_plots_are_logged(store):
    model, x, y = _binary()
    with duckml.start_run() as run:
        result = duckml.evaluate(model, x, targets=y, model_type="classifier")
    predicted, positive = model.predict(x), model.predict_proba(x)[:, list(model.classes_).index("yes")]
    tn, fp, fn, tp = sk.confusion_matrix(y, predicted).ravel()
    expected = {
        "example_count": 100, "true_negatives": tn, "false_positives": fp, "false_negatives": fn, "true_positives": tp,
        "accuracy_score": sk.accuracy_score(y, predicted),
        "recall_score": sk.recall_score(y, predicted, pos_label="yes"),
        "precision_score": sk.precision_score(y, predicted, pos_label="yes"),
        "f1_score": sk.f1_score(y, predicted, pos_label="yes"),
        "log_loss": sk.log_loss(y, model.predict_proba(x)),
        "roc_auc": sk.roc_auc_score(y == "yes", positive),
        "precision_recall_auc": sk.average_precision_score(y == "yes", positive),
        "score": model.score(x, y),
    }
    assert result.metrics == pytest.approx({k: float(v) for k, v in expected.items()})
    assert result.run_id == run.run_id
    assert duckml.get_run(run.run_id).data.metrics == pytest.approx(result.metrics)
    assert set(result.artifacts) == {"confusion_matrix", "roc_curve_plot", "precision_recall_curve_plot",
                                     "calibration_curve_plot"}
    for artifact in result.artifacts.values():
        assert artifact.uri == f"runs:/{run.run_id}/{artifact.path}" and _is_png(run.run_id, artifact.path)


def test_multiclass_metrics_are_weighted_and_per_class_metrics_are_a_csv(store):
    x, y = load_iris(return_X_y=True)
    data = pl.DataFrame(x, schema=["a", "b", "c", "d"]).with_columns(species=pl.Series(y))
    train, frame = data[::2], data[1::2]
    model = LogisticRegression(max_iter=500).fit(train.drop("species").to_pandas(), train["species"].to_numpy())
    result = duckml.evaluate(model, frame, targets="species")
    features, truth = frame.drop("species").to_pandas(), frame["species"].to_numpy()
    predicted = model.predict(features)
    assert result.metrics["f1_score"] == pytest.approx(sk.f1_score(truth, predicted, average="weighted"))
    assert result.metrics["roc_auc"] == pytest.approx(
        sk.roc_auc_score(truth, model.predict_proba(features), average="weighted", multi_class="ovr"))
    assert "true_positives" not in result.metrics
    per_class = artifact_local_path(result.run_id, "per_class_metrics.csv").read_text().splitlines()
    assert per_class[0].startswith("positive_class,example_count") and len(per_class) == 4
    # no run was active: evaluate started one and ended it, with the data as its eval input
    assert duckml.active_run() is None
    assert duckml.get_run(result.run_id).info.status == "FINISHED"
    assert duckml.get_run_inputs(result.run_id)["context"].to_list() == ["eval"]


def test_regressor_metrics_equal_sklearns(store):
    x, y = make_regression(n_samples=120, n_features=3, noise=5.0, random_state=1)
    y = y + 500  # keeps the percentage error finite
    model = LinearRegression().fit(x[:80], y[:80])
    with duckml.start_run():
        result = duckml.evaluate(model, x[80:], targets=y[80:], model_type="regressor")
    predicted, truth = model.predict(x[80:]), y[80:]
    assert result.metrics == pytest.approx({
        "example_count": 40.0, "mean_absolute_error": sk.mean_absolute_error(truth, predicted),
        "mean_squared_error": sk.mean_squared_error(truth, predicted),
        "root_mean_squared_error": math.sqrt(sk.mean_squared_error(truth, predicted)),
        "sum_on_target": truth.sum(), "mean_on_target": truth.mean(), "r2_score": sk.r2_score(truth, predicted),
        "max_error": sk.max_error(truth, predicted),
        "mean_absolute_percentage_error": sk.mean_absolute_percentage_error(truth, predicted),
        "score": model.score(x[80:], truth),
    })
    assert list(result.artifacts) == ["residuals_plot"] and _is_png(result.run_id, "residuals_plot.png")


def test_a_registered_model_uri_is_evaluated_like_the_model(store):
    model, x, y = _binary()
    with duckml.start_run():
        info = duckml.log_model(model, name="model")
    by_uri = duckml.evaluate(info.model_uri, x, targets=y)
    by_object = duckml.evaluate(model, x, targets=y)
    assert by_uri.metrics == by_object.metrics and by_uri.run_id != by_object.run_id


def test_predictions_column_without_a_model(store):
    frame = pl.DataFrame({"label": [0, 1, 1, 0], "guess": [0, 1, 0, 0], "x": [1, 2, 3, 4]})
    result = duckml.evaluate(data=frame, targets="label", predictions="guess")
    assert result.metrics["accuracy_score"] == 0.75 and "roc_auc" not in result.metrics
    assert set(result.artifacts) == {"confusion_matrix"}


def test_a_failing_model_leaves_the_run_it_started_failed(store):
    class Broken:
        def predict(self, x):
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        duckml.evaluate(Broken(), np.zeros((3, 1)), targets=np.array([0, 1, 0]))
    assert duckml.active_run() is None
    assert duckml.search_runs()["status"].to_list() == ["FAILED"]


@pytest.mark.parametrize("kwargs, message", [
    ({"model_type": "ranker"}, "model_type"), ({"evaluators": ["shap"]}, "default"),
    ({"targets": "missing"}, "no column 'missing'"), ({"targets": None}, "label column"),
])
def test_bad_arguments_are_one_clear_error(store, kwargs, message):
    model, x, y = _binary()
    frame = pl.DataFrame(x, schema=[f"f{i}" for i in range(5)]).with_columns(label=pl.Series(y))
    arguments = {"targets": "label", **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        duckml.evaluate(model, frame, **arguments)
    assert duckml.search_runs().height == 0


def test_without_matplotlib_the_metrics_are_logged_and_a_warning_says_why(store, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    model, x, y = _binary()
    with pytest.warns(UserWarning, match="duckml\\[plots\\]"):
        result = duckml.evaluate(model, x, targets=y)
    assert result.artifacts == {} and result.metrics["example_count"] == 100
