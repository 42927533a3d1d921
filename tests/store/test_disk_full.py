"""Issue 22, item 12: a full disk at a run's end or during an ingest strands nothing. The run end lands, or
the next ``end_run``/``start_run`` lands it once space is back; the background ingester reports once,
retries and lives; nothing logged is lost.

The fast tests inject the disk's refusal where duckml meets it (the journal's ``os.write``, DuckDB's writes
during an ingest); the slow one fills a real (tmpfs) file system when the test may mount one.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import uuid

import duckdb
import pytest

import duckml
from duckml.store import batches, journal
from store_children import child_env


class _Disk:
    """Stands in for ``os`` in the journal module: its writes fail with ENOSPC while ``full``."""

    def __init__(self):
        self.full = False
        self.refused = 0

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        if self.full:
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)


@pytest.fixture
def disk(monkeypatch):
    disk = _Disk()
    monkeypatch.setattr(journal, "os", disk)
    return disk


def _file_rows(path, query: str):
    """What a plain duckdb client sees in the file itself (not the journal)."""
    duckml.get_store().release()
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{path}' AS store (READ_ONLY)")
        return con.execute(query).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("then", ["start_run", "end_run"])
def test_a_run_end_the_full_disk_refused_is_recorded_by_the_next_start_or_end_run(store, disk, then):
    run = duckml.start_run()
    duckml.log_metric("loss", 0.5)
    disk.full = True
    with pytest.raises(duckml.errors.JournalWriteError, match=run.info.run_id):
        duckml.end_run("FAILED")
    assert duckml.active_run() is None  # ended as far as this thread goes: nothing strands it
    with pytest.raises(duckml.errors.JournalWriteError):  # still full: the next call says so, starts nothing
        duckml.start_run()
    assert duckml.active_run() is None
    disk.full = False
    if then == "start_run":
        with duckml.start_run() as second:
            duckml.log_metric("loss", 0.25)
        assert duckml.get_run(second.info.run_id).data.metrics == {"loss": 0.25}
    else:
        duckml.end_run()
    ended = duckml.get_run(run.info.run_id)
    assert (ended.info.status, ended.data.metrics) == ("FAILED", {"loss": 0.5})
    assert ended.info.end_time is not None
    duckml.flush()
    assert _file_rows(store.path, f"SELECT status FROM store.runs WHERE run_id = '{run.info.run_id}'") == [
        ("FAILED",)]


def test_nested_runs_ended_on_a_full_disk_are_both_recorded_once_space_is_back(store, disk):
    with pytest.raises(duckml.errors.JournalWriteError):
        with duckml.start_run() as parent:
            with duckml.start_run(nested=True) as child:
                disk.full = True
    assert duckml.active_run() is None
    disk.full = False
    with duckml.start_run():
        pass
    # the child's refused end left the parent's block as an exception: FAILED, as MLflow ends it
    assert [duckml.get_run(run.info.run_id).info.status for run in (parent, child)] == ["FAILED", "FINISHED"]


def test_a_run_end_the_full_disk_refused_is_recorded_at_exit(store, disk):
    run = duckml.start_run()
    disk.full = True
    with pytest.raises(duckml.errors.JournalWriteError):
        duckml.end_run()
    disk.full = False
    from duckml.tracking import fluent
    fluent._end_runs_at_exit()
    assert duckml.get_run(run.info.run_id).info.status == "FINISHED"


class _IngestFaults:
    """DuckDB refusing to write during an ingest (disk full) the first ``times`` times."""

    def __init__(self, times: int):
        self.times = times
        self.calls = 0
        self.reached = threading.Event()
        self.ingest_all = batches.ingest_all

    def __call__(self, con, journal_dir, table_schemas):
        self.calls += 1
        if self.calls <= self.times:
            if self.calls == self.times:
                self.reached.set()
            raise duckdb.TransactionException('TransactionContext Error: Failed to commit: Could not write file '
                                              '"s.duckdb.wal": No space left on device')
        return self.ingest_all(con, journal_dir, table_schemas)


def test_the_background_ingester_reports_a_full_disk_once_retries_and_lives(store, monkeypatch, capfd):
    monkeypatch.setenv("DUCKML_INGEST_DELAY_MS", "1")
    faults = _IngestFaults(times=3)
    monkeypatch.setattr(batches, "ingest_all", faults)
    with duckml.start_run() as run:
        duckml.log_metric("loss", 0.5)
    assert faults.reached.wait(timeout=60), "the ingester stopped retrying"
    assert store.store.wait_for_background_ingest(timeout=60)
    assert faults.calls == 4  # three refused, the fourth landed
    assert _file_rows(store.path, f"SELECT status FROM store.runs WHERE run_id = '{run.info.run_id}'") == [
        ("FINISHED",)]
    assert _file_rows(store.path, "SELECT count(*) FROM store.metrics") == [(1,)]
    reports = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(reports) == 1, reports
    assert "No space left on device" in reports[0] and "Traceback" not in reports[0]


def test_flush_on_a_full_disk_raises_a_store_error_and_works_once_space_is_back(store, monkeypatch):
    faults = _IngestFaults(times=1)
    monkeypatch.setattr(batches, "ingest_all", faults)
    with duckml.start_run() as run:
        duckml.log_metric("loss", 0.5)
    with pytest.raises(duckml.StoreError, match="No space left on device.*journal"):
        duckml.flush()
    duckml.flush()
    assert _file_rows(store.path, f"SELECT count(*) FROM store.metrics WHERE run_id = '{run.info.run_id}'") == [
        (1,)]


def test_a_writer_far_ahead_whose_own_ingest_the_disk_refuses_keeps_logging(store, monkeypatch):
    """Back-pressure makes a writer ingest itself; a full disk then must not fail the call that was recorded."""
    from duckml.store import store as store_module
    monkeypatch.setattr(store_module, "_BACKGROUND_INGEST_POINTS", 100)
    monkeypatch.setattr(store_module, "_AUTO_INGEST_POINTS", 150)
    monkeypatch.setattr(store_module.Store, "ingest_soon", lambda self: None)  # a background that never runs
    faults = _IngestFaults(times=10**9)
    monkeypatch.setattr(batches, "ingest_all", faults)
    store.store.next_ingest_at = 100
    with duckml.start_run() as run:
        for step in range(400):
            duckml.log_metric("loss", float(step), step=step)
        assert faults.calls >= 1  # it tried to ingest itself, and the disk refused
    monkeypatch.setattr(batches, "ingest_all", faults.ingest_all)
    duckml.flush()
    assert _file_rows(store.path, f"SELECT count(*) FROM store.metrics WHERE run_id = '{run.info.run_id}'") == [
        (400,)]


_FILL_AND_END = """
    import os, sys, duckml
    mount, store_path, room = sys.argv[1], sys.argv[2], int(sys.argv[3])
    duckml.set_store(store_path)
    run = duckml.start_run()
    for step in range(1000):
        duckml.log_metric("m", float(step), step=step)
    filler = os.open(os.path.join(mount, "filler"), os.O_WRONLY | os.O_CREAT)
    try:
        free = os.statvfs(mount)
        os.write(filler, b"\\0" * (free.f_bavail * free.f_frsize - room))
        while not room:
            os.write(filler, b"\\0" * 4096)
    except OSError:
        pass
    os.close(filler)
    tag = 0
    try:  # without room, use up the slack of the journal's last page too: the disk refuses even a run end
        while not room:
            duckml.set_tag(f"t{tag}", "x" * 200)
            tag += 1
    except duckml.errors.JournalWriteError:
        pass
    try:
        duckml.end_run()
        print("end_run landed")
    except duckml.errors.JournalWriteError:
        print("end_run refused")
    try:
        duckml.flush()
        print("flush landed")
    except duckml.StoreError as error:
        print("flush refused")
    os.remove(os.path.join(mount, "filler"))
    with duckml.start_run() as second:
        duckml.log_metric("m", -1.0)
    duckml.flush()
    print(run.info.run_id, second.info.run_id, tag)
"""


@pytest.mark.slow
@pytest.mark.parametrize("room, outcome", [(0, ["end_run refused", "flush refused"]),
                                           (64 * 1024, ["end_run landed", "flush refused"])])
def test_a_really_full_disk_at_end_run_strands_nothing(tmp_path, room, outcome):
    """A 16 MiB tmpfs filled while a run is active (needs root, as CI runs): to the last byte, or with
    room left for the journal but not for DuckDB's writes."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m", f"duckml-{uuid.uuid4().hex[:8]}", str(mount)],
            capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root?)")
    try:
        path = mount / "store.duckdb"
        child = subprocess.run([sys.executable, "-c", textwrap.dedent(_FILL_AND_END), str(mount), str(path),
                                str(room)],
                               env=child_env(path), capture_output=True, text=True, timeout=300)
        assert child.returncode == 0, child.stderr
        lines = child.stdout.splitlines()
        assert lines[:2] == outcome, child.stdout
        first, second, tags = lines[2].split()
        assert "Traceback" not in child.stderr, child.stderr
        con = duckdb.connect()
        con.execute(f"ATTACH '{path}' AS store (READ_ONLY)")
        try:
            assert con.execute("SELECT run_id, status FROM store.runs ORDER BY start_time").fetchall() == [
                (first, "FINISHED"), (second, "FINISHED")]
            assert con.execute("SELECT run_id, count(*) FROM store.metrics GROUP BY ALL ORDER BY 2 DESC"
                               ).fetchall() == [(first, 1000), (second, 1)]
            assert con.execute("SELECT count(*) FROM store.tags WHERE key LIKE 't%' AND run_id = ?",
                               [first]).fetchone() == (int(tags),)
        finally:
            con.close()
    finally:
        subprocess.run(["umount", str(mount)], check=False)
