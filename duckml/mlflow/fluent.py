"""MLflow's fluent tracking API, answering with MLflow's entities, over duckml's fluent API.

Every function keeps MLflow's signature (argument order included: ``log_metric(key, value, step,
synchronous, timestamp, run_id)``) and raises ``MlflowException``. duckml writes each call to its journal
before returning, so ``synchronous=False`` has nothing to wait for: it gives a finished ``RunOperations``.
"""

from __future__ import annotations

import weakref

import duckml
from duckml.mlflow import config, convert
from duckml.mlflow.entities import Experiment, Run
from duckml.mlflow.exceptions import MlflowException, mlflow_errors

_wrappers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class RunOperations:
    """What MLflow's asynchronous logging returns; duckml's calls are durable on return, so ``wait`` is done."""

    def __init__(self, operation_futures=None):
        self._operation_futures = list(operation_futures or [])

    def wait(self) -> None:
        return None


def _result(synchronous):
    return RunOperations() if synchronous is False else None


class ActiveRun(Run):
    """The run ``start_run`` returned: an MLflow ``Run`` (as stored when it started) and a context manager that
    ends it FINISHED, or FAILED when an exception leaves the block."""

    def __init__(self, active):
        stored = convert.run(duckml.get_run(active.run_id))
        super().__init__(stored.info, stored.data, load_inputs=convert.run_inputs)
        self._active = active

    def __enter__(self) -> "ActiveRun":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        return self._active.__exit__(exc_type, exc, tb)


def _wrap(active) -> ActiveRun | None:
    if active is None:
        return None
    found = _wrappers.get(active)
    if found is None:
        found = _wrappers[active] = ActiveRun(active)
    return found


def _active_experiment_id() -> str:
    """MLflow's ``_get_experiment_id``: the experiment set, else the Default one (id ``"0"``)."""
    return duckml.get_store().active_experiment_id or "0"


def _no_tracing(trace_location) -> None:
    if trace_location is not None:
        raise MlflowException("trace_location is not supported: tracing is not part of duckml",
                              error_code="INVALID_PARAMETER_VALUE")


# -- experiments ---------------------------------------------------------------------------------------
def _experiment(experiment_id) -> Experiment:
    config.ensure_store()
    found = convert.experiment_by_id(experiment_id)
    if found is None:
        raise MlflowException(f"No Experiment with id={experiment_id} exists", error_code="RESOURCE_DOES_NOT_EXIST")
    return found


@mlflow_errors
def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None,
                   trace_location=None) -> Experiment:
    """Make an experiment active (created by name if missing) and return it as MLflow's ``Experiment``."""
    _no_tracing(trace_location)
    return _experiment(duckml.set_experiment(experiment_name, experiment_id).experiment_id)


@mlflow_errors
def get_experiment(experiment_id: str) -> Experiment:
    """The experiment with this id; ``MlflowException`` (RESOURCE_DOES_NOT_EXIST) if there is none."""
    return _experiment(experiment_id)


@mlflow_errors
def get_experiment_by_name(name: str) -> Experiment | None:
    config.ensure_store()  # MLflow makes its store on first use, a read included
    found = duckml.get_experiment_by_name(name)
    return None if found is None else _experiment(found.experiment_id)


@mlflow_errors
def create_experiment(name: str, artifact_location: str | None = None, tags: dict | None = None,
                      trace_location=None) -> str:
    """Create an experiment and return its id; an existing name is an error, as in MLflow."""
    _no_tracing(trace_location)
    config.ensure_store()
    if duckml.get_experiment_by_name(name) is not None:
        raise MlflowException(f"Experiment(name={name}) already exists.", error_code="RESOURCE_ALREADY_EXISTS")
    if artifact_location is not None:
        raise MlflowException("artifact_location is not supported: duckml keeps every artifact in the store's "
                              "artifact folder", error_code="INVALID_PARAMETER_VALUE")
    return duckml.create_experiment(name, tags=tags)


@mlflow_errors
def delete_experiment(experiment_id: str) -> None:
    duckml.delete_experiment(str(experiment_id))


@mlflow_errors
def set_experiment_tags(tags: dict) -> None:
    """Set tags on the active experiment."""
    experiment = _experiment(_active_experiment_id())
    duckml.create_experiment(experiment.name, tags=tags)  # an existing experiment gets the tags


def set_experiment_tag(key: str, value) -> None:
    set_experiment_tags({key: value})


# -- runs ------------------------------------------------------------------------------------------------
@mlflow_errors
def start_run(run_id: str | None = None, experiment_id: str | None = None, run_name: str | None = None,
              nested: bool = False, parent_run_id: str | None = None, tags: dict | None = None,
              description: str | None = None, log_system_metrics: bool | None = None) -> ActiveRun:
    """MLflow's ``start_run``; ``log_system_metrics`` goes to duckml's system metrics sampler."""
    kwargs = dict(run_id=run_id, experiment_id=None if experiment_id is None else str(experiment_id),
                  run_name=run_name, nested=nested, tags=tags, description=description,
                  parent_run_id=parent_run_id)
    if log_system_metrics is not None:
        import inspect

        if "log_system_metrics" in inspect.signature(duckml.start_run).parameters:
            kwargs["log_system_metrics"] = log_system_metrics
        elif log_system_metrics:
            raise MlflowException("start_run(log_system_metrics=True) needs duckml's system metrics sampler, "
                                  "which this duckml version does not have", error_code="INVALID_STATE")
    return _wrap(duckml.start_run(**kwargs))


@mlflow_errors
def end_run(status: str = "FINISHED") -> None:
    duckml.end_run(status)


def active_run() -> ActiveRun | None:
    return _wrap(duckml.active_run())


@mlflow_errors
def last_active_run() -> Run | None:
    found = duckml.last_active_run()
    return None if found is None else convert.run(found)


@mlflow_errors
def get_run(run_id: str) -> Run:
    return convert.run(duckml.get_run(run_id))


@mlflow_errors
def get_parent_run(run_id: str) -> Run | None:
    parent = duckml.get_run(run_id).info.parent_run_id
    return None if parent is None else convert.run(duckml.get_run(parent))


@mlflow_errors
def delete_run(run_id: str) -> None:
    duckml.delete_run(run_id)


@mlflow_errors
def set_terminated(run_id: str, status: str | None = "FINISHED", end_time: int | None = None) -> None:
    """End a run by id (``MlflowClient.set_terminated``); ``end_time`` in ms since the epoch."""
    from datetime import datetime, timezone

    from duckml.tracking import set_terminated as terminate

    moment = None if end_time is None else datetime.fromtimestamp(end_time / 1000, timezone.utc).replace(tzinfo=None)
    terminate(run_id, status or "FINISHED", end_time=moment)


# -- logging ---------------------------------------------------------------------------------------------
@mlflow_errors
def log_param(key: str, value, synchronous: bool | None = None):
    return duckml.log_param(key, value)


@mlflow_errors
def log_params(params: dict, synchronous: bool | None = None, run_id: str | None = None):
    duckml.log_params(params, run_id=run_id)
    return _result(synchronous)


@mlflow_errors
def log_metric(key: str, value, step: int | None = None, synchronous: bool | None = None,
               timestamp: int | None = None, run_id: str | None = None, model_id=None, dataset=None):
    duckml.log_metric(key, value, step=step, timestamp=timestamp, run_id=run_id)
    return _result(synchronous)


@mlflow_errors
def log_metrics(metrics: dict, step: int | None = None, synchronous: bool | None = None, run_id: str | None = None,
                timestamp: int | None = None, model_id=None, dataset=None):
    duckml.log_metrics(metrics, step=step, timestamp=timestamp, run_id=run_id)
    return _result(synchronous)


@mlflow_errors
def set_tag(key: str, value, synchronous: bool | None = None):
    duckml.set_tag(key, value)
    return _result(synchronous)


@mlflow_errors
def set_tags(tags: dict, synchronous: bool | None = None):
    duckml.set_tags(tags)
    return _result(synchronous)


@mlflow_errors
def delete_tag(key: str) -> None:
    duckml.delete_tag(key)


@mlflow_errors
def log_artifact(local_path, artifact_path: str | None = None, run_id: str | None = None) -> None:
    duckml.log_artifact(local_path, artifact_path, run_id=run_id)


@mlflow_errors
def log_artifacts(local_dir, artifact_path: str | None = None, run_id: str | None = None) -> None:
    duckml.log_artifacts(local_dir, artifact_path, run_id=run_id)


@mlflow_errors
def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    duckml.log_text(text, artifact_file, run_id=run_id)


@mlflow_errors
def log_dict(dictionary, artifact_file: str, run_id: str | None = None) -> None:
    duckml.log_dict(dictionary, artifact_file, run_id=run_id)


@mlflow_errors
def log_figure(figure, artifact_file: str, *, save_kwargs: dict | None = None) -> None:
    if save_kwargs:
        raise MlflowException("log_figure(save_kwargs=...) is not supported by duckml; save the figure yourself "
                              "and log_artifact the file", error_code="INVALID_PARAMETER_VALUE")
    duckml.log_figure(figure, artifact_file)


def forward(name: str, *args, **kwargs):
    """Call ``duckml.<name>`` looked up at call time, with one clear error when this duckml lacks it."""
    function = getattr(duckml, name, None)
    if function is None:
        raise MlflowException(f"duckml.{name} is not available in this duckml version, so mlflow.{name} "
                              "cannot run", error_code="INVALID_STATE")
    return mlflow_errors(function)(*args, **kwargs)


def log_image(image, artifact_file: str | None = None, key: str | None = None, step: int | None = None,
              timestamp: int | None = None, synchronous: bool | None = False) -> None:
    """An image (numpy array or PIL image) as a file, or with ``key``/``step`` as a series (``duckml.log_image``)."""
    forward("log_image", image, artifact_file, key=key, step=step, timestamp=timestamp)


def log_table(data, artifact_file: str, run_id: str | None = None) -> None:
    """A dict of columns or a DataFrame as MLflow's JSON table artifact (``duckml.log_table``)."""
    if run_id is None:
        forward("log_table", data, artifact_file)
    else:
        forward("log_table", data, artifact_file, run_id=run_id)


def load_table(artifact_file: str, run_ids: list | None = None, extra_columns: list | None = None):
    """The table artifacts of these runs (default: all) as one pandas frame, as MLflow's ``load_table``."""
    if extra_columns:
        table = forward("load_table", artifact_file, run_ids=run_ids, extra_columns=extra_columns)
    else:
        table = forward("load_table", artifact_file, run_ids=run_ids)
    from_frame_library = type(table).__module__.startswith(("polars", "pyarrow"))
    return table.to_pandas() if from_frame_library and hasattr(table, "to_pandas") else table


def evaluate(model=None, data=None, *, model_type=None, targets=None, **kwargs):
    """MLflow's default evaluation of a classifier or regressor on held-out data (``duckml.evaluate``)."""
    return forward("evaluate", model, data, targets=targets, model_type=model_type, **kwargs)


@mlflow_errors
def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The artifact URI of the active run (one is started if none is), or of a path inside it."""
    run_id = duckml.active_run().run_id if duckml.active_run() else duckml.start_run().run_id
    root = convert.artifact_uri(run_id)
    return root if not artifact_path else f"{root}/{artifact_path.strip('/')}"


@mlflow_errors
def log_input(dataset=None, context: str | None = None, tags: dict | None = None, model=None) -> None:
    """A dataset as an input of the active run; ``dataset`` comes from ``duckml.mlflow.data.from_pandas`` &co
    (or is a frame or a file path, as ``duckml.log_input`` takes)."""
    source = getattr(dataset, "duckml_source", dataset)
    name = getattr(dataset, "name", None)
    duckml.log_input(source, name=name, context=context or "training")


@mlflow_errors
def autolog(log_input_examples: bool = False, log_model_signatures: bool = True, log_models: bool = True,
            log_datasets: bool = True, log_traces: bool = True, disable: bool = False, exclusive: bool = False,
            disable_for_unsupported_versions: bool = False, silent: bool = False, extra_tags: dict | None = None,
            exclude_flavors: list | None = None) -> None:
    """duckml's scikit-learn autolog with MLflow's switches (the ones about other flavours, traces and
    signatures have nothing to act on in duckml and are accepted as they are)."""
    duckml.autolog(disable=disable, log_models=log_models, log_datasets=log_datasets,
                   log_input_examples=log_input_examples, silent=silent)


def flush_async_logging() -> None:
    duckml.flush()
