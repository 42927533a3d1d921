"""Issue 16, items 3, 7 and 10: a deleted lock file, a fork, a busy file: no data lost, nothing hangs."""

from __future__ import annotations

import os
import time

import duckdb
import pytest

import duckml
from duckml.store import journal
from store_children import run_child, start_child


def test_a_live_writer_is_never_taken_for_dead_whatever_files_are_removed(store):
    with duckml.start_run():
        duckml.log_metric("m", 1.0)
        writer = store.store.journal.writer
        journal_dir = store.store.journal_dir
        for stray in journal_dir.glob("*.lock"):  # a routine cleanup of lock files
            stray.unlink()
        assert not journal.owner_is_gone(journal_dir, writer.segment)
    duckml.flush()  # closes this process's segment, as process exit would
    assert journal.owner_is_gone(journal_dir, writer.segment) or not journal.list_segments(journal_dir)


@pytest.mark.slow
def test_deleting_lock_files_while_a_writer_runs_loses_nothing(store, tmp_path):
    go = tmp_path / "go"
    writer = start_child(f"""
        import os, time, duckml
        with duckml.start_run() as run:
            for step in range(1000):
                duckml.log_metric("m", float(step), step=step)
            print(run.info.run_id, flush=True)
            while not os.path.exists({str(go)!r}):
                time.sleep(0.01)
            for step in range(1000, 2000):
                duckml.log_metric("m", float(step), step=step)
        """, store.path)
    run_id = writer.stdout.readline().strip()
    for stray in store.store.journal_dir.glob("*.lock"):
        stray.unlink()
    flusher = run_child("import duckml; duckml.flush()", store.path)
    assert flusher.returncode == 0, flusher.stderr
    go.touch()
    assert writer.wait(timeout=120) == 0, writer.stderr.read()
    assert duckml.get_run(run_id).info.status == "FINISHED"
    assert store.sql("SELECT count(*), count(DISTINCT step) FROM metrics WHERE run_id = ?",
                     [run_id]).fetchone() == (2000, 2000)


@pytest.mark.slow
@pytest.mark.parametrize("child", ["exit", "log", "read", "sql"])
def test_a_forked_child_exits_without_hanging(store, child):
    script = f"""
        import os, sys, duckml
        run = duckml.start_run()
        duckml.log_metric("m", 1.0)
        if {child!r} in ("read", "sql"):
            for _ in range(3):  # a burst of reads: the file stays attached for a moment
                duckml.get_run(run.info.run_id)
            duckml.connect().sql("SELECT count(*) FROM metrics").fetchall()
        pid = os.fork()
        if pid == 0:
            if {child!r} == "log":
                duckml.log_metric("child", 2.0)
            if {child!r} == "sql":
                duckml.connect().sql("SELECT count(*) FROM metrics").fetchall()
            sys.exit(0)
        _, status = os.waitpid(pid, 0)
        duckml.end_run()
        print(status, run.info.run_id, flush=True)
        """
    done = run_child(script, store.path, timeout=60)  # a hang fails the test through TimeoutExpired
    assert done.returncode == 0, done.stderr
    status, run_id = done.stdout.split()
    assert status == "0", done.stderr
    assert duckml.get_run(run_id).info.status == "FINISHED"
    expected = {"m": 1.0, "child": 2.0} if child == "log" else {"m": 1.0}
    assert duckml.get_run(run_id).data.metrics == expected


@pytest.mark.slow
def test_a_run_end_while_another_program_holds_the_file_keeps_the_data(store, tmp_path):
    held, done_flag = tmp_path / "held", tmp_path / "done"
    logger = start_child(f"""
        import os, time, duckml
        run = duckml.start_run()
        duckml.log_param("p", 1)
        duckml.log_metric("m", 2.0)
        print(run.info.run_id, flush=True)
        while not os.path.exists({str(held)!r}):
            time.sleep(0.01)
        duckml.end_run()  # the file is held by another program: must not raise
        duckml.log_metric("after", 1.0)  # nor may the next calls
        print("ended", flush=True)
        """, store.path, DUCKML_LOCK_TIMEOUT=1)
    run_id = logger.stdout.readline().strip()
    store.store.release()
    holder = start_child(f"""
        import duckdb, os, time
        con = duckdb.connect({str(store.path)!r})
        open({str(held)!r}, "w").close()
        while not os.path.exists({str(done_flag)!r}):
            time.sleep(0.01)
        con.close()
        """, store.path)
    try:
        assert logger.stdout.readline().strip() == "ended", logger.stderr.read()
    finally:
        done_flag.touch()
        holder.wait(timeout=60)
    assert logger.wait(timeout=120) == 0
    assert "Traceback" not in logger.stderr.read()  # the run end went to the background ingester, which retried
    run = duckml.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"p": "1"}
    assert run.data.metrics == {"m": 2.0}
