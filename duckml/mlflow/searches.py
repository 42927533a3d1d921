"""``search_runs`` and ``search_experiments`` as MLflow answers them: MLflow's entities, and for runs by default
a pandas frame with MLflow's columns and dtypes (duckml's own ``search_runs`` stays Polars)."""

from __future__ import annotations

import duckml
from duckml.mlflow import config, convert
from duckml.mlflow.entities import Experiment, Run, ViewType
from duckml.mlflow.exceptions import MlflowException, mlflow_errors


def _strings(value) -> list[str] | None:
    if value is None:
        return None
    return [str(value)] if isinstance(value, (str, int)) else [str(v) for v in value]


def find_runs(experiment_ids=None, filter_string: str = "", run_view_type=ViewType.ACTIVE_ONLY,
              max_results: int | None = None, order_by=None, experiment_names=None) -> list[Run]:
    """MLflow ``Run`` entities of duckml's search."""
    found = duckml.search_runs(experiment_names=_strings(experiment_names), experiment_ids=_strings(experiment_ids),
                               filter_string=filter_string or "", order_by=order_by, max_results=max_results,
                               run_view_type=ViewType.name(run_view_type), output_format="list")
    return [convert.run(run) for run in found]


@mlflow_errors
def search_runs(experiment_ids=None, filter_string: str = "", run_view_type: int = ViewType.ACTIVE_ONLY,
                max_results: int = 100000, order_by=None, output_format: str = "pandas",
                search_all_experiments: bool = False, experiment_names=None):
    """MLflow's ``search_runs``: a pandas frame (``output_format="pandas"``) or a list of ``Run``. With no
    experiment given, it searches the active experiment, or every one with ``search_all_experiments=True``.

    >>> import duckml.mlflow as mlflow, tempfile, os
    >>> mlflow.set_tracking_uri(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with mlflow.start_run():
    ...     mlflow.log_metric("rmse", 0.5)
    >>> mlflow.search_runs()["metrics.rmse"].tolist()
    [0.5]
    """
    if output_format not in ("pandas", "list"):
        raise MlflowException(f"Unsupported output format: {output_format}. Supported string values are "
                              "'pandas' or 'list'", error_code="INVALID_PARAMETER_VALUE")
    config.ensure_store()
    if not experiment_ids and not experiment_names and not search_all_experiments:
        experiment_ids = [duckml.get_store().active_experiment_id or "0"]
    try:
        runs = find_runs(experiment_ids or None, filter_string, run_view_type, max_results, order_by,
                         experiment_names or None)
    except duckml.NotFoundError:
        if experiment_ids != ["0"] or experiment_names:
            raise
        runs = []  # MLflow's Default experiment always exists; duckml makes it on its first run
    if output_format == "list":
        return runs
    from duckml.mlflow.frames import runs_frame

    return runs_frame(runs)


@mlflow_errors
def search_experiments(view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = None,
                       filter_string: str | None = None, order_by=None) -> list[Experiment]:
    config.ensure_store()
    found = convert.experiments(view_type, filter_string, order_by)
    return found if max_results is None else found[:max_results]
