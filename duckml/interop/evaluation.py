"""``duckml.evaluate``: MLflow's default evaluator for classifiers and regressors, on duckml's runs.

It scores a model (an estimator, or a model URI that ``duckml.load_model`` resolves) on held-out data, logs
MLflow's default metrics under MLflow's names, and its default plots as PNG artifacts, in the active run or
in a run it starts and ends (as ``mlflow.evaluate`` does). Two runs evaluated on the same data compare
metric for metric, as in MLflow.

- classifier, two labels (the larger one positive, as MLflow sorts them): ``true_negatives``,
  ``false_positives``, ``false_negatives``, ``true_positives``, ``example_count``, ``accuracy_score``,
  ``recall_score``, ``precision_score``, ``f1_score`` and, with ``predict_proba``, ``log_loss``, ``roc_auc``,
  ``precision_recall_auc`` (average precision, as MLflow); plots ``confusion_matrix.png``,
  ``roc_curve_plot.png``, ``precision_recall_curve_plot.png``, ``calibration_curve_plot.png``.
- classifier, more labels: the same scores averaged ``weighted``, ``roc_auc`` one-vs-rest, and
  ``per_class_metrics.csv``.
- regressor: ``example_count``, ``mean_absolute_error``, ``mean_squared_error``, ``root_mean_squared_error``,
  ``sum_on_target``, ``mean_on_target``, ``r2_score``, ``max_error``, ``mean_absolute_percentage_error``;
  plot ``residuals_plot.png`` (duckml's; MLflow draws none by default).
- ``score``: the estimator's own ``score`` on the data, when it has one (MLflow's rule for sklearn models).

matplotlib (the ``plots`` extra) draws the plots, imported only here; without it the metrics are logged and
a warning says the plots were skipped.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass, field

from duckml.errors import InvalidInputError
from duckml.tracking import fluent
from duckml.tracking.artifacts import log_figure, log_text

MODEL_TYPES = ("classifier", "regressor")


@dataclass(frozen=True)
class EvaluationArtifact:
    """A file ``evaluate`` logged: its path in the run and its URI (``runs:/<run_id>/<path>``)."""

    uri: str
    path: str


@dataclass
class EvaluationResult:
    """What ``evaluate`` returns, as MLflow's: ``.metrics`` by name, ``.artifacts`` by name, ``.run_id``."""

    metrics: dict[str, float]
    artifacts: dict[str, EvaluationArtifact] = field(default_factory=dict)
    run_id: str | None = None


# -- inputs ------------------------------------------------------------------------------------
def _split(data, targets, predictions):
    """(features, true labels, predictions column or None) from a frame with a target column, or from an
    array with ``targets`` given as values."""
    import numpy as np

    module = type(data).__module__.split(".")[0]
    if module == "polars":
        data = data.to_pandas()
    elif module == "pyarrow" and hasattr(data, "to_pandas"):
        data = data.to_pandas()
    if module in ("pandas", "polars", "pyarrow"):
        if not isinstance(targets, str):
            raise InvalidInputError("evaluate: with a DataFrame, targets must name its label column, e.g. targets='label'")
        missing = [c for c in (targets, predictions) if c is not None and c not in data.columns]
        if missing:
            raise InvalidInputError(f"evaluate: data has no column {missing[0]!r}; its columns are {list(data.columns)}")
        y_true = data[targets].to_numpy()
        y_pred = data[predictions].to_numpy() if predictions is not None else None
        features = data.drop(columns=[c for c in (targets, predictions) if c is not None])
        return features, y_true, y_pred
    if isinstance(data, (np.ndarray, list)):
        if targets is None or isinstance(targets, str):
            raise InvalidInputError("evaluate: with an array as data, targets must be the array of labels")
        features = np.asarray(data)
        y_true = np.asarray(targets)
        if len(y_true) != len(features):
            raise InvalidInputError(f"evaluate: data has {len(features)} rows but targets has {len(y_true)} values")
        return features, y_true, None
    raise InvalidInputError(f"evaluate: data must be a pandas or Polars DataFrame, an Arrow table or a numpy array, "
                            f"got {type(data).__name__}")


def _resolve_model(model):
    if isinstance(model, str):
        from duckml.models.loader import load_model

        return load_model(model)
    if model is not None and not hasattr(model, "predict"):
        raise InvalidInputError(f"evaluate: model must have a predict method or be a model URI, got {type(model).__name__}")
    return model


# -- metrics -----------------------------------------------------------------------------------
def _positive_probabilities(model, probabilities, pos_label):
    classes = list(getattr(model, "classes_", []))
    index = classes.index(pos_label) if pos_label in classes else probabilities.shape[1] - 1
    return probabilities[:, index]


def classifier_metrics(y_true, y_pred, probabilities=None, model=None) -> tuple[dict, list]:
    """MLflow's default classifier metrics, and the sorted labels.

    >>> metrics, labels = classifier_metrics([0, 1, 1, 0], [0, 1, 0, 0])
    >>> metrics["accuracy_score"], metrics["true_positives"], labels
    (0.75, 1.0, [0, 1])
    """
    import numpy as np
    from sklearn import metrics as sk

    labels = sorted(np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)])).tolist())
    if len(labels) < 2:
        raise InvalidInputError(f"evaluate: a classifier needs at least two labels among targets and predictions, "
                                f"found only {labels}")
    values: dict[str, float] = {"example_count": len(y_true)}
    if len(labels) == 2:
        pos_label = labels[-1]
        tn, fp, fn, tp = sk.confusion_matrix(y_true, y_pred, labels=labels).ravel()
        values.update(true_negatives=int(tn), false_positives=int(fp), false_negatives=int(fn), true_positives=int(tp))
        average, kwargs = "binary", {"pos_label": pos_label}
    else:
        average, kwargs = "weighted", {}
    values["accuracy_score"] = sk.accuracy_score(y_true, y_pred)
    values["recall_score"] = sk.recall_score(y_true, y_pred, average=average, **kwargs)
    values["precision_score"] = sk.precision_score(y_true, y_pred, average=average, **kwargs)
    values["f1_score"] = sk.f1_score(y_true, y_pred, average=average, **kwargs)
    if probabilities is not None:
        values["log_loss"] = sk.log_loss(y_true, probabilities, labels=labels)
        if len(labels) == 2:
            positive = _positive_probabilities(model, probabilities, labels[-1])
            y_binary = np.asarray(y_true) == labels[-1]
            values["roc_auc"] = sk.roc_auc_score(y_binary, positive)
            values["precision_recall_auc"] = sk.average_precision_score(y_binary, positive)
        else:
            values["roc_auc"] = sk.roc_auc_score(y_true, probabilities, average="weighted", multi_class="ovr",
                                                 labels=labels)
    return {k: float(v) for k, v in values.items()}, labels


def regressor_metrics(y_true, y_pred) -> dict[str, float]:
    """MLflow's default regressor metrics.

    >>> regressor_metrics([1.0, 2.0, 4.0], [1.0, 3.0, 4.0])["max_error"]
    1.0
    """
    import numpy as np
    from sklearn import metrics as sk

    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    mse = sk.mean_squared_error(y_true, y_pred)
    total = float(np.sum(y_true))
    return {
        "example_count": float(len(y_true)),
        "mean_absolute_error": float(sk.mean_absolute_error(y_true, y_pred)),
        "mean_squared_error": float(mse),
        "root_mean_squared_error": math.sqrt(mse),
        "sum_on_target": total,
        "mean_on_target": total / len(y_true),
        "r2_score": float(sk.r2_score(y_true, y_pred)),
        "max_error": float(sk.max_error(y_true, y_pred)),
        "mean_absolute_percentage_error": float(sk.mean_absolute_percentage_error(y_true, y_pred)),
    }


def _per_class_rows(y_true, y_pred, labels) -> list[dict]:
    import numpy as np

    rows = []
    for label in labels:
        binary, _ = classifier_metrics(np.asarray(y_true) == label, np.asarray(y_pred) == label)
        rows.append({"positive_class": label, **binary})
    return rows


# -- plots -------------------------------------------------------------------------------------
def _figure():
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend, safe in threads

    figure = Figure(figsize=(6.0, 4.5), dpi=100)
    return figure, figure.add_subplot()


def _confusion_matrix_plot(y_true, y_pred, labels):
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y_true, y_pred, labels=labels, normalize="true")  # as MLflow: rows sum to 1
    figure, ax = _figure()
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=ax)
    ticks = range(len(labels))
    ax.set_xticks(ticks, [str(v) for v in labels])
    ax.set_yticks(ticks, [str(v) for v in labels])
    for i in ticks:
        for j in ticks:
            ax.text(j, i, f"{matrix[i, j]:.2g}", ha="center", va="center", color="white" if matrix[i, j] > 0.5 else "black")
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title("Normalized confusion matrix")
    return figure


def _curves(y_true, probabilities, labels, model, kind):
    """One (label, x, y, area) per curve: the positive class for two labels, one-vs-rest otherwise."""
    import numpy as np
    from sklearn import metrics as sk

    if len(labels) == 2:
        pairs = [(labels[-1], _positive_probabilities(model, probabilities, labels[-1]))]
    else:
        classes = list(getattr(model, "classes_", labels))
        pairs = [(label, probabilities[:, classes.index(label)]) for label in labels if label in classes]
    lines = []
    for label, score in pairs:
        truth = np.asarray(y_true) == label
        if kind == "roc":
            x, y, _ = sk.roc_curve(truth, score)
            lines.append((f"{label} AUC={sk.roc_auc_score(truth, score):.3f}", x, y))
        else:
            precision, recall, _ = sk.precision_recall_curve(truth, score)
            lines.append((f"{label} AP={sk.average_precision_score(truth, score):.3f}", recall, precision))
    return lines


def _curve_plot(lines, kind):
    figure, ax = _figure()
    for name, x, y in lines:
        ax.plot(x, y, drawstyle="steps-post", linewidth=1, label=name)
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="gray", alpha=0.3, linestyle="dashed")
        ax.set(xlabel="False Positive Rate", ylabel="True Positive Rate", title="ROC curve")
    else:
        ax.plot([0, 1], [1, 0], color="gray", alpha=0.3, linestyle="dashed")
        ax.set(xlabel="Recall", ylabel="Precision", title="Precision recall curve")
    ax.legend(loc="best", fontsize="small")
    return figure


def _calibration_plot(y_true, probabilities, labels, model):
    import numpy as np
    from sklearn.calibration import calibration_curve

    figure, ax = _figure()
    ax.plot([0, 1], [0, 1], color="gray", alpha=0.3, linestyle="dashed", label="Perfectly calibrated")
    targets = [labels[-1]] if len(labels) == 2 else labels
    classes = list(getattr(model, "classes_", labels))
    for label in targets:
        score = (_positive_probabilities(model, probabilities, label) if len(labels) == 2
                 else probabilities[:, classes.index(label)])
        fraction, mean_predicted = calibration_curve(np.asarray(y_true) == label, score, n_bins=10)
        ax.plot(mean_predicted, fraction, marker="o", linewidth=1, label=str(label))
    ax.set(xlabel="Mean predicted probability", ylabel="Fraction of positives", title="Calibration curve")
    ax.legend(loc="best", fontsize="small")
    return figure


def _residuals_plot(y_true, y_pred):
    import numpy as np

    figure, ax = _figure()
    residuals = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
    ax.scatter(y_pred, residuals, s=8, alpha=0.6)
    ax.axhline(0, color="gray", linestyle="dashed", alpha=0.5)
    ax.set(xlabel="Predicted value", ylabel="Residual (true - predicted)", title="Residuals")
    return figure


def _matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        warnings.warn("evaluate: matplotlib is not installed, so no plots were logged "
                      "(pip install 'duckml[plots]')", UserWarning, stacklevel=3)
        return False
    return True


# -- evaluate ----------------------------------------------------------------------------------
def evaluate(model=None, data=None, *, targets=None, model_type: str = "classifier", evaluators=None,
             predictions: str | None = None) -> EvaluationResult:
    """Evaluate a model on held-out data: MLflow's default metrics and plots, logged to the active run (or
    to a run started and ended here). ``model`` is an estimator or a model URI; with ``model=None``,
    ``predictions`` names the column of ``data`` holding them.

    >>> import duckml, numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
    >>> result = duckml.evaluate(LogisticRegression().fit(x, y), x, targets=y, model_type="classifier")
    >>> result.metrics["accuracy_score"], sorted(result.artifacts)[0]
    (1.0, 'calibration_curve_plot')
    """
    if model_type not in MODEL_TYPES:
        raise InvalidInputError(f"evaluate: model_type must be 'classifier' or 'regressor', got {model_type!r}")
    if evaluators not in (None, "default", ["default"], ("default",)):
        raise InvalidInputError(f"evaluate: only the 'default' evaluator exists in duckml, got evaluators={evaluators!r}")
    if data is None:
        raise InvalidInputError("evaluate needs data (a DataFrame with the targets column, or an array)")
    if model is None and predictions is None:
        raise InvalidInputError("evaluate needs a model (estimator or URI), or predictions= naming a column of data")
    model = _resolve_model(model)
    features, y_true, y_pred = _split(data, targets, predictions if model is None else None)
    if len(y_true) == 0:
        raise InvalidInputError("evaluate: data has no rows")
    started = fluent.active_run() is None
    active = fluent.start_run() if started else fluent.active_run()
    try:
        result = _evaluate_in_run(active.info.run_id, model, data, features, y_true, y_pred, model_type)
    except BaseException:
        if started:
            fluent.end_run("FAILED")
        raise
    if started:
        fluent.end_run()
    return result


def _evaluate_in_run(run_id, model, data, features, y_true, y_pred, model_type) -> EvaluationResult:
    if y_pred is None:
        y_pred = model.predict(features)
    probabilities = None
    if model is not None and model_type == "classifier" and hasattr(model, "predict_proba"):
        probabilities = model.predict_proba(features)
    figures, tables = {}, {}
    plots = _matplotlib_available()
    if model_type == "classifier":
        metrics, labels = classifier_metrics(y_true, y_pred, probabilities, model)
        if plots:
            figures["confusion_matrix"] = lambda: _confusion_matrix_plot(y_true, y_pred, labels)
            if probabilities is not None:
                figures["roc_curve_plot"] = lambda: _curve_plot(_curves(y_true, probabilities, labels, model, "roc"), "roc")
                figures["precision_recall_curve_plot"] = lambda: _curve_plot(
                    _curves(y_true, probabilities, labels, model, "pr"), "pr")
                figures["calibration_curve_plot"] = lambda: _calibration_plot(y_true, probabilities, labels, model)
        if len(labels) > 2:
            tables["per_class_metrics"] = _per_class_rows(y_true, y_pred, labels)
    else:
        metrics = regressor_metrics(y_true, y_pred)
        if plots:
            figures["residuals_plot"] = lambda: _residuals_plot(y_true, y_pred)
    if model is not None and hasattr(model, "score"):
        try:
            metrics["score"] = float(model.score(features, y_true))
        except Exception:  # a scorer that needs more than (X, y): MLflow skips it too
            pass
    fluent.log_metrics(metrics, run_id=run_id)
    artifacts = {}
    for name, draw in figures.items():
        path = f"{name}.png"
        log_figure(draw(), path, run_id=run_id)
        artifacts[name] = EvaluationArtifact(f"runs:/{run_id}/{path}", path)
    for name, rows in tables.items():
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        path = f"{name}.csv"
        log_text(buffer.getvalue(), path, run_id=run_id)
        artifacts[name] = EvaluationArtifact(f"runs:/{run_id}/{path}", path)
    _log_eval_dataset(data, run_id)
    return EvaluationResult(metrics, artifacts, run_id)


def _log_eval_dataset(data, run_id) -> None:
    """The held-out frame as the run's ``eval`` input, as MLflow logs it (arrays carry no name: skipped)."""
    if type(data).__module__.split(".")[0] not in ("pandas", "polars", "pyarrow"):
        return
    from duckml.tracking.datasets import log_input

    log_input(data, context="eval", run_id=run_id)
