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
from duckml.fluent import (
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
    restore_run,
    set_experiment,
    set_tag,
    set_tags,
    start_run,
)
from duckml.store import Store, get_store, resolve_store_path, set_store
import duckml.lake  # noqa: E402,F401  registers the "ducklake:" store spec

__version__ = "0.1.0"


def connect(path=None) -> Store:
    """A handle on a store; ``.sql(query, params)`` returns a DuckDB relation (``.pl()`` for Polars).

    >>> import duckml, tempfile, os
    >>> store = duckml.connect(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> store.sql("SELECT count(*) FROM runs_overview").fetchone()
    (0,)
    """
    return get_store(path)


# Names implemented in modules that import heavier libraries are loaded on first use, so that
# `import duckml` stays fast and never imports scikit-learn or matplotlib.
_LAZY = {
    "search_runs": "duckml.search", "search_experiments": "duckml.search", "compare_runs": "duckml.search",
    "get_metric_histories": "duckml.search",
    "log_artifact": "duckml.artifacts", "log_artifacts": "duckml.artifacts", "log_text": "duckml.artifacts",
    "log_dict": "duckml.artifacts", "log_figure": "duckml.artifacts", "list_artifacts": "duckml.artifacts",
    "download_artifacts": "duckml.artifacts",
    "log_input": "duckml.datasets", "get_run_inputs": "duckml.datasets", "get_dataset_runs": "duckml.datasets",
    "gc": "duckml.cleanup",
    "log_model": "duckml.registry", "register_model": "duckml.registry", "load_model": "duckml.registry",
    "set_registered_model_alias": "duckml.registry", "delete_registered_model_alias": "duckml.registry",
    "get_model_version": "duckml.registry", "get_model_version_by_alias": "duckml.registry",
    "search_registered_models": "duckml.registry", "delete_model_version": "duckml.registry",
    "set_registered_model_tag": "duckml.registry", "set_model_version_tag": "duckml.registry",
    "update_registered_model": "duckml.registry", "update_model_version": "duckml.registry",
    "delete_registered_model": "duckml.registry", "resolve_model_uri": "duckml.registry",
    "predict": "duckml.prediction",
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
        "ActiveRun", "Experiment", "LifecycleStage", "Run", "RunData", "RunInfo", "RunStatus", "Store",
        "DuckmlError", "FilterSyntaxError", "InvalidInputError", "InvalidModelURIError", "InvalidNameError",
        "NotFoundError", "ParamConflictError", "QueryError", "RunStateError", "SchemaError", "StoreError",
        "StoreLockedError", "UnsafePathError", "UntrustedModelError",
        "active_run", "connect", "create_experiment", "delete_experiment", "delete_run", "delete_tag", "end_run",
        "flush", "get_experiment_by_name", "get_metric_history", "get_run", "get_store", "last_active_run",
        "log_metric", "log_metric_series", "log_metrics", "log_param", "log_params", "resolve_store_path",
        "restore_experiment", "restore_run", "set_experiment", "set_store", "set_tag", "set_tags", "start_run",
    ]
    + list(_LAZY)
)
