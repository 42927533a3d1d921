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
    ModelNotCompilableError,
    NotFoundError,
    ParamConflictError,
    QueryError,
    RunStateError,
    SchemaError,
    StoreError,
    StoreLockedError,
    StoreNotFoundError,
    UnsafePathError,
    UntrustedModelError,
)
from duckml.version import __version__

# Every name is loaded from its package on first use, so that `import duckml` costs milliseconds and a
# command pays only for the layers it touches (never scikit-learn or matplotlib unless it scores or plots).
_FLUENT = ("ActiveRun", "active_run", "create_experiment", "delete_experiment", "delete_run", "delete_tag",
           "end_run", "flush", "get_experiment_by_name", "get_metric_history", "get_run", "last_active_run",
           "log_metric", "log_metric_series", "log_metrics", "log_param", "log_params", "rename_run",
           "reset_state", "restore_experiment", "restore_run", "set_experiment", "set_tag", "set_tags", "start_run")
_LAZY = {
    **{name: "duckml.tracking.fluent" for name in _FLUENT},
    "Connection": "duckml.connection", "connect": "duckml.connection",
    "Store": "duckml.store", "get_store": "duckml.store", "reset_stores": "duckml.store",
    "resolve_store_path": "duckml.store", "set_store": "duckml.store",
    "search_runs": "duckml.search.queries", "search_experiments": "duckml.search.queries", "compare_runs": "duckml.search.queries",
    "get_metric_histories": "duckml.search.queries",
    "log_artifact": "duckml.tracking.artifacts", "log_artifacts": "duckml.tracking.artifacts", "log_text": "duckml.tracking.artifacts",
    "log_dict": "duckml.tracking.artifacts", "log_figure": "duckml.tracking.artifacts", "list_artifacts": "duckml.tracking.artifacts",
    "download_artifacts": "duckml.tracking.artifacts",
    "log_image": "duckml.tracking.media", "log_table": "duckml.tracking.media", "load_table": "duckml.tracking.media",
    "log_input": "duckml.tracking.datasets", "get_run_inputs": "duckml.tracking.datasets", "get_dataset_runs": "duckml.tracking.datasets",
    "gc": "duckml.tracking.cleanup",
    "log_model": "duckml.models.registry", "register_model": "duckml.models.registry", "load_model": "duckml.models.registry",
    "set_registered_model_alias": "duckml.models.registry", "delete_registered_model_alias": "duckml.models.registry",
    "get_model_version": "duckml.models.registry", "get_model_version_by_alias": "duckml.models.registry",
    "search_registered_models": "duckml.models.registry", "delete_model_version": "duckml.models.registry",
    "set_registered_model_tag": "duckml.models.registry", "set_model_version_tag": "duckml.models.registry",
    "delete_registered_model_tag": "duckml.models.registry", "delete_model_version_tag": "duckml.models.registry",
    "update_registered_model": "duckml.models.registry", "update_model_version": "duckml.models.registry",
    "delete_registered_model": "duckml.models.registry", "resolve_model_uri": "duckml.models.registry",
    "predict": "duckml.scoring.prediction",
    "compile_model": "duckml.models.compiled",
    "autolog": "duckml.interop.autolog",
    "evaluate": "duckml.interop.evaluation",
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
        "Experiment", "LifecycleStage", "Run", "RunData", "RunInfo", "RunStatus",
        "DuckmlError", "FilterSyntaxError", "InvalidInputError", "InvalidModelURIError", "InvalidNameError",
        "NotFoundError", "ParamConflictError", "QueryError", "RunStateError", "SchemaError", "StoreError",
        "StoreLockedError", "StoreNotFoundError", "UnsafePathError", "UntrustedModelError", "ModelNotCompilableError",
    ]
    + list(_LAZY)
)


def __dir__():
    return __all__
