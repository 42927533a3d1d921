"""MLflow's tracking entities with MLflow's attribute names (times in integer milliseconds since the epoch).

They are plain values built from what duckml returns; none of them talks to the store, except
``Run.inputs``, which reads the run's dataset inputs when first asked for.

>>> from duckml.mlflow.entities import Metric, Param, RunTag, ViewType
>>> Metric("rmse", 0.5, 1700000000000, 3).step, ViewType.to_string(ViewType.ALL)
(3, 'ALL')
"""

from __future__ import annotations

from duckml.mlflow.entities.base import MlflowObject
from duckml.mlflow.entities.model_registry import (ModelVersion, ModelVersionStatus, ModelVersionTag,
                                                   RegisteredModel, RegisteredModelAlias, RegisteredModelTag)


class ViewType:
    """Which runs or experiments a search returns: MLflow's integers 1, 2, 3."""

    ACTIVE_ONLY, DELETED_ONLY, ALL = 1, 2, 3
    _NAMES = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}

    @classmethod
    def from_string(cls, view_str: str) -> int:
        for number, name in cls._NAMES.items():
            if str(view_str).upper() == name:
                return number
        raise ValueError(f"could not get view type for {view_str!r}; use one of {list(cls._NAMES.values())}")

    @classmethod
    def to_string(cls, view_type: int) -> str:
        return cls._NAMES[view_type]

    @classmethod
    def name(cls, view_type) -> str:
        """duckml's spelling of a view type given as MLflow's integer or a name."""
        return cls.to_string(view_type) if isinstance(view_type, int) else cls.to_string(cls.from_string(view_type))


class LifecycleStage:
    ACTIVE, DELETED = "active", "deleted"

    @classmethod
    def view_type_to_stages(cls, view_type: int = ViewType.ALL) -> list[str]:
        return {ViewType.ACTIVE_ONLY: [cls.ACTIVE], ViewType.DELETED_ONLY: [cls.DELETED]}.get(
            view_type, [cls.ACTIVE, cls.DELETED])

    @classmethod
    def is_valid(cls, stage: str) -> bool:
        return stage in (cls.ACTIVE, cls.DELETED)


class RunStatus:
    """MLflow's run statuses: integers with string names (``RunStatus.to_string(RunStatus.FINISHED)``)."""

    RUNNING, SCHEDULED, FINISHED, FAILED, KILLED = 1, 2, 3, 4, 5
    _NAMES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}

    @classmethod
    def from_string(cls, status_str: str) -> int:
        for number, name in cls._NAMES.items():
            if status_str == name:
                return number
        raise Exception(f"Could not get run status corresponding to string {status_str}. "
                        f"Valid run status strings: {list(cls._NAMES.values())}")

    @classmethod
    def to_string(cls, status: int) -> str:
        return cls._NAMES[status]

    @classmethod
    def is_terminated(cls, status) -> bool:
        status = cls.from_string(status) if isinstance(status, str) else status
        return status in (cls.FINISHED, cls.FAILED, cls.KILLED)

    @classmethod
    def all_status(cls) -> list[int]:
        return list(cls._NAMES)


class SourceType:
    NOTEBOOK, JOB, PROJECT, LOCAL, UNKNOWN = 1, 2, 3, 4, 1000
    _NAMES = {1: "NOTEBOOK", 2: "JOB", 3: "PROJECT", 4: "LOCAL", 1000: "UNKNOWN"}

    @classmethod
    def to_string(cls, source_type: int) -> str:
        return cls._NAMES[source_type]

    @classmethod
    def from_string(cls, name: str) -> int:
        return {v: k for k, v in cls._NAMES.items()}[name]


class Metric(MlflowObject):
    """One point of a metric: ``key``, ``value``, ``timestamp`` (ms) and ``step``."""

    def __init__(self, key: str, value: float, timestamp: int, step: int, model_id=None, dataset_name=None,
                 dataset_digest=None, run_id=None):
        self.key, self.value, self.timestamp, self.step = key, value, timestamp, step
        self.model_id, self.dataset_name, self.dataset_digest = model_id, dataset_name, dataset_digest
        self.run_id = run_id


class Param(MlflowObject):
    def __init__(self, key: str, value: str):
        self.key, self.value = key, value


class RunTag(MlflowObject):
    def __init__(self, key: str, value: str):
        self.key, self.value = key, value


class ExperimentTag(MlflowObject):
    def __init__(self, key: str, value: str):
        self.key, self.value = key, value


class FileInfo(MlflowObject):
    def __init__(self, path: str, is_dir: bool, file_size: int | None):
        self.path, self.is_dir, self.file_size = path, is_dir, file_size


class RunInfo(MlflowObject):
    """MLflow's run info: ids, ``user_id``, ``status`` (a string), ``start_time``/``end_time`` (ms),
    ``artifact_uri`` and ``lifecycle_stage``."""

    def __init__(self, run_id, experiment_id, user_id, status, start_time, end_time, lifecycle_stage,
                 artifact_uri=None, run_name=None, run_uuid=None):
        self.run_id = run_id if run_id is not None else run_uuid
        self.experiment_id, self.user_id, self.status = experiment_id, user_id, status
        self.start_time, self.end_time, self.lifecycle_stage = start_time, end_time, lifecycle_stage
        self.artifact_uri, self.run_name = artifact_uri, run_name

    @property
    def run_uuid(self) -> str:  # MLflow's deprecated name, still read by older scripts
        return self.run_id

    def _properties(self) -> list[str]:
        return ["artifact_uri", "end_time", "experiment_id", "lifecycle_stage", "run_id", "run_name",
                "start_time", "status", "user_id"]


class RunData(MlflowObject):
    """``metrics`` (latest value per key), ``params`` and ``tags`` as dicts."""

    def __init__(self, metrics=None, params=None, tags=None):
        self.metrics = dict(metrics or {})
        self.params = dict(params or {})
        self.tags = dict(tags or {})


class Dataset(MlflowObject):
    def __init__(self, name, digest, source_type, source, schema=None, profile=None):
        self.name, self.digest, self.source_type, self.source = name, digest, source_type, source
        self.schema, self.profile = schema, profile


class InputTag(MlflowObject):
    def __init__(self, key: str, value: str):
        self.key, self.value = key, value


class DatasetInput(MlflowObject):
    def __init__(self, dataset: Dataset, tags=None):
        self.dataset, self.tags = dataset, list(tags or [])


class RunInputs(MlflowObject):
    def __init__(self, dataset_inputs=None, model_inputs=None):
        self.dataset_inputs, self.model_inputs = list(dataset_inputs or []), list(model_inputs or [])


class Run(MlflowObject):
    """``run.info`` (RunInfo), ``run.data`` (RunData) and ``run.inputs`` (its datasets, read when asked)."""

    def __init__(self, run_info: RunInfo, run_data: RunData | None = None, run_inputs: RunInputs | None = None,
                 run_outputs=None, load_inputs=None):
        self._info, self._data, self._inputs, self._outputs = run_info, run_data or RunData(), run_inputs, run_outputs
        self._load_inputs = load_inputs  # run_id -> RunInputs, called on first access (one read of the store)

    @property
    def info(self) -> RunInfo:
        return self._info

    @property
    def data(self) -> RunData:
        return self._data

    @property
    def inputs(self) -> RunInputs:
        if self._inputs is None:
            self._inputs = self._load_inputs(self._info.run_id) if self._load_inputs else RunInputs()
        return self._inputs

    @property
    def outputs(self):
        return self._outputs

    def _properties(self) -> list[str]:
        return ["info", "data"]

    def to_dictionary(self) -> dict:
        return {"info": dict(self.info), "data": {"metrics": self.data.metrics, "params": self.data.params,
                                                  "tags": self.data.tags}}


class Experiment(MlflowObject):
    """MLflow's experiment: ``experiment_id``, ``name``, ``artifact_location``, ``lifecycle_stage``, ``tags``,
    ``creation_time`` and ``last_update_time`` (ms)."""

    def __init__(self, experiment_id, name, artifact_location, lifecycle_stage, tags=None, creation_time=None,
                 last_update_time=None):
        self.experiment_id, self.name, self.artifact_location = experiment_id, name, artifact_location
        self.lifecycle_stage, self.tags = lifecycle_stage, dict(tags or {})
        self.creation_time, self.last_update_time = creation_time, last_update_time


class PagedList(list):
    """A page of results with ``token``, MLflow's continuation token (``None``: no further page)."""

    def __init__(self, items, token=None):
        super().__init__(items)
        self.token = token

    def to_list(self) -> list:
        return list(self)


__all__ = ["Dataset", "DatasetInput", "Experiment", "ExperimentTag", "FileInfo", "InputTag", "LifecycleStage",
           "Metric", "MlflowObject", "ModelVersion", "ModelVersionStatus", "ModelVersionTag", "PagedList", "Param",
           "RegisteredModel", "RegisteredModelAlias", "RegisteredModelTag", "Run", "RunData", "RunInfo",
           "RunInputs", "RunStatus", "RunTag", "SourceType", "ViewType"]
