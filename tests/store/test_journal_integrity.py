"""Issue 16, items 2 and 4: a full disk or a damaged segment never tears, poisons or silently loses data."""

from __future__ import annotations

import errno
import os
import struct
import warnings

import pytest

import duckml
from duckml.errors import JournalWriteError, StoreError
from duckml.store import journal, quarantine
from duckml.store.journal_format import LEGACY_METRIC_DTYPE


def _segment_files(store, suffix):
    return sorted(store.store.journal_dir.glob(f"*{suffix}"))


def _points(store, key="m"):
    return store.sql("SELECT count(*) FROM metrics WHERE key = ?", [key]).fetchone()[0]


class _FailingWrites:
    """os.write that writes ``keep`` bytes of the next call, then fails with ENOSPC (a full disk)."""

    def __init__(self, keep: int, raise_after: bool = True):
        self.keep = keep
        self.raise_after = raise_after
        self.armed = False
        self.real = os.write

    def __call__(self, fd, data):
        if not self.armed:
            return self.real(fd, data)
        self.armed = False
        if self.keep:
            self.real(fd, bytes(memoryview(data)[: self.keep]))
            if not self.raise_after:
                self.armed = True  # the completion attempt fails
                self.keep = 0
                return self.keep or len(bytes(memoryview(data)[:1]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_short_write_is_completed(store, monkeypatch):
    real = os.write
    calls = []

    def short(fd, data):
        calls.append(len(data))
        return real(fd, bytes(memoryview(data)[: max(1, len(data) // 2)]))  # the kernel wrote half

    with duckml.start_run():
        duckml.log_param("p", "x" * 100)
        monkeypatch.setattr(journal.os, "write", short)
        duckml.log_param("q", "y" * 100)
        duckml.log_metric("m", 1.5, step=1)
        monkeypatch.setattr(journal.os, "write", real)
        run_id = duckml.active_run().info.run_id
    assert len(calls) > 2
    assert duckml.get_run(run_id).data.params == {"p": "x" * 100, "q": "y" * 100}
    assert _points(store) == 1


@pytest.mark.parametrize("kind", ["event", "metric"])
def test_a_full_disk_raises_and_leaves_no_torn_record(store, monkeypatch, kind):
    failing = _FailingWrites(keep=5)
    monkeypatch.setattr(journal.os, "write", failing)
    with duckml.start_run() as run:
        duckml.log_param("before", 1)
        duckml.log_metric("m", 1.0, step=0)
        failing.armed = True
        with pytest.raises(JournalWriteError, match="No space left on device") as caught:
            if kind == "event":
                duckml.log_param("lost", "z" * 50)
            else:
                duckml.log_metric("m", 2.0, step=1)
        assert isinstance(caught.value, StoreError)
        assert "nothing of this call was recorded" in str(caught.value)
        duckml.log_param("after", 2)  # the disk has room again
        duckml.log_metric("m", 3.0, step=2)
        # every reader of the live journal keeps working
        assert duckml.get_run(run.info.run_id).data.params == {"before": "1", "after": "2"}
    assert _points(store) == 2
    assert store.sql("SELECT list(value ORDER BY step) FROM metrics").fetchone()[0] == [1.0, 3.0]
    assert not list(store.store.journal_dir.glob("quarantine/*"))


def test_a_segment_that_cannot_be_cut_back_is_abandoned(store, monkeypatch):
    failing = _FailingWrites(keep=5)
    monkeypatch.setattr(journal.os, "write", failing)
    monkeypatch.setattr(journal.os, "ftruncate", lambda fd, size: (_ for _ in ()).throw(OSError(errno.EIO, "EIO")))
    with duckml.start_run() as run:
        duckml.log_metric("m", 1.0, step=0)
        first = store.store.journal.writer.segment
        failing.armed = True
        with pytest.raises(JournalWriteError, match="segment was closed"):
            duckml.log_metric("m", 2.0, step=1)
        duckml.log_metric("m", 3.0, step=2)
        assert store.store.journal.writer.segment != first  # nothing appended after the torn record
    assert sorted(store.sql("SELECT value FROM metrics").fetchall()) == [(1.0,), (3.0,)]
    assert duckml.get_run(run.info.run_id).info.status == "FINISHED"


def _dead_segment(store, points: int = 100, run_id: str | None = None) -> tuple:
    """A run in the file, and a finished segment (its writer gone) holding ``points`` points of 'm' for it
    and a tag."""
    if run_id is None:
        with duckml.start_run() as run:
            duckml.log_param("p", 1)
        run_id = run.info.run_id
        duckml.flush()  # closes this process's own segment: only the dead writer's stays
    writer = journal.JournalWriter(store.store.journal_dir)
    writer.write_event("u", "tags", {"run_id": run_id, "key": "t", "value": "v"})
    for step in range(points):
        writer.write_metric(run_id, "m", float(step), step, 1_700_000_000_000_000 + step)
    segment = writer.segment
    writer.close()
    return run_id, store.store.journal_dir, segment


def _damage_then_flush(store, journal_dir, segment, damage):
    damage(journal_dir / segment)
    with pytest.warns(quarantine.JournalDamageWarning, match=segment):
        runs = duckml.search_runs()  # a reader never fails on it
        store.store.ingest()
    return runs


def test_garbage_bytes_in_events_are_quarantined_and_the_rest_is_kept(store):
    with duckml.start_run() as other:
        pass
    duckml.flush()  # run ends leave this process's segment open; flush closes it, so only dead ones remain
    run_id, journal_dir, segment = _dead_segment(store, points=3)
    other_id, _, other_segment = _dead_segment(store, points=4, run_id=other.info.run_id)

    def garbage(base):
        with open(f"{base}.events", "ab") as handle:
            handle.write(b"\xff\xfe\x00garbage\n")
            handle.write(b"00000000 [1,\"u\",\"tags\",{}]\n")  # a good-looking line after it is not trusted

    _damage_then_flush(store, journal_dir, segment, garbage)
    assert duckml.get_run(run_id).data.tags["t"] == "v"
    assert duckml.get_run(other_id).data.metrics == {"m": 3.0}
    assert _points(store) == 7
    moved = journal_dir / "quarantine" / f"{segment}.events"
    assert moved.exists() and b"garbage" in moved.read_bytes()  # nothing deleted
    assert (journal_dir / "quarantine" / f"{segment}.json").exists()
    assert journal.list_segments(journal_dir) == []


def test_bytes_inserted_into_metrics_keep_the_points_before_them(store):
    run_id, journal_dir, segment = _dead_segment(store, points=100)

    def insert_three_bytes(base):
        path = f"{base}.metrics"
        data = open(path, "rb").read()
        open(path, "wb").write(data[: 50 * 32] + b"abc" + data[50 * 32:])

    _damage_then_flush(store, journal_dir, segment, insert_three_bytes)
    assert store.sql("SELECT count(*), max(step) FROM metrics").fetchone() == (50, 49)
    quarantined = journal_dir / "quarantine" / f"{segment}.metrics"
    assert quarantined.stat().st_size == 100 * 32 + 3  # the other 50 points are kept, not deleted
    assert duckml.get_run(run_id).data.metrics == {"m": 49.0}


def test_a_corrupted_series_number_costs_no_memory_and_is_quarantined(store):
    run_id, journal_dir, segment = _dead_segment(store, points=10)

    def corrupt_series(base):
        with open(f"{base}.metrics", "r+b") as handle:
            handle.seek(5 * 32 + 4)  # the series field of the sixth point
            handle.write(struct.pack("<I", 0x7FFFFFFF))

    _damage_then_flush(store, journal_dir, segment, corrupt_series)
    assert _points(store) == 5


def _legacy_segment(journal_dir, name, run_id, series_of_points):
    """A segment in the format written before checksums (bare JSON lines, flags field, a .lock file)."""
    journal_dir.mkdir(parents=True, exist_ok=True)
    base = journal_dir / name
    lines = [f'[1,"s","_duckml_series",{{"series_id":0,"run_id":"{run_id}","key":"old"}}]']
    (base.with_name(name + ".events")).write_text("\n".join(lines) + "\n")
    records = [struct.pack("<IIdqq", series, 0, float(i), i, 1_700_000_000_000_000 + i)
               for i, series in enumerate(series_of_points)]
    (base.with_name(name + ".metrics")).write_bytes(b"".join(records))
    (base.with_name(name + ".lock")).write_bytes(b"")


def test_legacy_segments_are_still_read(store):
    with duckml.start_run() as run:
        pass
    journal_dir = store.store.journal_dir
    _legacy_segment(journal_dir, "00000000000000000001-otherhost-1-abcdef01", run.info.run_id, [0, 0, 0])
    assert store.sql("SELECT count(*) FROM metrics WHERE key = 'old'").fetchone()[0] == 3  # live overlay
    store.store.ingest()
    assert _points(store, "old") == 3
    assert LEGACY_METRIC_DTYPE.itemsize == 32


def test_a_legacy_segment_with_a_huge_series_number_is_cut_there(store):
    with duckml.start_run() as run:
        pass
    journal_dir = store.store.journal_dir
    name = "00000000000000000001-otherhost-1-abcdef02"
    _legacy_segment(journal_dir, name, run.info.run_id, [0, 0, 0x7FFFFFFF, 0])
    (journal_dir / f"{name}.lock").unlink()  # and its writer gone: another host's, so kept as live
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert store.sql("SELECT count(*) FROM metrics WHERE key = 'old'").fetchone()[0] == 2
    assert any(name in str(w.message) for w in caught)


@pytest.mark.slow
def test_a_really_full_disk_under_the_journal(store):
    """The journal on a 256 kB tmpfs: the call that does not fit raises, nothing torn stays, and freeing
    space (an ingest removes finished segments) lets logging go on."""
    import subprocess

    journal_dir = store.store.journal_dir
    journal_dir.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(journal_dir)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}); the fault-injecting "
                    "writer tests cover the same paths")
    try:
        run = duckml.start_run()
        duckml.log_param("p", 1)
        acknowledged = 0
        with pytest.raises(JournalWriteError, match="No space left on device"):
            for step in range(1_000_000):
                duckml.log_metric("m", float(step), step=step)
                acknowledged += 1
        assert acknowledged > 1000
        assert duckml.get_run(run.info.run_id).data.params == {"p": "1"}  # readers are not poisoned
        duckml.flush()  # ingests and removes the full segment: space again
        duckml.log_metric("m", -1.0, step=acknowledged)
        duckml.end_run()
        assert store.sql("SELECT count(*), count(DISTINCT step) FROM metrics").fetchone() == (
            acknowledged + 1, acknowledged + 1)
        assert duckml.get_run(run.info.run_id).info.status == "FINISHED"
        assert not list(journal_dir.glob("quarantine/*"))
    finally:
        duckml.reset_state()
        subprocess.run(["umount", str(journal_dir)], check=False)
