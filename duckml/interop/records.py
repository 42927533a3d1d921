"""Store-neutral records of what an import brings (from an MLflow store or a duckml bundle), and run fingerprints.

Times are epoch microseconds (ints), the unit of duckml's ``TIMESTAMP`` columns, so a round trip through
any source keeps them exact. A run's *fingerprint* hashes everything an import would write for it except
artifacts: the run row, params, tags and every metric point (NaN and ±inf included, bit for bit). Two runs
with one id and equal fingerprints are the same run; with different ones, a conflict.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np


@dataclass
class ExperimentRecord:
    name: str
    lifecycle_stage: str = "active"
    creation_time: int = 0
    last_update_time: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    preferred_id: str | None = None  # kept when the target store has neither this id nor this name


class MetricPoints:
    """All points of one run, as column arrays; built point by point (``add``) or from arrays (``extend``)."""

    def __init__(self):
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._rows: list[tuple[str, float, int, int]] = []

    def add(self, key: str, value: float, step: int, timestamp_us: int) -> None:
        self._rows.append((key, value, step, timestamp_us))

    def extend(self, keys, values, steps, timestamps_us) -> None:
        self._chunks.append((np.asarray(keys, dtype=object), np.asarray(values, dtype=np.float64),
                             np.asarray(steps, dtype=np.int64), np.asarray(timestamps_us, dtype=np.int64)))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(keys, values, steps, timestamps µs) of every point."""
        if self._rows:
            keys, values, steps, stamps = zip(*self._rows)
            self._rows = []
            self.extend(list(keys), values, steps, stamps)
        if len(self._chunks) != 1:
            parts = self._chunks or [(np.array([], dtype=object), np.array([], dtype=np.float64),
                                      np.array([], dtype=np.int64), np.array([], dtype=np.int64))]
            self._chunks = [tuple(np.concatenate([c[i] for c in parts]) for i in range(4))]
        return self._chunks[0]

    def __len__(self) -> int:
        return len(self._rows) + sum(len(c[0]) for c in self._chunks)


def group_points(run_ids, keys, values, steps, timestamps_us) -> dict[str, tuple]:
    """Split column arrays of points (any order) into per-run column arrays, without a Python loop per point.

    >>> sorted(group_points(["b", "a", "b"], ["m", "m", "n"], [1.0, 2.0, 3.0], [0, 0, 1], [5, 6, 7]))
    ['a', 'b']
    """
    runs = np.asarray(run_ids, dtype=object)
    if not len(runs):
        return {}
    order = np.argsort(runs, kind="stable")
    runs = runs[order]
    columns = [np.asarray(keys, dtype=object)[order], np.asarray(values, dtype=np.float64)[order],
               np.asarray(steps, dtype=np.int64)[order], np.asarray(timestamps_us, dtype=np.int64)[order]]
    unique, starts = np.unique(runs, return_index=True)
    ends = list(starts[1:]) + [len(runs)]
    return {run: tuple(c[a:b] for c in columns) for run, a, b in zip(unique.tolist(), starts, ends)}


@dataclass
class ArtifactRecord:
    """One file of a run: ``local`` is the file to copy; ``sha256``/``size`` when already known (bundles)."""

    path: str
    local: Path
    sha256: str | None = None
    size: int | None = None
    media_type: str | None = None
    created_at: int | None = None


@dataclass
class RunRecord:
    run_id: str
    experiment_name: str
    run_name: str | None
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str = "active"
    parent_run_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: MetricPoints = field(default_factory=MetricPoints)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (dataset_id, context)
    input_tags: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (dataset_id, context) -> tags


@dataclass
class DatasetRecord:
    dataset_id: str
    name: str
    digest: str
    source: str
    source_type: str
    schema: str | None
    row_count: int | None
    created_at: int
    profile: str | None = None  # MLflow's dataset profile (JSON text), kept whole


@dataclass
class ModelVersionRecord:
    name: str
    version: int
    run_id: str | None
    source_uri: str
    created_at: int
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    stage: str | None = None  # MLflow's current_stage; None where the source has no stages (duckml bundles)
    last_updated_at: int | None = None


@dataclass
class RegisteredModelRecord:
    name: str
    created_at: int
    last_updated_at: int
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    versions: list[ModelVersionRecord] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass
class LoggedModelRecord:
    """An MLflow 3 LoggedModel; ``run_id`` and ``artifact_path`` say where its files landed (``_finish_runs``)."""

    model_id: str
    experiment_name: str
    source_run_id: str | None
    name: str
    location: Path | None
    status: str = "READY"
    created_at: int = 0
    last_updated_at: int = 0
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple] = field(default_factory=list)  # (key, value, step, timestamp µs, run_id, dataset name, digest)
    run_id: str | None = None
    artifact_path: str | None = None


@dataclass
class ImportSource:
    """Everything one import brings."""

    experiments: list[ExperimentRecord] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    datasets: list[DatasetRecord] = field(default_factory=list)
    models: list[RegisteredModelRecord] = field(default_factory=list)
    logged_models: list[LoggedModelRecord] = field(default_factory=list)
    points_skipped: int = 0  # metric points outside years 1900..9999 or int64 steps, left out by the reader
    notes: list[str] = field(default_factory=list)  # what the reader skipped and why (symlinks, outside roots)


_EPOCH = datetime(1970, 1, 1)


def to_datetime(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=int(us))


def to_us(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def ms_to_us(ms) -> int | None:
    return None if ms is None else int(ms) * 1000


_NAN_BITS = struct.unpack("<Q", struct.pack("<d", math.nan))[0]


def _value_bits(values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    bits = array.view(np.uint64).copy()
    bits[np.isnan(array)] = _NAN_BITS  # every NaN payload is one NaN
    return bits


def fingerprint(experiment_id: str, run_name, status: str, start_time: int, end_time, lifecycle_stage: str,
                parent_run_id, params: dict, tags: dict, keys, values, steps, timestamps) -> str:
    """A digest of one run's row, params, tags and metric points (point order does not matter).

    >>> a = fingerprint("0", "r", "FINISHED", 1, 2, "active", None, {"p": "1"}, {}, ["m", "m"], [1.0, 2.0], [0, 1], [5, 6])
    >>> a == fingerprint("0", "r", "FINISHED", 1, 2, "active", None, {"p": "1"}, {}, ["m", "m"], [2.0, 1.0], [1, 0], [6, 5])
    True
    """
    digest = hashlib.sha256()
    head = [experiment_id, run_name, status, start_time, end_time, lifecycle_stage, parent_run_id,
            sorted(params.items()), sorted(tags.items())]
    digest.update(repr(head).encode())
    if len(keys):
        key_array = np.asarray(keys, dtype=object)
        bits = _value_bits(values)
        step_array = np.asarray(steps, dtype=np.int64)
        stamp_array = np.asarray(timestamps, dtype=np.int64)
        for key in sorted(set(key_array.tolist())):  # a handful of keys per run: one mask each
            mask = key_array == key
            rows = np.stack([step_array[mask].view(np.uint64), stamp_array[mask].view(np.uint64), bits[mask]],
                            axis=1)
            rows = rows[np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))]
            digest.update(b"\0" + key.encode() + b"\0" + rows.tobytes())
    return digest.hexdigest()


def record_fingerprint(run: RunRecord, experiment_id: str) -> str:
    keys, values, steps, stamps = run.metrics.arrays()
    return fingerprint(experiment_id, run.run_name, run.status, run.start_time, run.end_time,
                       run.lifecycle_stage, run.parent_run_id, run.params, run.tags, keys, values, steps, stamps)
