"""The values duckml hands back: frozen dataclasses, and string enums stored as VARCHAR."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class LifecycleStage(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: str = LifecycleStage.ACTIVE
    creation_time: datetime | None = None
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunInfo:
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
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Run:
    """A run as stored: ``run.info`` (ids, status, times) and ``run.data`` (params, latest metrics, tags)."""

    info: RunInfo
    data: RunData = field(default_factory=RunData)
