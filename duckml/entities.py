"""The values duckml hands back: frozen dataclasses, and string enums stored as VARCHAR."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class RunStatus(StrEnum):
    """A run's status, MLflow's values; a plain string too.

    >>> RunStatus.FINISHED == "FINISHED"
    True
    """

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class LifecycleStage(StrEnum):
    """Whether a run or experiment is soft-deleted.

    >>> [stage.value for stage in LifecycleStage]
    ['active', 'deleted']
    """

    ACTIVE = "active"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment: a named group of runs.

    >>> import duckml
    >>> experiment = duckml.set_experiment("weekly-sales")
    >>> experiment.name, experiment.lifecycle_stage
    ('weekly-sales', 'active')
    """

    experiment_id: str
    name: str
    lifecycle_stage: str = LifecycleStage.ACTIVE
    creation_time: datetime | None = None
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run's identity, status and times (MLflow's ``run.info``), times as UTC datetimes.

    >>> import duckml
    >>> with duckml.start_run(run_name="a") as run:
    ...     pass
    >>> info = duckml.get_run(run.info.run_id).info
    >>> info.run_name, info.status, info.end_time >= info.start_time
    ('a', 'FINISHED', True)
    """

    run_id: str
    experiment_id: str
    run_name: str | None
    status: str
    start_time: datetime | None
    end_time: datetime | None = None
    lifecycle_stage: str = LifecycleStage.ACTIVE
    parent_run_id: str | None = None

    @property
    def run_uuid(self) -> str:  # MLflow's older name
        return self.run_id


@dataclass(frozen=True, slots=True)
class RunData:
    """A run's params and tags (strings) and the latest value of each metric (MLflow's ``run.data``).

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     duckml.log_param("model", "rf"); duckml.log_metric("rmse", 0.5); duckml.log_metric("rmse", 0.4, step=1)
    'rf'
    >>> duckml.get_run(run.info.run_id).data.metrics
    {'rmse': 0.4}
    """

    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Run:
    """A run as stored: ``run.info`` (ids, status, times) and ``run.data`` (params, latest metrics, tags).

    >>> import duckml
    >>> with duckml.start_run(run_name="a") as active:
    ...     duckml.set_tag("stage", "tuning")
    >>> run = duckml.get_run(active.info.run_id)
    >>> run.info.run_name, run.data.tags["stage"]
    ('a', 'tuning')
    """

    info: RunInfo
    data: RunData = field(default_factory=RunData)
