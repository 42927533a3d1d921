"""Several simulated machines (own HOME and journal) sharing only the catalog and the data path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import duckml
from duckml.store.lake_extensions import load_lake_extensions

pytestmark = pytest.mark.slow
MACHINE = str(Path(__file__).with_name("machine.py"))


def launch(lake, name: str, job: dict, **env: str) -> subprocess.Popen:
    job = {"machine": name, **job}
    return subprocess.Popen([sys.executable, MACHINE, json.dumps(job)], env={**lake.machine_env(name), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout: float = 600) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"machine failed ({process.returncode}):\n{err[-3000:]}"
    assert "Error" not in err, err[-3000:]
    return out


def versions_printed(outputs: list[str]) -> list[int]:
    return [int(line.split()[1]) for out in outputs for line in out.splitlines() if line.startswith("version ")]


def plain_client(lake) -> duckdb.DuckDBPyConnection:
    """What a user gets with nothing but duckdb and the ducklake extension: no duckml on the connection."""
    con = duckdb.connect()
    load_lake_extensions(con)
    con.execute(f"ATTACH 'ducklake:postgres:{lake.conninfo}' AS lake (READ_ONLY)")
    con.execute("USE lake")
    return con


def test_done_when_four_machines_log_two_register_and_a_fifth_reads_everything(lake, tmp_path, monkeypatch):
    start = str(tmp_path / "go")
    jobs = {f"m{i}": {"kind": "log", "runs": 3, "points": 3000, "start_file": start} for i in range(4)}
    for registering in ("m1", "m3"):
        jobs[registering].update(register=3, model_name="churn")
    machines = [launch(lake, name, job) for name, job in jobs.items()]
    time.sleep(2)
    Path(start).touch()
    outputs = [finish(p) for p in machines]
    assert sorted(versions_printed(outputs)) == [1, 2, 3, 4, 5, 6]

    reader = launch(lake, "m5", {"kind": "flush"})
    finish(reader)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "machines" / "m5" / ".cache"))
    store = duckml.connect()
    assert store.sql("SELECT count(*) FROM runs_overview WHERE run_name LIKE 'm_-r_'").fetchone()[0] == 12
    assert store.sql("SELECT count(*) FROM metrics WHERE key = 'loss' AND run_id IN "
                     "(SELECT run_id FROM runs WHERE run_name LIKE 'm_-r_')").fetchone()[0] == 36_000
    assert store.sql("SELECT list(version ORDER BY version) FROM model_versions WHERE name = 'churn'"
                     ).fetchone()[0] == [1, 2, 3, 4, 5, 6]
    assert len(duckml.search_runs(filter_string="params.machine = 'm2'")) == 3
    assert sorted(store.sql("SELECT run_name FROM runs_overview WHERE tags['machine'] = 'm0'").pl()["run_name"]) \
        == ["m0-r0", "m0-r1", "m0-r2"]

    plain = plain_client(lake)
    assert plain.sql("SELECT count(*) FROM runs_overview WHERE run_name LIKE 'm_-r_'").fetchone()[0] == 12
    assert plain.sql("SELECT count(*) FROM metrics").fetchone()[0] == 36_000
    assert plain.sql("SELECT count(*) FROM model_versions").fetchone()[0] == 6
    assert plain.sql("SELECT count(*) FROM compare_runs((SELECT list(run_id) FROM runs))").fetchone()[0] > 0


def test_concurrent_registrations_under_one_new_name_number_one_to_n_once(lake, tmp_path):
    go = str(tmp_path / "register")
    machines = [launch(lake, f"r{i}", {"kind": "register", "register": 5, "model_name": "race",
                                        "register_start_file": go}) for i in range(4)]
    time.sleep(8)  # each machine has logged its model and waits at the line
    Path(go).touch()
    outputs = [finish(p) for p in machines]
    assert sorted(versions_printed(outputs)) == list(range(1, 21))
    store = duckml.connect()
    rows = store.sql("SELECT version FROM model_versions WHERE name = 'race' ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, 21))
    assert store.sql("SELECT last_version FROM model_version_counters WHERE name = 'race'").fetchall() == [(20,)]


def test_a_killed_machine_s_acknowledged_points_arrive_with_its_next_process(lake, tmp_path):
    acks = tmp_path / "acks.txt"
    writer = launch(lake, "k", {"kind": "ack", "points": 10_000_000, "ack_file": str(acks)})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if acks.exists() and acks.read_text().count("\n") > 3000:
            break
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.communicate()
    lines = acks.read_text().splitlines()
    run_id = lines[0].split()[1]
    acknowledged = {int(x) for x in lines[1:] if x.strip().isdigit()}
    assert len(acknowledged) > 3000

    finish(launch(lake, "k", {"kind": "flush"}))
    steps = {r[0] for r in plain_client(lake).execute(
        "SELECT step FROM metrics WHERE run_id = ?", [run_id]).fetchall()}
    assert acknowledged <= steps  # every acknowledged point, plus any written before the kill
    assert len(steps) == len(plain_client(lake).execute(
        "SELECT step FROM metrics WHERE run_id = ?", [run_id]).fetchall())  # none twice


def test_the_catalog_dropping_mid_ingest_loses_nothing_and_the_writer_finishes(lake, tmp_path):
    if not lake.cluster.can_restart:
        pytest.skip("the test server's data folder is unknown (set DUCKML_TEST_PGDATA): cannot stop it")
    ready, go = tmp_path / "ready", tmp_path / "go"
    writer = launch(lake, "d", {"kind": "pause_then_log", "points": 50_000, "ready_file": str(ready),
                                "go_file": str(go)})
    deadline = time.monotonic() + 120
    while not ready.exists() and time.monotonic() < deadline and writer.poll() is None:
        time.sleep(0.05)
    assert ready.exists(), writer.communicate()[1][-2000:]
    lake.cluster.stop()
    try:
        go.touch()
        time.sleep(4)  # the writer ends its run and keeps retrying its ingest meanwhile
        assert writer.poll() is None, "the writer gave up while the catalog was down"
    finally:
        lake.cluster.start()
    assert "finished" in finish(writer, timeout=300)
    counts = dict(plain_client(lake).sql(
        "SELECT r.run_name, count(*) FROM metrics m JOIN runs r USING (run_id) GROUP BY ALL").fetchall())
    assert counts == {"d-before": 50_000, "d-during": 50_000}


def test_concurrent_logging_from_four_machines_while_a_fifth_reads(lake, tmp_path):
    start = str(tmp_path / "go")
    machines = [launch(lake, f"w{i}", {"kind": "log", "runs": 4, "points": 500, "start_file": start})
                for i in range(4)]
    store = duckml.connect()
    Path(start).touch()
    seen = 0
    while any(p.poll() is None for p in machines):
        now = store.sql("SELECT count(*) FROM metrics").fetchone()[0]
        assert now >= seen, "a reader saw points disappear"
        seen = now
        time.sleep(0.2)
    for p in machines:
        finish(p)
    assert store.sql("SELECT count(*) FROM metrics").fetchone()[0] == 4 * 4 * 500
    assert store.sql("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone() == (16, 16)
    assert store.sql("SELECT count(*) FROM params").fetchone()[0] == 16 * 3
