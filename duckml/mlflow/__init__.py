"""MLflow's API over duckml: a script written for MLflow runs after its imports become
``import duckml.mlflow as mlflow`` (and ``from duckml.mlflow.entities import …`` and so on).

It owns no state: every call goes to duckml's API and answers as MLflow does (MLflow's entities and
exceptions, pandas from ``search_runs``). pandas is imported only by the calls that return it. What
differs from MLflow is listed in ``duckml.mlflow.parity`` and ``docs/mlflow-parity.md``.

>>> import duckml.mlflow as mlflow, tempfile, os
>>> mlflow.set_tracking_uri(os.path.join(tempfile.mkdtemp(), "mlruns.duckdb"))
>>> _ = mlflow.set_experiment("quickstart")
>>> with mlflow.start_run(run_name="baseline") as run:
...     _ = mlflow.log_param("alpha", 0.5)
...     mlflow.log_metric("rmse", 0.42)
>>> mlflow.get_run(run.info.run_id).data.metrics
{'rmse': 0.42}
"""

from __future__ import annotations

import importlib

from duckml.mlflow.config import (get_registry_uri, get_tracking_uri, is_tracking_uri_set, set_registry_uri,
                                  set_tracking_uri)
from duckml.mlflow.exceptions import MlflowException
from duckml.mlflow.fluent import (ActiveRun, active_run, autolog, create_experiment, delete_experiment, delete_run,
                                  delete_tag, end_run, evaluate, flush_async_logging, get_artifact_uri,
                                  get_experiment, get_experiment_by_name, get_parent_run, get_run, last_active_run,
                                  load_table, log_artifact, log_artifacts, log_dict, log_figure, log_image,
                                  log_input, log_metric, log_metrics, log_param, log_params, log_table, log_text,
                                  set_experiment, set_experiment_tag, set_experiment_tags, set_tag, set_tags,
                                  set_terminated, start_run)
from duckml.mlflow.registry import (get_latest_versions, register_model, search_model_versions,
                                    search_registered_models, set_registered_model_alias)
from duckml.mlflow.searches import search_experiments, search_runs
from duckml.mlflow.tracking.client import MlflowClient
from duckml.version import __version__

_SUBMODULES = ("artifacts", "client", "config", "data", "entities", "exceptions", "models", "parity", "pyfunc",
               "sklearn", "tracking")


def load_model(model_uri: str):
    """duckml's own ``load_model`` (not in MLflow's top level): the fitted estimator behind a URI, as
    ``mlflow.sklearn.load_model`` gives it."""
    from duckml.mlflow.sklearn import load_model as load

    return load(model_uri)


def __getattr__(name: str):
    # mlflow.sklearn, mlflow.pyfunc … load on first use, as MLflow's lazy submodules do
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'duckml.mlflow' has no attribute {name!r}; see docs/mlflow-parity.md for "
                         "what duckml.mlflow covers")


__all__ = sorted([
    "ActiveRun", "MlflowClient", "MlflowException", "__version__", "active_run", "autolog", "create_experiment",
    "delete_experiment", "delete_run", "delete_tag", "end_run", "evaluate", "flush_async_logging",
    "get_artifact_uri", "get_experiment", "get_experiment_by_name", "get_latest_versions", "get_parent_run",
    "get_registry_uri", "get_run", "get_tracking_uri", "is_tracking_uri_set", "last_active_run", "load_model",
    "load_table", "log_artifact", "log_artifacts", "log_dict", "log_figure", "log_image", "log_input", "log_metric",
    "log_metrics", "log_param", "log_params", "log_table", "log_text", "register_model", "search_experiments",
    "search_model_versions", "search_registered_models", "search_runs", "set_experiment", "set_experiment_tag",
    "set_experiment_tags", "set_registered_model_alias", "set_registry_uri", "set_tag", "set_tags",
    "set_terminated", "set_tracking_uri", "start_run", *_SUBMODULES])
