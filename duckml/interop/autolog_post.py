"""Post-training metrics of ``duckml.autolog()``, with MLflow's rule for naming them.

After an autologged ``fit``, the model remembers its run. Its ``predict``/``predict_proba``/``transform``/
``predict_log_proba`` results remember the run and the *name of the variable* passed to them (``X_test``, found
in the outermost caller frame that holds it, as MLflow does); a ``sklearn.metrics`` function called on such a
result logs ``<function>_<dataset>`` into the run (``accuracy_score_X_test``), and ``model.score(X_test, y)``
logs ``<EstimatorClass>_score_X_test``. A second call of the same metric on the same run adds ``-2``, ``-3`` …
(``accuracy_score-2_X_test``); two different objects held by variables of the same name become ``X_test`` and
``X_test-2``. The calls that produced each key are kept in the run's ``metric_info.json`` artifact. Objects
derived from a prediction (a copy, a slice) are not followed, as in MLflow. Metric functions imported from
``sklearn.metrics`` before ``autolog()`` was called are the originals and log nothing.

>>> metric_key("accuracy_score", 0, "X_test"), metric_key("accuracy_score", 1, "X_test")
('accuracy_score_X_test', 'accuracy_score-2_X_test')
"""

from __future__ import annotations

import contextlib
import inspect
import numbers
import sys
import threading
import weakref
from collections import defaultdict

_EXCLUDED_METRIC_FUNCTIONS = ("check_scoring", "get_scorer", "make_scorer", "get_scorer_names")
PREDICT_METHODS = ("predict", "predict_proba", "transform", "predict_log_proba")
UNKNOWN_DATASET = "unknown_dataset"


class _Quiet(threading.local):
    depth = 0


_quiet = _Quiet()
_lock = threading.Lock()
_model_runs: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_results: dict[int, tuple[str, str]] = {}  # id(prediction) -> (run id, dataset name)
_datasets: dict = defaultdict(lambda: defaultdict(list))  # run -> name -> [id(dataset), ...]
_calls: dict = defaultdict(lambda: defaultdict(list))  # run -> metric name -> [(key, call), ...]
_logged_eval_inputs: set[tuple[str, int]] = set()


def metric_key(metric_name: str, call_index: int, dataset_name: str) -> str:
    """``{metric}[-{n}]_{dataset}``: MLflow's key for the ``call_index``-th (0-based) call of a metric."""
    return f"{with_index(metric_name, call_index)}_{dataset_name}"


def with_index(name: str, index: int) -> str:
    """``name`` for the first, ``name-2``, ``name-3`` … after it (``-`` cannot occur in a variable name)."""
    return name if index == 0 else f"{name}-{index + 1}"


@contextlib.contextmanager
def quiet():
    """Inside, metric calls and predictions are not followed (a score calling a metric, training metrics)."""
    _quiet.depth += 1
    try:
        yield
    finally:
        _quiet.depth -= 1


def is_quiet() -> bool:
    return _quiet.depth > 0


def remember_model(model, run_id: str) -> None:
    """An autologged fit's model: its later predictions and scores belong to ``run_id``."""
    try:
        _model_runs[model] = run_id
    except TypeError:  # not weak-referenceable: its predictions are not followed
        pass


def run_of(model) -> str | None:
    try:
        return _model_runs.get(model)
    except TypeError:
        return None


def forget_all() -> None:
    """Drop every followed model, prediction and call (``autolog(disable=True)``, ``reset_state``)."""
    with _lock:
        _model_runs.clear()
        _results.clear()
        _datasets.clear()
        _calls.clear()
        _logged_eval_inputs.clear()


def variable_name(value, fallback: str = UNKNOWN_DATASET) -> str:
    """The name bound to ``value`` in the outermost frame of this thread's stack that holds it.

    >>> X_holdout = [[1.0]]
    >>> variable_name(X_holdout)
    'X_holdout'
    >>> variable_name([[2.0]])
    'unknown_dataset'
    """
    found = None
    frame = sys._getframe(1)
    try:
        while frame is not None:
            for name, bound in list(frame.f_locals.items()):
                if bound is value and not name.startswith("_") and name.isidentifier():
                    found = name
                    break
            frame = frame.f_back
    finally:
        del frame
    return found or fallback


def _dataset_name(run_id: str, dataset) -> str:
    name = variable_name(dataset)
    with _lock:
        seen = _datasets[run_id][name]
        if id(dataset) not in seen:
            seen.append(id(dataset))
        return with_index(name, seen.index(id(dataset)))


def _forget_result(key: int) -> None:
    _results.pop(key, None)


def follow_prediction(model, dataset, result, log_dataset) -> None:
    """Remember that ``result`` came from ``model`` on ``dataset`` (its variable name), for later metrics."""
    run_id = run_of(model)
    if run_id is None:
        return
    name = _dataset_name(run_id, dataset)
    try:
        weakref.finalize(result, _forget_result, id(result))  # an id is reused once its object is gone
    except TypeError:
        return  # a plain float or tuple cannot be followed; MLflow cannot either
    with _lock:
        _results[id(result)] = (run_id, name)
        first_time = (run_id, id(dataset)) not in _logged_eval_inputs
        _logged_eval_inputs.add((run_id, id(dataset)))
    if first_time and log_dataset is not None:
        log_dataset(run_id, dataset)


def _describe(value) -> str:
    if value is None or isinstance(value, (str, bytes, numbers.Number, bool)):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return variable_name(value, fallback=f"<{type(value).__name__}>")


def call_command(function, owner, args, kwargs) -> str:
    """How a metric was called, with variable names for data: ``accuracy_score(y_true=y_test, y_pred=pred)``."""
    try:
        names = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        names = []
    if owner is not None and names:
        names = names[1:]
    parts = [f"{name}={_describe(value)}" for name, value in zip(names, args)]
    parts += [f"{name}={_describe(value)}" for name, value in kwargs.items()]
    prefix = f"{type(owner).__name__}.{function.__name__}" if owner is not None else function.__name__
    return f"{prefix}({', '.join(parts)})"


def _loggable(value) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool) and not isinstance(value, complex)


def _register_call(run_id: str, metric_name: str, dataset_name: str, command: str) -> tuple[str, dict]:
    with _lock:
        calls = _calls[run_id][metric_name]
        key = metric_key(metric_name, len(calls), dataset_name)
        calls.append((key, command))
        info = dict(sorted(entry for per_metric in _calls[run_id].values() for entry in per_metric))
    return key, info


def log_metric_call(log, function, args, kwargs, value) -> None:
    """A ``sklearn.metrics`` call returned ``value``: log it if an argument is a followed prediction."""
    if not _loggable(value):
        return
    for argument in list(args) + list(kwargs.values()):
        if argument is None or isinstance(argument, (str, numbers.Number)):
            continue
        with _lock:
            found = _results.get(id(argument))
        if found is not None:
            run_id, dataset_name = found
            key, info = _register_call(run_id, function.__name__, dataset_name,
                                       call_command(function, None, args, kwargs))
            log(run_id, key, float(value), info)
            return


def log_score_call(log, model, function, args, kwargs, value) -> None:
    """``model.score(X, y)`` returned ``value``: log ``<Class>_score_<X's name>`` into the model's run."""
    run_id = run_of(model)
    if run_id is None or not _loggable(value) or not (args or kwargs):
        return
    dataset = args[0] if args else next(iter(kwargs.values()))
    key, info = _register_call(run_id, f"{type(model).__name__}_score", _dataset_name(run_id, dataset),
                               call_command(function, model, args, kwargs))
    log(run_id, key, float(value), info)


def metric_function_names() -> list[str]:
    """The functions of ``sklearn.metrics`` that autolog follows (MLflow's list: no classes, no plot_*)."""
    from sklearn import metrics

    return [name for name in metrics.__all__
            if name not in _EXCLUDED_METRIC_FUNCTIONS and not name.startswith("plot_")
            and not inspect.isclass(getattr(metrics, name)) and callable(getattr(metrics, name))]
