"""duckml's values as MLflow's entities: times in ms since the epoch, run tags MLflow adds by itself
(``mlflow.runName``), ``user_id`` and ``artifact_uri``. Reads go through duckml's public API only.
"""

from __future__ import annotations

from datetime import datetime, timezone

import duckml
from duckml.mlflow.exceptions import MlflowException
from duckml.mlflow.entities import (Dataset, DatasetInput, Experiment, InputTag, ModelVersion, RegisteredModel, Run,
                                    RunData, RunInfo, RunInputs, ViewType)

RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ms(moment) -> int | None:
    """Milliseconds since the epoch of a datetime (naive ones are UTC, as duckml stores them).

    >>> ms(datetime(1970, 1, 1, 0, 0, 1, 500000))
    1500
    """
    if moment is None:
        return None
    if isinstance(moment, (int, float)):
        return int(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _MILLISECOND


_MILLISECOND = __import__("datetime").timedelta(milliseconds=1)


def artifact_uri(run_id: str) -> str:
    """A run's artifact URI: ``runs:/<run_id>``, which every duckml call that takes an artifact or model
    URI understands (duckml stores artifacts by content, so there is no per-run folder to point at)."""
    return f"runs:/{run_id}"


def run(stored) -> Run:
    """An MLflow ``Run`` from a duckml ``Run``."""
    info = stored.info
    tags = dict(stored.data.tags)
    if info.run_name is not None:
        tags[RUN_NAME_TAG] = info.run_name  # duckml keeps the name as a column; MLflow shows it as a tag too
    mlflow_info = RunInfo(run_id=info.run_id, experiment_id=info.experiment_id, user_id=tags.get(USER_TAG, ""),
                          status=str(info.status), start_time=ms(info.start_time), end_time=ms(info.end_time),
                          lifecycle_stage=str(info.lifecycle_stage), artifact_uri=artifact_uri(info.run_id),
                          run_name=info.run_name)
    data = RunData(metrics=stored.data.metrics, params=stored.data.params, tags=tags)
    return Run(mlflow_info, data, load_inputs=run_inputs)


def run_inputs(run_id: str) -> RunInputs:
    """The dataset inputs of a run, as MLflow's ``RunInputs`` (the context is the ``mlflow.data.context`` tag)."""
    rows = duckml.get_run_inputs(run_id).to_dicts()
    return RunInputs([DatasetInput(Dataset(r["name"], r["digest"], r.get("source_type") or "", r["source"] or "",
                                           r["schema"], r.get("profile")),
                                   [InputTag("mlflow.data.context", r["context"]),
                                    *(InputTag(k, v) for k, v in _pairs(r.get("tags")).items())])
                      for r in rows])


def _pairs(value) -> dict:
    """A DuckDB MAP as Polars hands it back (a list of key/value structs), or a dict, as a dict."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    return {item["key"]: item["value"] for item in value}


def experiments(view_type=ViewType.ACTIVE_ONLY, filter_string: str | None = None, order_by=None) -> list[Experiment]:
    """Experiments as MLflow's entities, with their tags."""
    frame = duckml.search_experiments(filter_string or "", order_by=order_by, view_type=ViewType.name(view_type))
    root = duckml.get_store().artifact_root
    location = root if isinstance(root, str) else str(root)
    found = []
    for row in frame.to_dicts():
        tags = {key[5:]: value for key, value in row.items() if key.startswith("tags.") and value is not None}
        found.append(Experiment(row["experiment_id"], row["name"], location, row["lifecycle_stage"], tags,
                                ms(row["creation_time"]), ms(row["last_update_time"])))
    return found


SOURCE_EXPERIMENT_ID_TAG = "mlflow.source_experiment_id"  # set by `duckml import-mlflow`


def experiment_by_id(experiment_id) -> Experiment | None:
    """The experiment with this duckml id, else the one imported from MLflow with this MLflow id (its tag
    ``mlflow.source_experiment_id``), so a script that kept MLflow's numeric ids finds its experiments."""
    wanted = str(experiment_id)
    every = experiments(ViewType.ALL)
    found = next((e for e in every if e.experiment_id == wanted), None)
    if found is not None:
        return found
    imported = [e for e in every if e.tags.get(SOURCE_EXPERIMENT_ID_TAG) == wanted]
    if len(imported) > 1:
        names = ", ".join(repr(e.name) for e in imported)
        raise MlflowException(f"experiment id {wanted} was MLflow's id of several imported experiments ({names}); "
                              "use duckml's id or get_experiment_by_name", error_code="INVALID_PARAMETER_VALUE")
    return imported[0] if imported else None


def model_version(stored) -> ModelVersion:
    """An MLflow ``ModelVersion`` from duckml's."""
    created = ms(stored.created_at)
    updated = created if stored.last_updated_at is None else ms(stored.last_updated_at)
    return ModelVersion(stored.name, stored.version, created, updated, stored.description, None, stored.current_stage,
                        stored.source_uri, stored.run_id, "READY", None, stored.tags, "",
                        list(stored.aliases))


def registered_models(filter_string: str | None = None, max_results: int | None = None) -> list[RegisteredModel]:
    """Registered models as MLflow's entities, each with its latest version."""
    frame = duckml.search_registered_models(filter_string or "", max_results=max_results)
    found = []
    for row in frame.to_dicts():
        latest = row["latest_version"]
        versions = [model_version(duckml.get_model_version(row["name"], latest))] if latest is not None else []
        found.append(RegisteredModel(row["name"], ms(row["created_at"]), ms(row["last_updated_at"]),
                                     row["description"], versions, _pairs(row["tags"]), _pairs(row["aliases"])))
    return found
