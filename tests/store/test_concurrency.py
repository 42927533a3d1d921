"""Real processes on one store: many writers and a reader at once, and kill -9 of a writer."""

from __future__ import annotations

import pytest

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb

import duckml
from duckml.store import experiment_names

pytestmark = pytest.mark.slow  # real processes (or a benchmark run): the inner loop is -m 'not slow'

WRITERS = 8
RUNS_PER_WRITER = 3
POINTS_PER_RUN = 2_000


def _writer(path: str, worker: int, started) -> None:
    duckml.set_store(path)
    duckml.set_experiment("sweep")
    started.wait()
    for r in range(RUNS_PER_WRITER):
        with duckml.start_run(run_name=f"w{worker}-r{r}"):
            duckml.log_params({"worker": worker, "run": r})
            for step in range(POINTS_PER_RUN):
                duckml.log_metric("loss", 1.0 / (step + 1), step=step)
            duckml.log_metrics({"final": float(worker), "other": 1.0})


def _reader(path: str, stop, seen, started) -> None:
    store = duckml.connect(path)
    started.wait()
    last = 0
    while not stop.is_set():
        count = store.sql("SELECT count(*) FROM metrics").fetchone()[0]
        assert count >= last, "a reader saw points disappear"
        last = count
        store.sql("SELECT run_name, metrics['loss'] FROM runs_overview").fetchall()
    seen.value = last


def test_eight_writers_and_a_reader_on_a_fresh_store(tmp_path):
    path = str(tmp_path / "fresh.duckdb")
    ctx = multiprocessing.get_context("spawn")
    started, stop = ctx.Event(), ctx.Event()
    seen = ctx.Value("q", 0)
    writers = [ctx.Process(target=_writer, args=(path, w, started)) for w in range(WRITERS)]
    reader = ctx.Process(target=_reader, args=(path, stop, seen, started))
    for p in writers + [reader]:
        p.start()
    time.sleep(0.5)
    started.set()
    for p in writers:
        p.join(timeout=240)
    stop.set()
    reader.join(timeout=60)
    assert [p.exitcode for p in writers] == [0] * WRITERS
    assert reader.exitcode == 0
    expected = WRITERS * RUNS_PER_WRITER * (POINTS_PER_RUN + 2)
    con = duckdb.connect(path, read_only=True)  # everything is in the file once the writers are done
    assert con.execute("SELECT count(*) FROM metrics").fetchone()[0] == expected
    assert con.execute("SELECT count(*), count(DISTINCT experiment_id) FROM runs_overview").fetchone() == (
        WRITERS * RUNS_PER_WRITER, 1)
    assert con.execute("SELECT count(*) FROM runs WHERE status = 'FINISHED'").fetchone()[0] == WRITERS * RUNS_PER_WRITER
    assert con.execute("SELECT count(*) FROM params").fetchone()[0] == WRITERS * RUNS_PER_WRITER * 2
    # the run tables have no index (migration 0004): ingest alone keeps one row per key
    for table, key in [("runs", "run_id"), ("params", "run_id, key"), ("_duckml_latest", "run_id, key")]:
        dupes = con.execute(f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)")
        assert dupes.fetchone()[0] == 0, table
    assert con.execute("SELECT count(*) FROM _duckml_latest").fetchone()[0] == WRITERS * RUNS_PER_WRITER * 3
    con.close()
    assert seen.value <= expected
    journal = tmp_path / "fresh.artifacts" / ".journal"
    leftover = {p.name for p in journal.iterdir()} - {experiment_names.CACHE_FILE}  # the names cache stays
    assert not leftover, "segments of exited writers should be ingested and removed"


KILLED_WRITER = textwrap.dedent("""
    import os, sys, duckml
    duckml.set_store(sys.argv[1])
    run = duckml.start_run(run_name="doomed")
    duckml.log_param("p", "v")
    i = 0
    while True:
        duckml.log_metric("m", float(i), step=i)
        i += 1
        if i % 1000 == 0:  # written aside and renamed: the test never reads a half-written progress file
            with open(sys.argv[2] + ".tmp", "w") as f:
                f.write(f"{run.run_id} {i}")
            os.replace(sys.argv[2] + ".tmp", sys.argv[2])
""")


def test_kill_9_loses_no_returned_point(tmp_path):
    path = tmp_path / "killed.duckdb"
    progress = tmp_path / "progress.txt"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), str(progress)])
    deadline = time.time() + 60
    while time.time() < deadline:
        if progress.exists() and progress.read_text().strip():
            run_id, acknowledged = progress.read_text().split()
            if int(acknowledged) >= 20_000:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_id, acknowledged = progress.read_text().split()
    store = duckml.connect(path)
    live = store.sql("SELECT count(*), max(step) FROM metrics WHERE run_id = ?", [run_id]).fetchone()
    assert live[0] >= int(acknowledged) and live[0] == live[1] + 1  # every point, no gap, no torn record
    store.flush()
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM metrics").fetchone()[0] == live[0]
    assert con.execute("SELECT status FROM runs").fetchone() == ("RUNNING",)  # killed: never ended
    con.close()
    assert not any((tmp_path / "killed.artifacts" / ".journal").iterdir())


def test_reader_process_sees_unflushed_points(tmp_path):
    path = str(tmp_path / "live.duckdb")
    duckml.set_store(path)
    with duckml.start_run() as run:
        for i in range(100):
            duckml.log_metric("m", float(i), step=i)
        code = ("import duckml, sys; s = duckml.connect(sys.argv[1]); "
                "print(s.sql('SELECT count(*) FROM metrics').fetchone()[0])")
        out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "100", out.stderr
        con = duckdb.connect(path, read_only=True)  # not yet in the file: the run is still going
        assert con.execute("SELECT count(*) FROM metrics").fetchone()[0] == 0
        con.close()
    duckml.flush()
    con = duckdb.connect(path, read_only=True)  # after the run and a flush, every point is in the file
    assert con.execute("SELECT count(*) FROM metrics WHERE run_id = ?", [run.info.run_id]).fetchone()[0] == 100
    con.close()
