"""The ``training_*`` metrics MLflow's sklearn autolog computes on a fitted estimator's training data."""

from __future__ import annotations

import inspect
import math
import warnings


def training_metrics(estimator, x, y, sample_weight=None) -> dict[str, float]:
    """The ``training_*`` metrics MLflow's sklearn autolog logs for a fitted estimator.

    >>> from sklearn.linear_model import LinearRegression
    >>> m = LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
    >>> sorted(training_metrics(m, [[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0]))[:2]
    ['training_mean_absolute_error', 'training_mean_squared_error']
    """
    from sklearn.base import is_classifier, is_regressor

    metrics: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined-metric warnings are the user's training data speaking
        if y is not None and is_classifier(estimator):
            metrics.update(_classifier_metrics(estimator, x, y, sample_weight))
        elif y is not None and is_regressor(estimator):
            metrics.update(_regressor_metrics(estimator, x, y, sample_weight))
        if hasattr(estimator, "score") and (y is not None or not (is_classifier(estimator)
                                                                  or is_regressor(estimator))):
            try:  # a clusterer or a decomposition scores without labels (KMeans, PCA), as in MLflow
                if sample_weight is not None and "sample_weight" in inspect.signature(estimator.score).parameters:
                    metrics["training_score"] = float(estimator.score(x, y, sample_weight=sample_weight))
                else:
                    metrics["training_score"] = float(estimator.score(x, y))
            except Exception:
                pass
    return metrics


def _try(metrics: dict, name: str, compute) -> None:
    try:
        metrics[name] = float(compute())
    except Exception:
        pass  # a metric undefined for this data (one class, multi-output…) is left out, as MLflow does


def _classifier_metrics(estimator, x, y, sample_weight) -> dict[str, float]:
    from sklearn import metrics as sk

    out: dict[str, float] = {}
    try:
        predicted = estimator.predict(x)
    except Exception:
        return out
    weights = {"sample_weight": sample_weight}
    _try(out, "training_precision_score",
         lambda: sk.precision_score(y, predicted, average="weighted", **weights))
    _try(out, "training_recall_score", lambda: sk.recall_score(y, predicted, average="weighted", **weights))
    _try(out, "training_f1_score", lambda: sk.f1_score(y, predicted, average="weighted", **weights))
    _try(out, "training_accuracy_score", lambda: sk.accuracy_score(y, predicted, normalize=True, **weights))
    if hasattr(estimator, "predict_proba"):
        try:
            proba = estimator.predict_proba(x)
        except Exception:
            return out
        labels = getattr(estimator, "classes_", None)
        _try(out, "training_log_loss", lambda: sk.log_loss(y, proba, labels=labels, **weights))
        if getattr(proba, "ndim", 0) == 2 and proba.shape[1] == 2:
            _try(out, "training_roc_auc", lambda: sk.roc_auc_score(y, proba[:, 1], **weights))
        else:
            _try(out, "training_roc_auc", lambda: sk.roc_auc_score(
                y, proba, average="weighted", multi_class="ovo", labels=labels, **weights))
    return out


def _regressor_metrics(estimator, x, y, sample_weight) -> dict[str, float]:
    from sklearn import metrics as sk

    out: dict[str, float] = {}
    try:
        predicted = estimator.predict(x)
    except Exception:
        return out
    weights = {"sample_weight": sample_weight, "multioutput": "uniform_average"}
    _try(out, "training_mean_squared_error", lambda: sk.mean_squared_error(y, predicted, **weights))
    if "training_mean_squared_error" in out:
        out["training_root_mean_squared_error"] = math.sqrt(out["training_mean_squared_error"])
    _try(out, "training_mean_absolute_error", lambda: sk.mean_absolute_error(y, predicted, **weights))
    _try(out, "training_r2_score", lambda: sk.r2_score(y, predicted, **weights))
    return dict(sorted(out.items()))


