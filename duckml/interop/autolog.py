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

- ``fit_transform`` and ``fit_predict`` log the same way (a PCA or KMeans fit is a run); an estimator
  without labels (a clusterer, a decomposition) still logs ``training_score`` when it has ``score``;
- the training data is logged as a dataset input with MLflow's context ``train`` *before* training, so a
  ``fit`` that fails still records what it was given;
- artifacts (``autolog_artifacts``): ``estimator.html``, ``training_confusion_matrix.png`` and, for binary
  classifiers, ``training_roc_curve.png`` and ``training_precision_recall_curve.png``; ``cv_results.csv`` for
  a search;
- post-training metrics (``autolog_post``): ``accuracy_score(y_test, model.predict(X_test))`` logs
  ``accuracy_score_X_test`` into the model's run, ``model.score(X_test, y_test)`` logs
  ``<Class>_score_X_test``, and the datasets predicted on are logged with the context ``eval``.

Only the outermost ``fit`` of a thread logs: a per-thread depth counter keeps a pipeline's steps, a
meta-estimator's inner estimators and a search's refits silent. Logging problems never break training:
they become a warning. ``fit``, ``fit_transform``, ``fit_predict``, the prediction methods and ``score`` are
patched on every class of ``sklearn.utils.all_estimators()`` (plus ``Pipeline`` and the searches) that has
them, minus the preprocessing modules MLflow leaves out, and the metric functions of ``sklearn.metrics`` on
that module; what each patched place held is kept, so ``autolog(disable=True)`` puts it back.
"""

from __future__ import annotations

from duckml.clock import utcnow

import functools
import inspect
import threading
import warnings

from duckml.interop import autolog_artifacts, autolog_post
from duckml.interop.training_metrics import training_metrics

MAX_PARAM_VALUE_LENGTH = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH in MLflow 3
MAX_KEY_LENGTH = 250
INPUT_EXAMPLE_ROWS = 5
AUTOLOG_TAG = "mlflow.autologging"
PARENT_TAG = "mlflow.parentRunId"
# Data-manipulation routines: a fit of a scaler alone is not an experiment (MLflow excludes the same).
_EXCLUDED_MODULES = ("sklearn.preprocessing", "sklearn.impute", "sklearn.feature_extraction",
                     "sklearn.feature_selection")
_EXCLUDED_CLASSES = ("sklearn.compose._column_transformer.ColumnTransformer",)
TRAINING_METHODS = ("fit", "fit_transform", "fit_predict")
DATASET_CONTEXT_TRAIN = "train"  # MLflow's mlflow.data.context for the data a fit was given
DATASET_CONTEXT_EVAL = "eval"  # ... and for data a fitted model predicted on


class _Config:
    enabled = False
    log_models = True
    log_datasets = True
    log_input_examples = True
    max_tuning_runs: int | None = 5
    registered_model_name: str | None = None
    silent = False
    log_post_training_metrics = True


_config = _Config()
_patch_lock = threading.Lock()
# (owner, attribute) -> what the owner held itself before patching, or _INHERITED. The owner is a class, the
# sklearn.metrics module, or one of scikit-learn's available_if descriptors (whose ``fn`` is patched, so
# that hasattr() keeps answering as scikit-learn decides).
_originals: dict[tuple[object, str], object] = {}
_INHERITED = object()


class _Depth(threading.local):
    value = 0


_depth = _Depth()


def autolog(disable: bool = False, log_models: bool = True, log_datasets: bool = True,
            log_input_examples: bool = True, max_tuning_runs: int | None = 5,
            registered_model_name: str | None = None, silent: bool = False,
            log_post_training_metrics: bool = True) -> None:
    """Make every scikit-learn ``fit`` log a run (params, training metrics, model, dataset); undo with ``disable=True``.

    ``max_tuning_runs`` caps the child runs of a parameter search (``None``: all candidates);
    ``registered_model_name`` registers every logged model under that name; ``silent`` drops the
    warnings a failed logging step emits; ``log_post_training_metrics`` follows metrics computed on the
    fitted model's predictions afterwards (``accuracy_score_X_test``).

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
            autolog_post.forget_all()
            return
        _config.log_models, _config.log_datasets = bool(log_models), bool(log_datasets)
        _config.log_input_examples = bool(log_input_examples)
        _config.max_tuning_runs, _config.registered_model_name = max_tuning_runs, registered_model_name
        _config.silent = bool(silent)
        _config.log_post_training_metrics = bool(log_post_training_metrics)
        _patch_all()
        _config.enabled = True


def is_enabled() -> bool:
    """Whether ``autolog()`` is on (its patches are in place)."""
    return _config.enabled


# -- patching -------------------------------------------------------------------------------------------
def estimators_to_patch() -> list[type]:
    """The classes whose ``fit`` (and ``fit_transform``, ``fit_predict``, predictions, ``score``) autolog patches."""
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


def _patch_method(cls: type, name: str, make_wrapper) -> None:
    try:
        raw = inspect.getattr_static(cls, name)
    except AttributeError:
        return
    if inspect.isfunction(raw):
        if (cls, name) not in _originals:
            _originals[(cls, name)] = cls.__dict__.get(name, _INHERITED)
            setattr(cls, name, make_wrapper(getattr(raw, "_duckml_autolog_original", raw)))
    elif inspect.isfunction(getattr(raw, "fn", None)) and hasattr(raw, "check"):  # sklearn's available_if
        if (raw, "fn") not in _originals:
            _originals[(raw, "fn")] = raw.fn
            raw.fn = make_wrapper(raw.fn)


def _patch_all() -> None:
    # Each class gets its own wrapper, even when it inherits fit (GridSearchCV inherits BaseSearchCV's):
    # patching the defining base instead would also log the excluded classes that share it.
    for cls in estimators_to_patch():
        for name in TRAINING_METHODS:
            _patch_method(cls, name, _patched)
        for name in autolog_post.PREDICT_METHODS:
            _patch_method(cls, name, _followed_prediction)
        _patch_method(cls, "score", _followed_score)
    import sklearn.metrics

    for name in autolog_post.metric_function_names():
        if (sklearn.metrics, name) not in _originals:
            original = getattr(sklearn.metrics, name)
            _originals[(sklearn.metrics, name)] = original
            setattr(sklearn.metrics, name, _followed_metric(original))


def _unpatch_all() -> None:
    for (owner, name), original in list(_originals.items()):
        if original is _INHERITED:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
        del _originals[(owner, name)]


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


def _following() -> bool:
    """Whether a prediction or metric call now is the user's own, after training (not one inside a fit)."""
    return (_config.enabled and _config.log_post_training_metrics and _depth.value == 0
            and not autolog_post.is_quiet())


def _followed_prediction(original):
    @functools.wraps(original)
    def predict(self, *args, **kwargs):
        if not _following() or autolog_post.run_of(self) is None:
            return original(self, *args, **kwargs)
        with autolog_post.quiet():
            result = original(self, *args, **kwargs)
        if args or kwargs:
            dataset = args[0] if args else next(iter(kwargs.values()))
            log_eval = _log_eval_dataset if _config.log_datasets else None
            _guarded("following a prediction", autolog_post.follow_prediction, self, dataset, result, log_eval)
        return result

    predict._duckml_autolog_original = original
    return predict


def _followed_score(original):
    @functools.wraps(original)
    def score(self, *args, **kwargs):
        if not _following() or autolog_post.run_of(self) is None:
            return original(self, *args, **kwargs)
        with autolog_post.quiet():
            value = original(self, *args, **kwargs)
        _guarded("logging a post-training score", autolog_post.log_score_call, _log_post_training_metric,
                 self, original, args, kwargs, value)
        return value

    score._duckml_autolog_original = original
    return score


def _followed_metric(original):
    @functools.wraps(original)
    def metric(*args, **kwargs):
        if not _following():
            return original(*args, **kwargs)
        with autolog_post.quiet():
            value = original(*args, **kwargs)
        _guarded("logging a post-training metric", autolog_post.log_metric_call, _log_post_training_metric,
                 original, args, kwargs, value)
        return value

    return metric


def _log_post_training_metric(run_id: str, key: str, value: float, call_info: dict) -> None:
    import duckml
    from duckml.tracking import runs as tracking

    tracking.log_metrics(run_id, {key: value})
    duckml.log_dict(call_info, "metric_info.json", run_id=run_id)


def _log_eval_dataset(run_id: str, dataset) -> None:
    import duckml

    if hasattr(dataset, "toarray"):
        return
    duckml.log_input(_training_table(dataset, None), context=DATASET_CONTEXT_EVAL, run_id=run_id)


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
            if _config.log_datasets and x is not None:  # before training, so a failed fit keeps it too
                _guarded("logging the training data", _log_dataset, run_id, x, y)
        try:
            result = original(estimator, *args, **kwargs)
        except BaseException:
            _training_datasets.pop(run_id, None)
            if started is not None:
                _guarded("ending the failed run", duckml.end_run, "FAILED")
            raise
        if run_id is not None:
            _guarded("logging the training results", _log_after_fit, run_id, estimator, x, y, sample_weight)
            autolog_post.remember_model(estimator, run_id)
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
    dataset = _training_datasets.pop(run_id, None)
    metrics = training_metrics(estimator, x, y, sample_weight) if x is not None else {}
    if metrics:
        tracking.log_metrics(run_id, metrics)
    _guarded("logging estimator.html", autolog_artifacts.log_estimator_html, run_id, estimator)
    if x is not None and y is not None:
        _guarded("logging the training plots", autolog_artifacts.log_training_plots, run_id, estimator, x, y,
                 sample_weight, _warn)
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
            _guarded("logging cv_results.csv", autolog_artifacts.log_cv_results, run_id, estimator)


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


_training_datasets: dict[str, object] = {}  # run id -> the dataset its fit was given (for the child runs)


def _log_dataset(run_id: str, x, y):
    import duckml

    if hasattr(x, "toarray"):  # sparse: densifying it to describe it could exhaust memory
        return None
    dataset = duckml.log_input(_training_table(x, y), context=DATASET_CONTEXT_TRAIN, run_id=run_id)
    _training_datasets[run_id] = dataset
    return dataset


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
                                                "context": DATASET_CONTEXT_TRAIN, "created_at": utcnow()})
        tracking.set_terminated(child.run_id, "FINISHED", store=store)
