"""duckml: an embedded, SQL-first experiment tracker and model registry in one DuckDB file.

>>> import duckml
>>> with duckml.start_run(run_name="baseline"):
...     _ = duckml.log_param("model", "ridge")
...     duckml.log_metric("rmse", 0.42)
"""

from __future__ import annotations

from duckml.entities import Experiment, LifecycleStage, Run, RunData, RunInfo, RunStatus
from duckml.errors import (
    DuckmlError,
    FilterSyntaxError,
    InvalidInputError,
    InvalidModelURIError,
    InvalidNameError,
    NotFoundError,
    ParamConflictError,
    QueryError,
    RunStateError,
    SchemaError,
    StoreError,
    StoreLockedError,
    UnsafePathError,
    UntrustedModelError,
)
from duckml.tracking.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_run,
    delete_tag,
    end_run,
    flush,
    get_experiment_by_name,
    get_metric_history,
    get_run,
    last_active_run,
    log_metric,
    log_metric_series,
    log_metrics,
    log_param,
    log_params,
    restore_experiment,
    reset_state,
    restore_run,
    set_experiment,
    set_tag,
    set_tags,
    start_run,
)
from duckml.connection import Connection, connect
from duckml.store import Store, get_store, reset_stores, resolve_store_path, set_store

from duckml.version import __version__


# Names implemented in modules that import heavier libraries are loaded on first use, so that
# `import duckml` stays fast and never imports scikit-learn or matplotlib.
_LAZY = {
    "search_runs": "duckml.search.queries", "search_experiments": "duckml.search.queries", "compare_runs": "duckml.search.queries",
    "get_metric_histories": "duckml.search.queries",
    "log_artifact": "duckml.tracking.artifacts", "log_artifacts": "duckml.tracking.artifacts", "log_text": "duckml.tracking.artifacts",
    "log_dict": "duckml.tracking.artifacts", "log_figure": "duckml.tracking.artifacts", "list_artifacts": "duckml.tracking.artifacts",
    "download_artifacts": "duckml.tracking.artifacts",
    "log_input": "duckml.tracking.datasets", "get_run_inputs": "duckml.tracking.datasets", "get_dataset_runs": "duckml.tracking.datasets",
    "gc": "duckml.tracking.cleanup",
    "log_model": "duckml.models.registry", "register_model": "duckml.models.registry", "load_model": "duckml.models.registry",
    "set_registered_model_alias": "duckml.models.registry", "delete_registered_model_alias": "duckml.models.registry",
    "get_model_version": "duckml.models.registry", "get_model_version_by_alias": "duckml.models.registry",
    "search_registered_models": "duckml.models.registry", "delete_model_version": "duckml.models.registry",
    "set_registered_model_tag": "duckml.models.registry", "set_model_version_tag": "duckml.models.registry",
    "update_registered_model": "duckml.models.registry", "update_model_version": "duckml.models.registry",
    "delete_registered_model": "duckml.models.registry", "resolve_model_uri": "duckml.models.registry",
    "predict": "duckml.scoring.prediction",
}


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'duckml' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


__all__ = sorted(
    [
        "ActiveRun", "Connection", "Experiment", "LifecycleStage", "Run", "RunData", "RunInfo", "RunStatus", "Store",
        "DuckmlError", "FilterSyntaxError", "InvalidInputError", "InvalidModelURIError", "InvalidNameError",
        "NotFoundError", "ParamConflictError", "QueryError", "RunStateError", "SchemaError", "StoreError",
        "StoreLockedError", "UnsafePathError", "UntrustedModelError",
        "active_run", "connect", "create_experiment", "delete_experiment", "delete_run", "delete_tag", "end_run",
        "flush", "get_experiment_by_name", "get_metric_history", "get_run", "get_store", "last_active_run",
        "log_metric", "log_metric_series", "log_metrics", "log_param", "log_params", "reset_state", "reset_stores",
        "resolve_store_path",
        "restore_experiment", "restore_run", "set_experiment", "set_store", "set_tag", "set_tags", "start_run",
    ]
    + list(_LAZY)
)
