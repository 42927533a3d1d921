"""What ``duckml.mlflow`` covers of MLflow 3.17.2, call by call, and how each call differs.

``tests/mlflow/test_parity.py`` keeps this table true: every call marked present exists in ``duckml.mlflow``
with MLflow's parameters in MLflow's order, every call marked missing does not, a ``pending`` call is
pending exactly while the duckml function it forwards to is absent, and ``docs/mlflow-parity.md`` is
``render()`` of this table.

Statuses: ``same`` (MLflow's behaviour), ``differs`` (works; the note says how it differs), ``pending``
(forwards to a duckml function not in this duckml yet), ``extra`` (not in MLflow's module; duckml offers it),
``missing`` (not in duckml.mlflow).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    call: str  # as a script writes it: mlflow.x, mlflow.sub.x, MlflowClient.x
    status: str
    note: str = ""
    needs: str | None = None  # "name" or "name:param" of duckml that a pending call forwards to


_S, _D, _P, _E, _M = "same", "differs", "pending", "extra", "missing"
_SYNC = "synchronous=False returns a finished RunOperations: every duckml call is durable on return"
_NO_PAGES = "one page with every match (token None)"

ENTRIES = [
    # -- tracking URI and experiments --
    Entry("mlflow.set_tracking_uri", _D, "a store path, `duckml:<path>` or a ducklake: spec, created on the spot; "
          "http(s)://, sqlite://, file:, databricks raise MlflowException naming `duckml import-mlflow`"),
    Entry("mlflow.get_tracking_uri", _S, "the URI given, else the path of the store in use"),
    Entry("mlflow.set_registry_uri", _D, "must name the tracking store: duckml keeps the registry in it"),
    Entry("mlflow.get_registry_uri", _S),
    Entry("mlflow.set_experiment", _S),
    Entry("mlflow.get_experiment", _S, "artifact_location is the store's artifact folder"),
    Entry("mlflow.get_experiment_by_name", _S),
    Entry("mlflow.create_experiment", _D, "artifact_location= raises: artifacts live in the store's folder"),
    Entry("mlflow.delete_experiment", _S),
    Entry("mlflow.set_experiment_tag", _S),
    Entry("mlflow.set_experiment_tags", _S),
    Entry("mlflow.search_experiments", _D, "the Default experiment is listed once a run went to it (MLflow "
          "makes it with the store)"),
    # -- runs --
    Entry("mlflow.start_run", _S, "log_system_metrics=True samples system/… metrics with MLflow's names every "
          "10 s (GPU through the gpu extra)", needs="start_run:log_system_metrics"),
    Entry("mlflow.end_run", _S),
    Entry("mlflow.active_run", _S),
    Entry("mlflow.last_active_run", _S),
    Entry("mlflow.get_run", _S, "run.info.artifact_uri is `runs:/<run_id>`"),
    Entry("mlflow.get_parent_run", _S),
    Entry("mlflow.delete_run", _S),
    Entry("mlflow.search_runs", _S, "pandas with MLflow's columns and dtypes, or output_format='list'"),
    Entry("mlflow.log_param", _S),
    Entry("mlflow.log_params", _S, _SYNC),
    Entry("mlflow.log_metric", _D, f"{_SYNC}; model_id= and dataset= are accepted, not recorded (no LoggedModel)"),
    Entry("mlflow.log_metrics", _D, f"{_SYNC}; model_id= and dataset= are accepted, not recorded"),
    Entry("mlflow.set_tag", _S, _SYNC),
    Entry("mlflow.set_tags", _S, _SYNC),
    Entry("mlflow.delete_tag", _S),
    Entry("mlflow.log_input", _D, "context defaults to 'training'; tags= and model= are not recorded"),
    Entry("mlflow.autolog", _D, "scikit-learn only; exclusive, log_model_signatures, log_traces, extra_tags and "
          "exclude_flavors are accepted without effect"),
    Entry("mlflow.flush_async_logging", _S, "duckml.flush(): everything logged is in the store file"),
    # -- artifacts --
    Entry("mlflow.log_artifact", _S),
    Entry("mlflow.log_artifacts", _S),
    Entry("mlflow.log_text", _S),
    Entry("mlflow.log_dict", _S),
    Entry("mlflow.log_figure", _D, "matplotlib figures; save_kwargs= raises"),
    Entry("mlflow.log_image", _D, "numpy arrays and PIL images, key=/step= series in MLflow 3's file layout; "
          "mlflow.Image objects are not accepted", needs="log_image"),
    Entry("mlflow.log_table", _D, "MLflow's JSON table artifact, appended on repeated calls; datetimes are "
          "written without MLflow's .000 milliseconds", needs="log_table"),
    Entry("mlflow.load_table", _S, "a pandas frame, as MLflow's", needs="load_table"),
    Entry("mlflow.get_artifact_uri", _D, "`runs:/<run_id>[/<path>]`, not a file location: every duckml call "
          "taking an artifact or model URI reads it"),
    Entry("mlflow.artifacts.download_artifacts", _D, "artifact_uri= takes `runs:/` and `models:/` URIs"),
    Entry("mlflow.artifacts.list_artifacts", _D, "artifact_uri= takes `runs:/` and `models:/` URIs"),
    Entry("mlflow.artifacts.load_text", _S),
    Entry("mlflow.artifacts.load_dict", _S),
    Entry("mlflow.artifacts.load_image", _S, "a PIL image (needs Pillow)"),
    # -- models and registry --
    Entry("mlflow.evaluate", _D, "MLflow's default classifier/regressor metrics and plots; no evaluator_config, "
          "extra_metrics or lift curve; a residuals plot for regressors; artifacts have .uri/.path, no .content",
          needs="evaluate"),
    Entry("mlflow.register_model", _S, "await_registration_for is moot: registration is synchronous"),
    Entry("mlflow.search_model_versions", _D, "filters on name, run_id, source_path, version_number, tags; a "
          "version's last_updated_timestamp is its creation time unless imported from MLflow"),
    Entry("mlflow.search_registered_models", _S, "filters on name and tags"),
    Entry("mlflow.get_latest_versions", _E, "MlflowClient.get_latest_versions at the top level"),
    Entry("mlflow.set_registered_model_alias", _E, "MlflowClient.set_registered_model_alias at the top level"),
    Entry("mlflow.set_terminated", _E, "MlflowClient.set_terminated at the top level"),
    Entry("mlflow.load_model", _E, "mlflow.sklearn.load_model at the top level"),
    Entry("mlflow.models.infer_signature", _D, "column (ColSpec) and tensor (TensorSpec) schemas from pandas, dicts "
          "and arrays, without MLflow's full type system"),
    Entry("mlflow.sklearn.log_model", _D, "model_uri is `runs:/<run_id>/<name>` (MLflow 3: `models:/<model_id>`); "
          "saved with skops, never pickled; conda/pip arguments have no use"),
    Entry("mlflow.sklearn.load_model", _D, "an autologged GridSearchCV (model) is refused: skops does not trust "
          "sklearn.metrics._scorer._PassthroughScorer; its best_estimator loads"),
    Entry("mlflow.sklearn.autolog", _S, "duckml.autolog with MLflow's arguments"),
    Entry("mlflow.pyfunc.load_model", _D, "scikit-learn models only; predict gives the estimator's own answer"),
    Entry("mlflow.pyfunc.spark_udf", _D, "raises: use duckml.spark.predict"),
    Entry("mlflow.data.from_pandas", _S),
    Entry("mlflow.data.from_numpy", _S, "columns f0, f1, …"),
    # -- MlflowClient --
    Entry("MlflowClient", _D, "tracking_uri= becomes the process's store (duckml has one store per process)"),
    Entry("MlflowClient.create_experiment", _D, "artifact_location= raises"),
    Entry("MlflowClient.get_experiment", _S),
    Entry("MlflowClient.get_experiment_by_name", _S),
    Entry("MlflowClient.search_experiments", _S, _NO_PAGES),
    Entry("MlflowClient.delete_experiment", _S),
    Entry("MlflowClient.restore_experiment", _S),
    Entry("MlflowClient.set_experiment_tag", _S),
    Entry("MlflowClient.create_run", _D, "start_time= raises: duckml stamps the start"),
    Entry("MlflowClient.get_run", _S),
    Entry("MlflowClient.get_parent_run", _S),
    Entry("MlflowClient.set_terminated", _S),
    Entry("MlflowClient.update_run", _D, "status only; name= raises"),
    Entry("MlflowClient.delete_run", _S),
    Entry("MlflowClient.restore_run", _S),
    Entry("MlflowClient.search_runs", _S, _NO_PAGES),
    Entry("MlflowClient.log_param", _S),
    Entry("MlflowClient.log_metric", _S, _SYNC),
    Entry("MlflowClient.log_batch", _S, _SYNC),
    Entry("MlflowClient.set_tag", _S),
    Entry("MlflowClient.delete_tag", _S),
    Entry("MlflowClient.get_metric_history", _S),
    Entry("MlflowClient.log_artifact", _S),
    Entry("MlflowClient.log_artifacts", _S),
    Entry("MlflowClient.log_text", _S),
    Entry("MlflowClient.log_dict", _S),
    Entry("MlflowClient.log_figure", _D, "matplotlib figures; save_kwargs= is ignored"),
    Entry("MlflowClient.list_artifacts", _S),
    Entry("MlflowClient.download_artifacts", _S),
    Entry("MlflowClient.create_registered_model", _S),
    Entry("MlflowClient.get_registered_model", _S),
    Entry("MlflowClient.search_registered_models", _S, _NO_PAGES),
    Entry("MlflowClient.update_registered_model", _S),
    Entry("MlflowClient.delete_registered_model", _S),
    Entry("MlflowClient.set_registered_model_tag", _S),
    Entry("MlflowClient.create_model_version", _S, "source is a `runs:/` or `models:/` URI with a model behind it"),
    Entry("MlflowClient.get_model_version", _S),
    Entry("MlflowClient.update_model_version", _S),
    Entry("MlflowClient.delete_model_version", _S),
    Entry("MlflowClient.set_model_version_tag", _S),
    Entry("MlflowClient.get_latest_versions", _S, "stages are those import-mlflow kept; a version registered in "
          "duckml is in stage 'None' (duckml moves aliases)"),
    Entry("MlflowClient.search_model_versions", _D, f"{_NO_PAGES}; last_updated_timestamp is the creation time "
          "unless imported from MLflow"),
    Entry("MlflowClient.set_registered_model_alias", _S),
    Entry("MlflowClient.delete_registered_model_alias", _S),
    Entry("MlflowClient.get_model_version_by_alias", _S),
    Entry("MlflowClient.get_model_version_download_uri", _D, "the version's `runs:/` source URI"),
    Entry("MlflowClient.transition_model_version_stage", _D, "raises: duckml has no stages; use aliases"),
    Entry("MlflowClient.rename_experiment", _M),
    Entry("MlflowClient.delete_experiment_tag", _M),
    Entry("MlflowClient.rename_registered_model", _M),
    Entry("MlflowClient.delete_registered_model_tag", _S),
    Entry("MlflowClient.delete_model_version_tag", _S),
    Entry("mlflow.search_logged_models", _M, "duckml has no LoggedModel entity"),
    Entry("mlflow.get_logged_model", _M),
    Entry("mlflow.pyfunc.log_model", _M, "custom python_function models would need pickling"),
    Entry("mlflow.start_span", _M, "tracing is not part of duckml"),
    Entry("mlflow.enable_system_metrics_logging", _M),
]

_STATUS_TEXT = {_S: "same", _D: "differs", _P: "pending", _E: "duckml extra", _M: "missing"}


def render(entries: list[Entry] = ENTRIES) -> str:
    """The table as Markdown (``docs/mlflow-parity.md``).

    >>> render([Entry("mlflow.log_param", "same")]).splitlines()[-1]
    '| `mlflow.log_param` | same |  |'
    """
    lines = ["# MLflow drop-in: parity with MLflow 3.17.2", "",
             "Generated from `duckml/mlflow/parity.py` by `tests/mlflow/test_parity.py` (which checks every row",
             "against `duckml.mlflow` and MLflow's signatures); do not edit by hand. `import duckml.mlflow as mlflow`",
             "runs MLflow scripts; the scripts in `tests/mlflow/scripts/` print the same as under MLflow.", "",
             "Every run also carries MLflow's tags `mlflow.runName`, `mlflow.user`, `mlflow.source.name`,",
             "`mlflow.source.type` (and `mlflow.parentRunId` on a child); `run.info.user_id` is `mlflow.user`.",
             "`MLFLOW_TRACKING_URI` is not read: choose the store with `set_tracking_uri` or `DUCKML_STORE`.", "",
             "| MLflow call | duckml.mlflow | difference |", "|---|---|---|"]
    lines += [f"| `{e.call}` | {_STATUS_TEXT[e.status]} | {e.note} |" for e in entries]
    return "\n".join(lines) + "\n"
