"""``MlflowClient``: MLflow's low-level API on explicit run ids and model names, over duckml's store.

Every method keeps MLflow's signature and answers with MLflow's entities (``PagedList`` for searches, a
``list[Metric]`` for a history); errors are ``MlflowException``. Searches return every match in one page
(``token`` is None): duckml reads its store locally, so there is nothing to page over.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

import duckml
from duckml.mlflow import config, convert, fluent, registry, searches
from duckml.mlflow.entities import (Experiment, FileInfo, Metric, ModelVersion, PagedList, RegisteredModel, Run,
                                    ViewType)
from duckml.mlflow.exceptions import MlflowException, mlflow_errors


def _client_methods(cls):
    """Every public method raises MLflow's exceptions."""
    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_"):
            setattr(cls, name, mlflow_errors(value))
    return cls


def _moment(ms: int | None):
    return None if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc).replace(tzinfo=None)


@_client_methods
class MlflowClient:
    """MLflow's client. ``tracking_uri`` chooses the store as ``set_tracking_uri`` does (it becomes the process's
    store: duckml has one store per process); MLflow's servers and databases raise, naming
    ``duckml import-mlflow``.
    """

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None,
                 workspace_store_uri: str | None = None):
        if workspace_store_uri is not None:
            raise MlflowException("workspace_store_uri is not supported: duckml has no workspaces",
                                  error_code="INVALID_PARAMETER_VALUE")
        if tracking_uri is not None:
            location = config.store_location(tracking_uri)
            if str(duckml.resolve_store_path(location)) != str(duckml.resolve_store_path()):
                config.set_tracking_uri(tracking_uri)
        if registry_uri is not None:
            config.set_registry_uri(registry_uri)
        config.ensure_store()
        self._tracking_uri = config.get_tracking_uri()

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    # -- experiments ----------------------------------------------------------------------------------
    def create_experiment(self, name: str, artifact_location: str | None = None, tags: dict | None = None) -> str:
        return fluent.create_experiment(name, artifact_location, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return fluent.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return fluent.get_experiment_by_name(name)

    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = None,
                           filter_string: str | None = None, order_by=None, page_token=None) -> PagedList:
        return PagedList(searches.search_experiments(view_type, max_results, filter_string, order_by))

    def delete_experiment(self, experiment_id: str) -> None:
        duckml.delete_experiment(str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        duckml.restore_experiment(str(experiment_id))

    def set_experiment_tag(self, experiment_id: str, key: str, value) -> None:
        duckml.create_experiment(fluent.get_experiment(experiment_id).name, tags={key: value})

    # -- runs -------------------------------------------------------------------------------------------
    def create_run(self, experiment_id: str, start_time: int | None = None, tags: dict | None = None,
                   run_name: str | None = None) -> Run:
        """A new RUNNING run, not made active (as MLflow's client)."""
        from duckml.tracking import create_run

        if start_time is not None:
            raise MlflowException("create_run(start_time=...) is not supported: duckml stamps the start itself",
                                  error_code="INVALID_PARAMETER_VALUE")
        experiment = fluent.get_experiment(experiment_id)
        info = create_run(experiment.experiment_id, run_name=run_name, tags=tags)
        return self.get_run(info.run_id)

    def get_run(self, run_id: str) -> Run:
        return fluent.get_run(run_id)

    def get_parent_run(self, run_id: str) -> Run | None:
        return fluent.get_parent_run(run_id)

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        fluent.set_terminated(run_id, status or "FINISHED", end_time)

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        if name is not None:
            raise MlflowException("update_run(name=...) is not supported by duckml.mlflow; rename the run in "
                                  "duckml's UI", error_code="INVALID_PARAMETER_VALUE")
        if status is not None:
            from duckml.tracking import set_terminated

            if status == "RUNNING":
                raise MlflowException("update_run(status='RUNNING') is not supported; resume the run with "
                                      "start_run(run_id=...)", error_code="INVALID_PARAMETER_VALUE")
            set_terminated(run_id, status)

    def delete_run(self, run_id: str) -> None:
        duckml.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        duckml.restore_run(run_id)

    def search_runs(self, experiment_ids, filter_string: str = "", run_view_type: int = ViewType.ACTIVE_ONLY,
                    max_results: int = 1000, order_by=None, page_token=None) -> PagedList:
        return PagedList(searches.find_runs(experiment_ids, filter_string, run_view_type, max_results, order_by))

    # -- logging --------------------------------------------------------------------------------------
    def log_param(self, run_id: str, key: str, value, synchronous: bool | None = None):
        duckml.log_params({key: value}, run_id=run_id)
        return value

    def log_metric(self, run_id: str, key: str, value, timestamp: int | None = None, step: int | None = None,
                   synchronous: bool | None = None, dataset_name=None, dataset_digest=None, model_id=None):
        duckml.log_metric(key, value, step=step, timestamp=timestamp, run_id=run_id)
        return fluent.RunOperations() if synchronous is False else None

    def set_tag(self, run_id: str, key: str, value, synchronous: bool | None = None):
        duckml.set_tags({key: value}, run_id=run_id)
        return fluent.RunOperations() if synchronous is False else None

    def delete_tag(self, run_id: str, key: str) -> None:
        duckml.delete_tag(key, run_id=run_id)

    def log_batch(self, run_id: str, metrics=(), params=(), tags=(), synchronous: bool | None = None):
        """Params, tags and metric points (``Metric``, ``Param``, ``RunTag`` entities) in one call; every
        item is checked before anything is written."""
        param_values = {p.key: p.value for p in params}
        tag_values = {t.key: t.value for t in tags}
        if param_values:
            duckml.log_params(param_values, run_id=run_id)
        if tag_values:
            duckml.set_tags(tag_values, run_id=run_id)
        for metric in metrics:
            duckml.log_metric(metric.key, metric.value, step=metric.step, timestamp=metric.timestamp, run_id=run_id)
        return fluent.RunOperations() if synchronous is False else None

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        history = duckml.get_metric_history(run_id, key)
        return [Metric(key, value, convert.ms(stamp), step)
                for step, stamp, value in zip(history["step"].to_list(), history["timestamp"].to_list(),
                                              history["value"].to_list())]

    # -- artifacts ----------------------------------------------------------------------------------------
    def log_artifact(self, run_id: str, local_path, artifact_path: str | None = None) -> None:
        duckml.log_artifact(local_path, artifact_path, run_id=run_id)

    def log_artifacts(self, run_id: str, local_dir, artifact_path: str | None = None) -> None:
        duckml.log_artifacts(local_dir, artifact_path, run_id=run_id)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        duckml.log_text(text, artifact_file, run_id=run_id)

    def log_dict(self, run_id: str, dictionary, artifact_file: str) -> None:
        duckml.log_dict(dictionary, artifact_file, run_id=run_id)

    def log_figure(self, run_id: str, figure, artifact_file: str, *, save_kwargs=None) -> None:
        duckml.log_figure(figure, artifact_file, run_id=run_id)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return [FileInfo(f.path, f.is_dir, f.file_size) for f in duckml.list_artifacts(run_id, path)]

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        return duckml.download_artifacts(run_id, path, dst_path)

    # -- registry -------------------------------------------------------------------------------------------
    def create_registered_model(self, name: str, tags: dict | None = None, description: str | None = None,
                                deployment_job_id=None) -> RegisteredModel:
        from duckml.models.registry import create_registered_model

        if name in duckml.search_registered_models()["name"].to_list():
            raise MlflowException(f"Registered Model (name={name}) already exists.",
                                  error_code="RESOURCE_ALREADY_EXISTS")
        create_registered_model(name, tags=tags, description=description)
        return registry.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return registry.get_registered_model(name)

    def search_registered_models(self, filter_string: str | None = None, max_results: int = 100, order_by=None,
                                 page_token=None) -> PagedList:
        return PagedList(registry.search_registered_models(max_results, filter_string, order_by))

    def update_registered_model(self, name: str, description: str | None = None, deployment_job_id=None):
        duckml.update_registered_model(name, description)
        return registry.get_registered_model(name)

    def delete_registered_model(self, name: str) -> None:
        duckml.delete_registered_model(name)

    def set_registered_model_tag(self, name: str, key: str, value) -> None:
        duckml.set_registered_model_tag(name, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        duckml.delete_registered_model_tag(name, key)

    def create_model_version(self, name: str, source: str, run_id: str | None = None, tags: dict | None = None,
                             run_link=None, description: str | None = None, await_creation_for: int = 300,
                             model_id=None) -> ModelVersion:
        """The next version of ``name`` from ``source`` (``runs:/<run_id>/<path>``, e.g.
        ``f"{run.info.artifact_uri}/model"``)."""
        version = registry.register_model(source, name, tags=tags)
        if description is not None:
            duckml.update_model_version(name, version.version, description)
            version = registry.get_model_version(name, version.version)
        return version

    def get_model_version(self, name: str, version) -> ModelVersion:
        return registry.get_model_version(name, version)

    def update_model_version(self, name: str, version, description: str | None = None) -> ModelVersion:
        duckml.update_model_version(name, version, description)
        return registry.get_model_version(name, version)

    def delete_model_version(self, name: str, version) -> None:
        duckml.delete_model_version(name, version)

    def set_model_version_tag(self, name: str, version=None, key: str | None = None, value=None,
                              stage=None) -> None:
        duckml.set_model_version_tag(name, version, key, value)

    def delete_model_version_tag(self, name: str, version=None, key: str | None = None, stage=None) -> None:
        duckml.delete_model_version_tag(name, version, key)

    def get_latest_versions(self, name: str, stages: list | None = None) -> list[ModelVersion]:
        return registry.get_latest_versions(name, stages)

    def search_model_versions(self, filter_string: str | None = None, max_results: int = 10000, order_by=None,
                              page_token=None) -> PagedList:
        return PagedList(registry.search_model_versions(max_results, filter_string, order_by))

    def set_registered_model_alias(self, name: str, alias: str, version) -> None:
        duckml.set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        duckml.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        try:
            return convert.model_version(duckml.get_model_version_by_alias(name, alias))
        except duckml.NotFoundError as error:  # MLflow's code for an alias that is not set
            raise MlflowException(str(error), error_code="INVALID_PARAMETER_VALUE") from error

    def get_model_version_download_uri(self, name: str, version) -> str:
        return registry.get_model_version(name, version).source

    def transition_model_version_stage(self, name: str, version, stage: str, archive_existing_versions=False):
        raise MlflowException("model stages are not supported by duckml (MLflow deprecated them too); use "
                              "set_registered_model_alias", error_code="INVALID_PARAMETER_VALUE")

