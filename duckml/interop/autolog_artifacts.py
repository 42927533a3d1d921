"""The artifacts MLflow's sklearn autolog writes beside a fitted model, with its file names.

- ``estimator.html``: scikit-learn's own HTML diagram of the estimator (every fit);
- ``training_confusion_matrix.png`` (normalized over the true labels, every classifier), and for binary
  classifiers ``training_roc_curve.png`` and ``training_precision_recall_curve.png``, drawn on the training
  data with scikit-learn's display classes (these need matplotlib; without it they are skipped);
- ``cv_results.csv``: a parameter search's ``cv_results_``.

Figures are drawn on a ``matplotlib.figure.Figure`` of their own, never through pyplot, so autolog never
changes the user's backend or current figure.
"""

from __future__ import annotations

import importlib.util

TRAINING_PREFIX = "training_"


def plotting_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def log_estimator_html(run_id: str, estimator) -> None:
    import duckml
    from sklearn.utils import estimator_html_repr

    duckml.log_text(estimator_html_repr(estimator), "estimator.html", run_id=run_id)


def training_plots(estimator, x, y, sample_weight) -> dict[str, object]:
    """``{artifact file: figure}`` of a fitted classifier on its training data (empty for other estimators).

    >>> from sklearn.linear_model import LogisticRegression
    >>> x, y = [[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]
    >>> sorted(training_plots(LogisticRegression().fit(x, y), x, y, None))
    ['training_confusion_matrix.png', 'training_precision_recall_curve.png', 'training_roc_curve.png']
    """
    import numpy as np
    from sklearn.base import is_classifier

    if y is None or not is_classifier(estimator) or not plotting_available():
        return {}
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    def figure(title: str):
        fig = Figure(figsize=(6, 5))
        axes = fig.add_subplot()
        axes.set_title(title)
        return fig, axes

    plots = {}
    fig, axes = figure("Normalized confusion matrix")
    ConfusionMatrixDisplay.from_estimator(estimator, x, y, sample_weight=sample_weight, normalize="true",
                                          cmap="Blues", ax=axes, colorbar=True)
    plots[TRAINING_PREFIX + "confusion_matrix.png"] = fig
    if len(np.unique(np.asarray(y))) == 2:
        fig, axes = figure("ROC curve")
        RocCurveDisplay.from_estimator(estimator, x, y, sample_weight=sample_weight, ax=axes)
        plots[TRAINING_PREFIX + "roc_curve.png"] = fig
        fig, axes = figure("Precision recall curve")
        PrecisionRecallDisplay.from_estimator(estimator, x, y, sample_weight=sample_weight, ax=axes)
        plots[TRAINING_PREFIX + "precision_recall_curve.png"] = fig
    return plots


def log_training_plots(run_id: str, estimator, x, y, sample_weight, warn) -> None:
    import duckml

    for name, fig in training_plots(estimator, x, y, sample_weight).items():
        try:
            duckml.log_figure(fig, name, run_id=run_id)
        except Exception as error:
            warn(f"logging {name}", error)


def log_cv_results(run_id: str, search) -> None:
    import duckml
    import pandas as pd

    duckml.log_text(pd.DataFrame(search.cv_results_).to_csv(index=False), "cv_results.csv", run_id=run_id)
