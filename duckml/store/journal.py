"""The per-process journal: how a tracking call is recorded in microseconds, without the DuckDB lock.

A DuckDB file admits one read-write process at a time and an open costs ~10 ms, so logging calls never
open it. Each process appends to its own *segment* in ``<artifact folder>/.journal/``:

- ``<segment>.metrics``: fixed 32-byte little-endian metric records, decoded in bulk with one
  ``numpy.frombuffer``;
- ``<segment>.events``: one JSON line per row change ``[ts_ns, op, table, row]`` (runs, params, tags,
  experiments, artifacts, datasets, and the series declarations ``(series -> run_id, key)``).

Every record carries a checksum (``journal_format``), so a reader stops at a damaged record instead of
failing on it or misreading it; the owner holds a ``flock`` on its ``.events`` file while it lives, so an
ingester can tell a dead owner. Every call is one ``os.write`` before it returns, so ``kill -9`` loses
nothing that was acknowledged (the bytes are in the OS page cache); a write the disk refuses is cut back
and reported. A torn tail (a partial record or line) is ignored by readers.
Segments are ingested into the DuckDB file in bulk by whoever briefly holds the lock (see ``ingest.py``).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import weakref
import zlib

import numpy as np

from duckml.errors import JournalWriteError
from duckml.store.journal_format import (CHECKSUMMED_SUFFIX, METRIC_BODY, METRIC_DTYPE, RECORD_SIZE, decode_event_line,
                                         decode_metrics, encode_event, is_checksummed,
                                         stamp_metrics)


# Value types that need no check before numpy stores them as float64 (bool, str, Decimal… take the checked path)
_PLAIN_NUMBER_TYPES = frozenset({float, int, np.float64, np.float32, np.float16, np.int64, np.int32})
_MAX_CACHED_ROWS = 64  # distinct (run, key set) row templates kept per segment

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
    """Appends this process's tracking records to its own segment. Thread-safe; fork-aware.

    A write either lands whole or not at all: a short or failed ``os.write`` (a full disk) is completed or
    cut back to the last whole record, and the caller gets ``JournalWriteError``. Were the cut to fail
    too, the segment is abandoned (closed, its owner seen as gone) and the next call starts a new one, so
    no later record is ever appended to a torn one.
    """

    def __init__(self, journal_dir: Path):
        self.journal_dir = journal_dir
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], int] = {}
        # (run_id, keys) -> a record array whose series ids are filled in, reused by write_metric_row
        self._rows: dict[tuple[str, tuple], np.ndarray] = {}
        self._events_fd = -1
        self._metrics_fd = -1
        self._events_size = 0
        self._metrics_size = 0
        self._last_ts = 0
        self.segment: str | None = None
        self.points_written = 0
        _WRITERS.add(self)

    def _forget_after_fork(self) -> None:
        # A forked child inherits the parent's descriptors: it must never append to them. Closing our
        # copies leaves the parent's flock in place (flock belongs to the shared open file description).
        for fd in (self._events_fd, self._metrics_fd):
            if fd >= 0:
                os.close(fd)
        self._events_fd = self._metrics_fd = -1
        self._series = {}
        self._rows = {}
        self._lock = threading.Lock()
        self.segment = None
        self.points_written = 0

    # -- opening -----------------------------------------------------------------------------
    def _ensure_open(self) -> None:
        if self._metrics_fd >= 0:
            return
        self._series = {}
        self._rows = {}
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        name = (f"{time.time_ns():020d}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                f"{CHECKSUMMED_SUFFIX}")
        base = self.journal_dir / name
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        # metrics first: a reader lists segments by their .events file and then expects both to exist
        metrics_fd = os.open(f"{base}.metrics", flags, 0o644)
        # The owner's flock is held on the .events file itself, taken before the file gets its listed
        # name: no reader can see the segment unowned, and no cleanup of stray files can drop the lock.
        events_fd = os.open(f"{base}.events-new", flags, 0o644)
        fcntl.flock(events_fd, fcntl.LOCK_EX)
        os.rename(f"{base}.events-new", f"{base}.events")
        self._metrics_fd, self._events_fd = metrics_fd, events_fd
        self._events_size = self._metrics_size = 0
        self.segment = name

    def _next_ts(self) -> int:
        # strictly increasing within a segment, so sorting by time keeps this process's order
        now = time.time_ns()
        if now <= self._last_ts:
            now = self._last_ts + 1
        self._last_ts = now
        return now

    # -- appending ---------------------------------------------------------------------------
    def _append_events(self, data: bytes) -> None:
        try:
            written = os.write(self._events_fd, data)
        except OSError as error:
            self._recover(self._events_fd, self._events_size, 0, data, error)
        else:
            if written != len(data):
                self._recover(self._events_fd, self._events_size, written, data, None)
        self._events_size += len(data)

    def _append_metrics(self, data) -> None:
        try:
            written = os.write(self._metrics_fd, data)
        except OSError as error:
            self._recover(self._metrics_fd, self._metrics_size, 0, data, error)
        else:
            if written != len(data):
                self._recover(self._metrics_fd, self._metrics_size, written, data, None)
        self._metrics_size += len(data)

    def _recover(self, fd: int, good_size: int, written: int, data, error: OSError | None) -> None:
        """Finish a short write, or cut the file back to its last whole record and raise."""
        view = memoryview(data)[written:]
        while error is None and view:
            try:
                step = os.write(fd, view)
            except OSError as failure:
                error = failure
                break
            if step == 0:
                error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                break
            view = view[step:]
        if error is None:
            return  # completed
        path = self.journal_dir / f"{self.segment}.{'events' if fd == self._events_fd else 'metrics'}"
        try:
            os.ftruncate(fd, good_size)
        except OSError:
            self._abandon_segment()
            raise JournalWriteError(
                f"could not record to the journal {path} ({error.strerror or error}); this call may be partly "
                "recorded, and the segment was closed so that later calls start a new one") from error
        raise JournalWriteError(f"could not record to the journal {path} ({error.strerror or error}); "
                                "nothing of this call was recorded") from error

    def _abandon_segment(self) -> None:
        for fd in (self._events_fd, self._metrics_fd):
            if fd >= 0:
                os.close(fd)  # closing the .events fd releases the flock: the segment is then finished
        self._events_fd = self._metrics_fd = -1
        self._series = {}
        self._rows = {}  # row templates hold series ids of the segment that is gone

    def write_event(self, op: str, table: str, row: dict) -> None:
        """Append one row change; returns once the bytes are in the OS (survives kill -9)."""
        with self._lock:
            self._ensure_open()
            line = json.dumps([self._next_ts(), op, table, row], default=_json_default,
                              separators=(",", ":"), allow_nan=True)
            self._append_events(encode_event(line))

    def _series_id(self, run_id: str, key: str) -> int:
        sid = self._series.get((run_id, key))
        if sid is None:
            sid = len(self._series)
            line = json.dumps([self._next_ts(), SERIES, "_duckml_series",
                               {"series_id": sid, "run_id": run_id, "key": key}], separators=(",", ":"))
            # declared before any point that uses it, so a reader never sees an undeclared series
            self._append_events(encode_event(line))
            self._series[(run_id, key)] = sid
        return sid

    def write_metric(self, run_id: str, key: str, value: float, step: int, timestamp_us: int) -> None:
        with self._lock:
            if self._metrics_fd < 0:
                self._ensure_open()
            sid = self._series.get((run_id, key))
            if sid is None:
                sid = self._series_id(run_id, key)
            # the hot path (~µs a call): encode_metric and _append_metrics inlined
            body = _pack_body(sid, value, step, timestamp_us)
            data = _crc32(body).to_bytes(4, "little") + body
            try:
                written = os.write(self._metrics_fd, data)
            except OSError as error:
                self._recover(self._metrics_fd, self._metrics_size, 0, data, error)
            else:
                if written != RECORD_SIZE:
                    self._recover(self._metrics_fd, self._metrics_size, written, data, None)
            self._metrics_size += RECORD_SIZE
            self.points_written += 1

    def write_metrics(self, run_id: str, keys, values, steps, timestamps_us) -> None:
        """Append many points in one write; the arrays are already validated and of equal length."""
        with self._lock:
            self._ensure_open()
            records = np.empty(len(values), dtype=METRIC_DTYPE)
            records["series"] = [self._series_id(run_id, k) for k in keys] if not isinstance(keys, str) \
                else self._series_id(run_id, keys)
            records["value"] = values
            records["step"] = steps
            records["timestamp"] = timestamps_us
            stamp_metrics(records)
            self._append_metrics(records.tobytes())
            self.points_written += len(records)

    def write_metric_row(self, run_id: str, metrics: dict, step: int, timestamp_us: int) -> bool:
        """Append one point per key of ``metrics`` (one step and time) in one write, if this segment has
        already declared every key for the run and every value is a plain number.

        Otherwise write nothing and return False: the caller then validates the call and uses
        ``write_metrics``. Declared keys were validated when first written, so a known key set skips
        validation, and the call's record array is reused, so a step costs one fill and one ``os.write``.
        """
        with self._lock:
            if self._metrics_fd < 0:
                return False
            keys = tuple(metrics)
            records = self._rows.get((run_id, keys))
            if records is None:
                series = self._series
                try:
                    ids = [series[(run_id, key)] for key in keys]
                except KeyError:
                    return False
                if len(self._rows) >= _MAX_CACHED_ROWS:
                    self._rows.clear()
                records = np.zeros(len(keys), dtype=METRIC_DTYPE)
                records["series"] = ids
                self._rows[(run_id, keys)] = records
            values = list(metrics.values())
            if not _PLAIN_NUMBER_TYPES.issuperset(map(type, values)):
                return False
            try:
                records["value"] = values
            except OverflowError:  # an int beyond float64: the checked path reports it
                return False
            records["step"] = step
            records["timestamp"] = timestamp_us
            stamp_metrics(records)
            self._append_metrics(records.tobytes())
            self.points_written += len(records)
            return True

    def close(self) -> None:
        """Close this process's segment; an ingest may then delete it once fully stored."""
        with self._lock:
            self._abandon_segment()
            self._rows = {}


_pack_body = METRIC_BODY.pack
_crc32 = zlib.crc32
_WRITERS: "weakref.WeakSet[JournalWriter]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


# -- reading ---------------------------------------------------------------------------------
@dataclass
class SegmentDelta:
    """What a segment holds beyond the offsets already ingested into the DuckDB file.

    ``damage`` names the first record that failed its check (the delta stops before it); ``at_end`` is
    true when both files were read to their end with no limit, so a finished owner's segment is complete.
    """

    segment: str
    events_start: int
    events_end: int
    metrics_start: int
    metrics_end: int
    events: list = field(default_factory=list)
    metrics: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=METRIC_DTYPE))
    damage: str | None = None
    at_end: bool = True

    @property
    def empty(self) -> bool:
        return self.events_end == self.events_start and self.metrics_end == self.metrics_start

    def cut_metrics(self, count: int, reason: str) -> None:
        """Keep only the first ``count`` points: the next one is damaged."""
        self.metrics = self.metrics[:count]
        self.metrics_end = self.metrics_start + count * RECORD_SIZE
        self.damage = self.damage or reason
        self.at_end = True  # everything before the damage was read


def list_segments(journal_dir: Path) -> list[str]:
    try:
        names = os.listdir(journal_dir)
    except FileNotFoundError:
        return []
    return sorted(n[: -len(".events")] for n in names if n.endswith(".events"))


def _read_from(path: Path, start: int, limit: int = -1) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            return handle.read(limit)
    except FileNotFoundError:
        return b""


def pending_bytes(journal_dir: Path, segment: str, metrics_offset: int) -> int:
    """How many bytes of metric records lie past ``metrics_offset`` (a stat, no read)."""
    try:
        return max(0, os.stat(journal_dir / f"{segment}.metrics").st_size - metrics_offset)
    except FileNotFoundError:
        return 0


def read_segment(journal_dir: Path, segment: str, events_offset: int, metrics_offset: int,
                 max_points: int | None = None) -> SegmentDelta:
    """Read a segment's good records past the given offsets (at most ``max_points`` metric points).

    The metrics file is read before the events file: every series a point uses was declared in the
    events file before the point was written, so the later read of events always covers it. Reading
    stops at the first record that fails its check, and never raises for one.
    """
    base = journal_dir / segment
    checksummed = is_checksummed(segment)
    limit = -1 if max_points is None else max_points * RECORD_SIZE
    raw_metrics = _read_from(Path(f"{base}.metrics"), metrics_offset, limit)
    metrics, bad_point = decode_metrics(raw_metrics, checksummed)
    raw_events = _read_from(Path(f"{base}.events"), events_offset)
    complete = raw_events.rfind(b"\n") + 1  # a torn last line is not yet an event
    events, consumed, damage = [], 0, None
    for line in raw_events[:complete].split(b"\n")[:-1]:
        try:
            event = _without_surrogates(decode_event_line(line, checksummed), base)
            if event[1] != SERIES and event[2] not in TABLE_KEYS:
                raise ValueError(f"unknown table {event[2]!r}")
        except (ValueError, TypeError) as error:
            damage = f"{base}.events: bad record at byte {events_offset + consumed} ({error})"
            break
        events.append(event)
        consumed += len(line) + 1
    delta = SegmentDelta(segment, events_offset, events_offset + consumed, metrics_offset,
                         metrics_offset + len(metrics) * RECORD_SIZE, events, metrics, damage,
                         at_end=max_points is None or len(raw_metrics) < limit or bad_point is not None)
    if bad_point is not None:
        delta.damage = delta.damage or (
            f"{base}.metrics: bad record at byte {metrics_offset + bad_point * RECORD_SIZE} (checksum mismatch)")
    return delta


def _without_surrogates(event, base: Path):
    """One decoded event; a lone surrogate an older duckml let through (it cannot reach DuckDB) becomes
    U+FFFD, with a warning, so one bad value never blocks the store."""
    if "\\ud" in repr(event).lower():
        def clean(value):
            if isinstance(value, str):
                return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value)
            if isinstance(value, list):
                return [clean(item) for item in value]
            if isinstance(value, dict):
                return {clean(k): clean(v) for k, v in value.items()}
            return value

        cleaned = clean(event)
        if cleaned != event:
            import warnings

            warnings.warn(f"journal segment {base}.events holds text that is not valid Unicode (a lone "
                          "surrogate); it is stored with U+FFFD in its place", RuntimeWarning, stacklevel=2)
        event = cleaned
    return event


def owner_is_gone(journal_dir: Path, segment: str) -> bool:
    """True when no live process owns the segment (it exited, or was killed).

    A checksummed segment's owner holds a ``flock`` on its ``.events`` file; a legacy segment's owner
    holds one on its ``.lock`` file, and when that file was deleted, the process named in the segment
    (on this host) is asked instead, so a cleanup of ``.lock`` files cannot pass a live writer for dead.
    """
    if is_checksummed(segment):
        return not _flock_held(journal_dir / f"{segment}.events")
    held = _flock_held(journal_dir / f"{segment}.lock")
    if held is None:
        return not _named_process_alive(segment)
    return not held


def _flock_held(path: Path) -> bool | None:
    """Whether another process holds ``path``'s flock; None when the file does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the lock if we got it
    return False


def _named_process_alive(segment: str) -> bool:
    # a segment is named <time>-<host>-<pid>-<random>; a host name may itself hold dashes
    parts = segment.split("-")
    if len(parts) < 4 or not parts[-2].isdigit():
        return False
    if "-".join(parts[1:-2]) != socket.gethostname():
        return True  # another machine's process cannot be asked: keep the segment, as its flock would
    try:
        os.kill(int(parts[-2]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_segment(journal_dir: Path, segment: str) -> None:
    for suffix in (".events", ".metrics", ".lock"):
        try:
            os.unlink(journal_dir / f"{segment}{suffix}")
        except FileNotFoundError:
            pass
