"""``duckml.autolog()``: scikit-learn ``fit`` calls log themselves, with MLflow's sklearn autolog semantics.

What a patched ``fit`` does, as ``mlflow.sklearn.autolog`` does it:

- with no active run it starts one and ends it after ``fit`` (FAILED, and the exception re-raised as the
  very same object, when ``fit`` raises); with an active run it logs into that run and leaves it open;
- it logs ``get_params(deep=True)`` (``deep=False`` for a parameter search, whose seed estimator's untuned
  params would mislead), values longer than 6000 characters cut to 5997 plus ``...`` (MLflow 3's limit),
  the tags ``estimator_name`` / ``estimator_class``, the training metrics ``training_score`` and, for
  classifiers, ``training_{accuracy,precision,recall,f1}_score`` (weighted averages), ``training_log_loss``
  and ``training_roc_auc`` (where ``predict_proba`` exists), for regressors
  ``training_{mean_squared_error,root_mean_squared_error,mean_absolute_error,r2_score}``; the fitted model
  through ``duckml.log_model`` (signature and a 5-row input example) and the training data through
  ``duckml.log_input``;
- ``GridSearchCV`` / ``RandomizedSearchCV`` also log ``best_<param>`` params, the ``best_cv_score`` metric,
  the best estimator as ``best_estimator``, and one child run per candidate (its params and the aggregate
  ``cv_results_`` columns), the ``max_tuning_runs`` best-ranked ones by ``rank_test_score``.

Only the outermost ``fit`` of a thread logs: a per-thread depth counter keeps a pipeline's steps, a
meta-estimator's inner estimators and a search's refits silent. Logging problems never break training:
they become a warning. ``fit`` is patched on every class of ``sklearn.utils.all_estimators()`` (plus
``Pipeline`` and the searches) that defines it, minus the preprocessing modules MLflow leaves out; what
each class defined is kept, so ``autolog(disable=True)`` puts them back.
"""

from __future__ import annotations

from duckml.clock import utcnow

import functools
import inspect
import math
import threading
import warnings

MAX_PARAM_VALUE_LENGTH = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH in MLflow 3
MAX_KEY_LENGTH = 250
INPUT_EXAMPLE_ROWS = 5
AUTOLOG_TAG = "mlflow.autologging"
PARENT_TAG = "mlflow.parentRunId"
# Data-manipulation routines: a fit of a scaler alone is not an experiment (MLflow excludes the same).
_EXCLUDED_MODULES = ("sklearn.preprocessing", "sklearn.impute", "sklearn.feature_extraction",
                     "sklearn.feature_selection")
_EXCLUDED_CLASSES = ("sklearn.compose._column_transformer.ColumnTransformer",)


class _Config:
    enabled = False
    log_models = True
    log_datasets = True
    log_input_examples = True
    max_tuning_runs: int | None = 5
    registered_model_name: str | None = None
    silent = False


_config = _Config()
_patch_lock = threading.Lock()
_originals: dict[type, object] = {}  # class -> the fit it defined before patching, or _INHERITED
_INHERITED = object()


class _Depth(threading.local):
    value = 0


_depth = _Depth()


def autolog(disable: bool = False, log_models: bool = True, log_datasets: bool = True,
            log_input_examples: bool = True, max_tuning_runs: int | None = 5,
            registered_model_name: str | None = None, silent: bool = False) -> None:
    """Make every scikit-learn ``fit`` log a run (params, training metrics, model, dataset); undo with ``disable=True``.

    ``max_tuning_runs`` caps the child runs of a parameter search (``None``: all candidates);
    ``registered_model_name`` registers every logged model under that name; ``silent`` drops the
    warnings a failed logging step emits.

    >>> import duckml
    >>> from sklearn.linear_model import LinearRegression
    >>> duckml.autolog()
    >>> model = LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])  # doctest: +SKIP
    >>> duckml.last_active_run().data.metrics["training_r2_score"]  # doctest: +SKIP
    1.0
    >>> duckml.autolog(disable=True)
    """
    from duckml.errors import InvalidInputError

    if max_tuning_runs is not None and (isinstance(max_tuning_runs, bool) or not isinstance(max_tuning_runs, int)
                                        or max_tuning_runs < 0):
        raise InvalidInputError(f"max_tuning_runs must be a non-negative integer or None, got {max_tuning_runs!r}")
    if registered_model_name is not None:
        from duckml.models.uri import check_model_name

        check_model_name(registered_model_name)
    with _patch_lock:
        if disable:
            _config.enabled = False
            _unpatch_all()
            return
        _config.log_models, _config.log_datasets = bool(log_models), bool(log_datasets)
        _config.log_input_examples = bool(log_input_examples)
        _config.max_tuning_runs, _config.registered_model_name = max_tuning_runs, registered_model_name
        _config.silent = bool(silent)
        _patch_all()
        _config.enabled = True


def is_enabled() -> bool:
    """Whether ``autolog()`` is on (its patches are in place)."""
    return _config.enabled


# -- patching -------------------------------------------------------------------------------------------
def estimators_to_patch() -> list[type]:
    """The classes whose own ``fit`` autolog patches."""
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = {cls for _, cls in all_estimators()} | {GridSearchCV, RandomizedSearchCV, Pipeline}
    chosen = []
    for cls in found:
        qualified = f"{cls.__module__}.{cls.__name__}"
        if cls.__module__.startswith(_EXCLUDED_MODULES) or qualified in _EXCLUDED_CLASSES:
            continue
        if callable(getattr(cls, "fit", None)):
            chosen.append(cls)
    return sorted(chosen, key=lambda c: (c.__module__, c.__name__))


def _patch_all() -> None:
    # Each class gets its own wrapper, even when it inherits fit (GridSearchCV inherits BaseSearchCV's):
    # patching the defining base instead would also log the excluded classes that share it.
    for cls in estimators_to_patch():
        if cls not in _originals:
            _originals[cls] = cls.__dict__.get("fit", _INHERITED)
            setattr(cls, "fit", _patched(getattr(cls, "fit")))


def _unpatch_all() -> None:
    for cls, original in list(_originals.items()):
        if original is _INHERITED:
            delattr(cls, "fit")
        else:
            setattr(cls, "fit", original)
        del _originals[cls]


def _patched(original):
    @functools.wraps(original)
    def fit(self, *args, **kwargs):
        if not _config.enabled or _depth.value > 0:
            _depth.value += 1
            try:
                return original(self, *args, **kwargs)
            finally:
                _depth.value -= 1
        return _autologged_fit(original, self, args, kwargs)

    fit._duckml_autolog_original = original
    return fit


# -- one logged fit -------------------------------------------------------------------------------------
def _warn(what: str, error: BaseException) -> None:
    if not _config.silent:
        warnings.warn(f"duckml autolog: {what} failed and was skipped: {type(error).__name__}: {error}",
                      stacklevel=4)


@functools.lru_cache(maxsize=512)
def _fit_signature(original) -> inspect.Signature | None:
    try:
        return inspect.signature(original)
    except (TypeError, ValueError):
        return None


def _fit_arguments(original, estimator, args, kwargs) -> tuple:
    """(X, y, sample_weight) as passed to ``fit``, by name when the signature allows."""
    signature = _fit_signature(original)
    bound = {}
    if signature is not None:
        try:
            bound = signature.bind_partial(estimator, *args, **kwargs).arguments
        except TypeError:
            bound = {}
    names = list(signature.parameters)[1:3] if signature is not None else []
    x = bound.get(names[0]) if names else (args[0] if args else None)
    y = bound.get(names[1]) if len(names) > 1 else (args[1] if len(args) > 1 else None)
    return x, y, kwargs.get("sample_weight", bound.get("sample_weight"))


def _autologged_fit(original, estimator, args, kwargs):
    import duckml

    started = None
    run_id = None
    try:
        if duckml.active_run() is None:
            started = duckml.start_run(tags={AUTOLOG_TAG: "sklearn"})
        run_id = duckml.active_run().info.run_id
        x, y, sample_weight = _fit_arguments(original, estimator, args, kwargs)
    except Exception as error:  # no run to log into: train anyway
        _warn("starting a run", error)
        run_id = None
    _depth.value += 1
    try:
        if run_id is not None:
            _guarded("logging params and tags", _log_before_fit, run_id, estimator)
        try:
            result = original(estimator, *args, **kwargs)
        except BaseException:
            if started is not None:
                _guarded("ending the failed run", duckml.end_run, "FAILED")
            raise
        if run_id is not None:
            _guarded("logging the training results", _log_after_fit, run_id, estimator, x, y, sample_weight)
    finally:
        _depth.value -= 1
    if started is not None:
        _guarded("ending the run", duckml.end_run, "FINISHED")
    return result


def _guarded(what: str, function, *args) -> None:
    try:
        function(*args)
    except Exception as error:
        _warn(what, error)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def loggable_params(params: dict) -> dict[str, str]:
    """Params as MLflow autolog logs them: ``str`` values cut to 6000 characters, keys to 250.

    >>> loggable_params({"alpha": 0.5, "note": "x" * 7000})["note"][-4:]
    'x...'
    """
    return {_truncate(str(k), MAX_KEY_LENGTH): _truncate(str(v), MAX_PARAM_VALUE_LENGTH) for k, v in params.items()}


def _log_params(run_id: str, params: dict) -> None:
    from duckml.tracking import runs as tracking
    from duckml.errors import ParamConflictError

    params = loggable_params(params)
    try:
        tracking.log_params(run_id, params)
    except ParamConflictError:  # a second fit into the same run: keep what was logged first, as MLflow
        for key, value in params.items():
            try:
                tracking.log_params(run_id, {key: value})
            except ParamConflictError:
                pass


def _estimator_tags(estimator) -> dict[str, str]:
    cls = type(estimator)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}


def _is_search(estimator) -> bool:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    return isinstance(estimator, (GridSearchCV, RandomizedSearchCV))


def _log_before_fit(run_id: str, estimator) -> None:
    from duckml.tracking import runs as tracking

    _log_params(run_id, estimator.get_params(deep=not _is_search(estimator)))
    tracking.set_tags(run_id, _estimator_tags(estimator))


def _log_after_fit(run_id: str, estimator, x, y, sample_weight) -> None:
    from duckml.tracking import runs as tracking

    example = _input_example(x) if _config.log_input_examples else None
    if _config.log_models:
        _guarded("logging the model", _log_model, estimator, "model", example, _config.registered_model_name)
    dataset = None
    if _config.log_datasets and x is not None:
        dataset = _guarded_value("logging the training data", _log_dataset, run_id, x, y)
    metrics = training_metrics(estimator, x, y, sample_weight) if y is not None else {}
    if metrics:
        tracking.log_metrics(run_id, metrics)
    if _is_search(estimator):
        if _config.log_models and hasattr(estimator, "best_estimator_"):
            _guarded("logging the best estimator", _log_model, estimator.best_estimator_, "best_estimator",
                     example, None)
        if hasattr(estimator, "best_score_"):
            tracking.log_metrics(run_id, {"best_cv_score": float(estimator.best_score_)})
        if hasattr(estimator, "best_params_"):
            _log_params(run_id, {f"best_{k}": v for k, v in estimator.best_params_.items()})
        if hasattr(estimator, "cv_results_"):
            _log_child_runs(run_id, estimator, dataset)


def _guarded_value(what: str, function, *args):
    try:
        return function(*args)
    except Exception as error:
        _warn(what, error)
        return None


def _input_example(x):
    try:
        if hasattr(x, "iloc"):
            return x.iloc[:INPUT_EXAMPLE_ROWS]
        if hasattr(x, "head") and hasattr(x, "columns"):  # polars
            return x.head(INPUT_EXAMPLE_ROWS)
        if hasattr(x, "toarray"):  # scipy sparse: the example is small, densify it
            return x[:INPUT_EXAMPLE_ROWS].toarray()
        return x[:INPUT_EXAMPLE_ROWS]
    except Exception:
        return None


def _log_model(estimator, name: str, example, registered_model_name: str | None) -> None:
    import duckml

    duckml.log_model(estimator, name=name, input_example=example, registered_model_name=registered_model_name)


def _training_table(x, y):
    """The training data (features and, when one-dimensional, the target) as an Arrow table."""
    import numpy as np
    import pyarrow as pa

    if hasattr(x, "columns") and hasattr(x, "iloc"):  # pandas
        table = pa.Table.from_pandas(x, preserve_index=False)
    elif hasattr(x, "to_arrow"):  # polars
        table = x.to_arrow()
    else:
        array = np.asarray(x)
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2:
            raise TypeError(f"training data of shape {array.shape} is not a table")
        table = pa.table({f"x{i}": array[:, i] for i in range(array.shape[1])})
    if y is not None:
        target = np.asarray(y)
        if target.ndim == 1 and len(target) == table.num_rows:
            name = getattr(y, "name", None) or "target"
            if name in table.column_names:
                name = "target"
            if name not in table.column_names:
                table = table.append_column(str(name), pa.array(target))
    return table


def _log_dataset(run_id: str, x, y):
    import duckml

    if hasattr(x, "toarray"):  # sparse: densifying it to describe it could exhaust memory
        return None
    return duckml.log_input(_training_table(x, y), context="training", run_id=run_id)


# -- metrics --------------------------------------------------------------------------------------------
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
        if is_classifier(estimator):
            metrics.update(_classifier_metrics(estimator, x, y, sample_weight))
        elif is_regressor(estimator):
            metrics.update(_regressor_metrics(estimator, x, y, sample_weight))
        if hasattr(estimator, "score"):
            try:
                if "sample_weight" in inspect.signature(estimator.score).parameters:
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


# -- parameter searches ---------------------------------------------------------------------------------
def _child_rows(results: dict, max_runs: int | None) -> list[int]:
    """Candidate indices to log: all, or the ``max_runs`` best by rank (ties in candidate order)."""
    count = len(results.get("params", []))
    if max_runs is None:
        return list(range(count))
    rank_key = "rank_test_score" if "rank_test_score" in results else next(
        (k for k in results if k.startswith("rank_test_")), None)
    order = list(range(count)) if rank_key is None else sorted(range(count), key=lambda i: results[rank_key][i])
    return order[:max_runs]


def _log_child_runs(parent_run_id: str, search, dataset) -> None:
    import numbers

    from duckml.tracking import runs as tracking
    from duckml.store import get_store

    store = get_store()
    parent = tracking.get_run(parent_run_id, store)
    seed = search.estimator
    base_params = seed.get_params(deep=not _is_search(seed))
    results = search.cv_results_
    metric_keys = [k for k in results if not k.startswith(("param", "split"))]
    for index in _child_rows(results, _config.max_tuning_runs):
        tags = {AUTOLOG_TAG: "sklearn", PARENT_TAG: parent_run_id, **_estimator_tags(seed)}
        child = tracking.create_run(parent.info.experiment_id, tags=tags, parent_run_id=parent_run_id, store=store)
        # the search explored its candidates during the parent's fit: MLflow dates children from its start
        store.journal.update("runs", {"run_id": child.run_id, "start_time": parent.info.start_time})
        _log_params(child.run_id, {**base_params, **results["params"][index]})
        values = {}
        for key in metric_keys:
            value = results[key][index]
            if isinstance(value, numbers.Number) and not isinstance(value, bool):
                values[key] = float(value)
        if values:
            tracking.log_metrics(child.run_id, values)
        if dataset is not None:
            store.journal.insert("run_inputs", {"run_id": child.run_id, "dataset_id": dataset.dataset_id,
                                                "context": "training", "created_at": utcnow()})
        tracking.set_terminated(child.run_id, "FINISHED", store=store)
