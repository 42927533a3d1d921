"""Issue 16, item 1 and the memory items: ingest in bounded batches, exactly once whatever a crash keeps."""

from __future__ import annotations

import json
import os
import signal
import time

import duckdb
import numpy as np
import pytest

import duckml
from duckml.store import batches, journal
from store_children import run_child, start_child


def _dead_writer(store, points: int, key: str = "m") -> str:
    """A run in the file and ``points`` points of it left in a finished journal segment."""
    with duckml.start_run() as run:
        duckml.log_param("p", 1)
    duckml.flush()  # this process's own segment is closed and ingested: only the dead writer's is left
    writer = journal.JournalWriter(store.store.journal_dir)
    chunk = 200_000
    for start in range(0, points, chunk):
        steps = np.arange(start, min(points, start + chunk), dtype=np.int64)
        writer.write_metrics(run.info.run_id, key, steps.astype(np.float64), steps,
                             steps + 1_700_000_000_000_000)
    writer.close()
    return run.info.run_id


def _stored(path) -> tuple:
    store_con = duckdb.connect(str(path), read_only=True)
    try:
        return store_con.execute("SELECT count(*), count(DISTINCT step) FROM metrics").fetchone()
    finally:
        store_con.close()


def test_a_large_backlog_is_ingested_in_bounded_batches(store, monkeypatch):
    run_id = _dead_writer(store, 2_500)
    commits = []
    real_commit = batches._commit_batch
    monkeypatch.setattr(batches, "BATCH_POINTS", 1_000)
    monkeypatch.setattr(batches, "_commit_batch", lambda con, pending, schemas: (
        commits.append(pending.points), real_commit(con, pending, schemas)))
    store.store.ingest()
    assert commits == [1_000, 1_000, 500]
    assert store.sql("SELECT count(*), count(DISTINCT step) FROM metrics").fetchone() == (2_500, 2_500)
    assert duckml.get_run(run_id).data.metrics == {"m": 2_499.0}
    assert journal.list_segments(store.store.journal_dir) == []


def _interrupted_batch(store, run_id: str, points_kept: bool) -> None:
    """What a kill during a batch's commit can leave: its intent, and its points or none, no offsets."""
    store.store.release()
    segment = journal.list_segments(store.store.journal_dir)[0]
    con = duckdb.connect(str(store.path))
    try:
        before = con.execute("SELECT count(*) FROM metrics").fetchone()[0]
        intent = {"metrics_rows_before": before, "points": 300, "runs": [run_id],
                  "metrics_offsets": [[segment, 300 * 32]]}
        con.execute("INSERT INTO _duckml_meta VALUES ('ingest_intent', ?)", [json.dumps(intent)])
        if points_kept:
            con.execute("INSERT INTO metrics SELECT ?, 'm', i::DOUBLE, i, make_timestamp(1_700_000_000_000_000 + i) "
                        "FROM range(300) t(i)", [run_id])
    finally:
        con.close()


@pytest.mark.parametrize("points_kept", [True, False])
def test_a_batch_cut_short_is_never_ingested_twice(store, points_kept):
    run_id = _dead_writer(store, 300)
    _interrupted_batch(store, run_id, points_kept)
    store.store.ingest()
    assert store.sql("SELECT count(*), count(DISTINCT step) FROM metrics").fetchone() == (300, 300)
    assert duckml.get_run(run_id).data.metrics == {"m": 299.0}
    assert store.sql("SELECT count(*) FROM _duckml_meta WHERE key = 'ingest_intent'").fetchone()[0] == 0
    assert journal.list_segments(store.store.journal_dir) == []


@pytest.mark.slow
def test_kill_9_at_any_point_of_a_large_ingest_stores_every_point_once(store):
    total = 3_000_000
    run_id = _dead_writer(store, total)
    store.store.release()
    delays = [0.2, 0.5, 0.8, 1.1, 1.5, 2.0, 2.6, 3.3, 4.1, 5.0, 6.5, 8.0]
    for delay in delays:
        flusher = start_child("import duckml; duckml.flush()", store.path)
        time.sleep(delay)
        if flusher.poll() is not None:
            break  # it finished: later delays add nothing
        os.kill(flusher.pid, signal.SIGKILL)
        flusher.wait()
        count, distinct = _stored(store.path)
        assert count == distinct, f"killed after {delay} s: {count - distinct} points stored twice"
    done = run_child("import duckml; duckml.flush()", store.path, timeout=600)
    assert done.returncode == 0, done.stderr
    assert _stored(store.path) == (total, total)
    assert duckml.get_run(run_id).data.metrics == {"m": float(total - 1)}
    journal_dir = store.store.journal_dir
    assert not [s for s in journal.list_segments(journal_dir) if journal.owner_is_gone(journal_dir, s)]


def test_a_reader_finding_a_large_backlog_ingests_it_first(store, monkeypatch):
    from duckml.store import store as store_module

    run_id = _dead_writer(store, 5_000)
    monkeypatch.setattr(store_module, "_READER_INGEST_AT", 1_000)
    assert duckml.get_run(run_id).data.metrics == {"m": 4_999.0}
    assert journal.list_segments(store.store.journal_dir) == []  # ingested by the read
    assert _stored(store.path) == (5_000, 5_000)


@pytest.mark.slow
def test_kill_9_just_after_the_commit_starts_stores_every_point_once(store):
    """The window issue 16 hit: killed a few ms after the write-ahead log appears."""
    total = 3_000_000
    run_id = _dead_writer(store, total)
    store.store.release()
    wal = store.path.with_name(store.path.name + ".wal")
    for delay_ms in [0, 1, 2, 4, 8, 15, 30, 60]:
        flusher = start_child("import duckml; duckml.flush()", store.path)
        while not wal.exists() and flusher.poll() is None:
            time.sleep(0.0005)
        time.sleep(delay_ms / 1000)
        if flusher.poll() is not None:
            break
        os.kill(flusher.pid, signal.SIGKILL)
        flusher.wait()
        count, distinct = _stored(store.path)
        assert count == distinct, f"killed {delay_ms} ms into a commit: {count - distinct} points stored twice"
    done = run_child("import duckml; duckml.flush()", store.path, timeout=600)
    assert done.returncode == 0, done.stderr
    assert _stored(store.path) == (total, total)
    assert duckml.get_run(run_id).data.metrics == {"m": float(total - 1)}
