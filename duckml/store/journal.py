"""The per-process journal: how a tracking call is recorded in microseconds, without the DuckDB lock.

A DuckDB file admits one read-write process at a time and an open costs ~10 ms, so logging calls never
open it. Each process appends to its own *segment* in ``<artifact folder>/.journal/``:

- ``<segment>.metrics``: fixed 32-byte little-endian records ``(series u32, flags u32, value f64, step i64,
  timestamp_us i64)``, decoded in bulk with one ``numpy.frombuffer``;
- ``<segment>.events``: one JSON line per row change ``[ts_ns, op, table, row]`` (runs, params, tags,
  experiments, artifacts, datasets, and the series declarations ``(series -> run_id, key)``);
- ``<segment>.lock``: held with ``flock`` while the owner lives, so an ingester can tell a dead owner.

Every call is one ``os.write`` before it returns, so ``kill -9`` loses nothing that was acknowledged (the
bytes are in the OS page cache). A torn tail (a partial record or line) is ignored by readers.
Segments are ingested into the DuckDB file in bulk by whoever briefly holds the lock (see ``ingest.py``).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import weakref

import numpy as np

METRIC_RECORD = struct.Struct("<IIdqq")
METRIC_DTYPE = np.dtype(
    [("series", "<u4"), ("flags", "<u4"), ("value", "<f8"), ("step", "<i8"), ("timestamp", "<i8")]
)
assert METRIC_DTYPE.itemsize == METRIC_RECORD.size == 32

# op codes of an event line
INSERT = "i"  # insert a row unless its primary key exists (first write wins: params, creations)
UPSERT = "u"  # insert or replace by primary key (tags, artifacts)
UPDATE = "m"  # merge the given fields into an existing row (run status, lifecycle stage)
DELETE = "d"  # delete by primary key (delete_tag)
SERIES = "s"  # declare series number -> (run_id, key) for the metrics file

# Primary keys of the tables the journal writes; ingest and the live overlay both fold by them.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "experiments": ("experiment_id",),
    "experiment_tags": ("experiment_id", "key"),
    "runs": ("run_id",),
    "params": ("run_id", "key"),
    "tags": ("run_id", "key"),
    "artifacts": ("run_id", "path"),
    "datasets": ("dataset_id",),
    "run_inputs": ("run_id", "dataset_id", "context"),
}


def _json_default(value):
    if isinstance(value, datetime):
        return to_epoch_us(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot journal a value of type {type(value).__name__}")


def to_epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC (the store's time zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class JournalWriter:
    """Appends this process's tracking records to its own segment. Thread-safe; fork-aware."""

    def __init__(self, journal_dir: Path):
        self.journal_dir = journal_dir
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], int] = {}
        self._events_fd = -1
        self._metrics_fd = -1
        self._lock_fd = -1
        self._last_ts = 0
        self.segment: str | None = None
        self.points_written = 0
        _WRITERS.add(self)

    def _forget_after_fork(self) -> None:
        # A forked child inherits the parent's descriptors: it must never append to them. Closing our
        # copies leaves the parent's flock in place (flock belongs to the shared open file description).
        for fd in (self._events_fd, self._metrics_fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._events_fd = self._metrics_fd = self._lock_fd = -1
        self._series = {}
        self._lock = threading.Lock()
        self.segment = None
        self.points_written = 0

    # -- opening -----------------------------------------------------------------------------
    def _ensure_open(self) -> None:
        if self._metrics_fd >= 0:
            return
        self._series = {}
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        base = self.journal_dir / name
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        lock_fd = os.open(f"{base}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        # metrics first: a reader lists segments by their .events file and then expects both to exist
        self._metrics_fd = os.open(f"{base}.metrics", flags, 0o644)
        self._events_fd = os.open(f"{base}.events", flags, 0o644)
        self._lock_fd = lock_fd
        self.segment = name

    def _next_ts(self) -> int:
        # strictly increasing within a segment, so sorting by time keeps this process's order
        now = time.time_ns()
        if now <= self._last_ts:
            now = self._last_ts + 1
        self._last_ts = now
        return now

    # -- appending ---------------------------------------------------------------------------
    def write_event(self, op: str, table: str, row: dict) -> None:
        """Append one row change; returns once the bytes are in the OS (survives kill -9)."""
        with self._lock:
            self._ensure_open()
            line = json.dumps([self._next_ts(), op, table, row], default=_json_default,
                              separators=(",", ":"), allow_nan=True)
            os.write(self._events_fd, (line + "\n").encode())

    def _series_id(self, run_id: str, key: str) -> int:
        sid = self._series.get((run_id, key))
        if sid is None:
            sid = len(self._series)
            line = json.dumps([self._next_ts(), SERIES, "_duckml_series",
                               {"series_id": sid, "run_id": run_id, "key": key}], separators=(",", ":"))
            # declared before any point that uses it, so a reader never sees an undeclared series
            os.write(self._events_fd, (line + "\n").encode())
            self._series[(run_id, key)] = sid
        return sid

    def write_metric(self, run_id: str, key: str, value: float, step: int, timestamp_us: int) -> None:
        with self._lock:
            if self._metrics_fd < 0:
                self._ensure_open()
            sid = self._series.get((run_id, key))
            if sid is None:
                sid = self._series_id(run_id, key)
            os.write(self._metrics_fd, METRIC_RECORD.pack(sid, 0, value, step, timestamp_us))
            self.points_written += 1

    def write_metrics(self, run_id: str, keys, values, steps, timestamps_us) -> None:
        """Append many points in one write; the arrays are already validated and of equal length."""
        with self._lock:
            self._ensure_open()
            records = np.empty(len(values), dtype=METRIC_DTYPE)
            records["series"] = [self._series_id(run_id, k) for k in keys] if not isinstance(keys, str) \
                else self._series_id(run_id, keys)
            records["flags"] = 0
            records["value"] = values
            records["step"] = steps
            records["timestamp"] = timestamps_us
            data = memoryview(records.tobytes())
            while data:  # a large write may be split by the kernel
                written = os.write(self._metrics_fd, data)
                data = data[written:]
            self.points_written += len(records)

    def close(self) -> None:
        """Close this process's segment; an ingest may then delete it once fully stored."""
        with self._lock:
            for fd in (self._events_fd, self._metrics_fd, self._lock_fd):
                if fd >= 0:
                    os.close(fd)  # closing the lock fd releases the flock
            self._events_fd = self._metrics_fd = self._lock_fd = -1
            self._series = {}


_WRITERS: "weakref.WeakSet[JournalWriter]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


# -- reading ---------------------------------------------------------------------------------
@dataclass
class SegmentDelta:
    """What a segment holds beyond the offsets already ingested into the DuckDB file."""

    segment: str
    events_start: int
    events_end: int
    metrics_start: int
    metrics_end: int
    events: list = field(default_factory=list)
    metrics: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=METRIC_DTYPE))

    @property
    def empty(self) -> bool:
        return self.events_end == self.events_start and self.metrics_end == self.metrics_start


def list_segments(journal_dir: Path) -> list[str]:
    try:
        names = os.listdir(journal_dir)
    except FileNotFoundError:
        return []
    return sorted(n[: -len(".events")] for n in names if n.endswith(".events"))


def _read_from(path: Path, start: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            return handle.read()
    except FileNotFoundError:
        return b""


def read_segment(journal_dir: Path, segment: str, events_offset: int, metrics_offset: int) -> SegmentDelta:
    """Read a segment's complete records past the given offsets.

    The metrics file is read before the events file: every series a point uses was declared in the
    events file before the point was written, so the later read of events always covers it.
    """
    base = journal_dir / segment
    raw_metrics = _read_from(Path(f"{base}.metrics"), metrics_offset)
    whole = len(raw_metrics) - len(raw_metrics) % METRIC_DTYPE.itemsize
    metrics = np.frombuffer(raw_metrics[:whole], dtype=METRIC_DTYPE)
    raw_events = _read_from(Path(f"{base}.events"), events_offset)
    complete = raw_events.rfind(b"\n") + 1  # a torn last line is not yet an event
    events = [json.loads(line) for line in raw_events[:complete].splitlines() if line]
    return SegmentDelta(segment, events_offset, events_offset + complete,
                        metrics_offset, metrics_offset + whole, events, metrics)


def owner_is_gone(journal_dir: Path, segment: str) -> bool:
    """True when no live process holds the segment's lock (it exited, or was killed)."""
    path = journal_dir / f"{segment}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # also releases the lock if we got it
    return True


def remove_segment(journal_dir: Path, segment: str) -> None:
    for suffix in (".events", ".metrics", ".lock"):
        try:
            os.unlink(journal_dir / f"{segment}{suffix}")
        except FileNotFoundError:
            pass
