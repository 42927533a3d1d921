"""PostgreSQL restarted under a writing machine: nothing lost or doubled, no raw error, a clean exit.

Each test runs a machine (tests/lake/machine.py) that restarts the catalog's server itself while its ingests
run, so the restart lands inside flush() or inside the background ingester's ingest.
"""

from __future__ import annotations

import re

import pytest
from test_lake_machines import launch, plain_client

pytestmark = pytest.mark.slow
POINTS = 20_000


def _run(lake, job: dict, timeout: float = 900, **env) -> tuple[str, str]:
    if not lake.cluster.can_restart:
        pytest.skip("the test server's data folder is unknown (set DUCKML_TEST_PGDATA): cannot restart it")
    machine = launch(lake, "m", {**job, "pg": lake.cluster.conninfo, "pgdata": lake.cluster.pgdata}, **env)
    out, err = machine.communicate(timeout=timeout)
    assert machine.returncode == 0, f"the machine exited with {machine.returncode}:\n{err[-3000:]}"
    assert "Traceback" not in err and "Exception in thread" not in err, err[-3000:]
    return out, err


def _assert_each_run_once(lake, names: list[str], points: int, params: int = 2) -> None:
    rows = plain_client(lake).execute(
        "SELECT r.run_name, count(m.step), count(DISTINCT m.step), (SELECT count(*) FROM params p "
        "WHERE p.run_id = r.run_id) FROM runs r LEFT JOIN metrics m USING (run_id) GROUP BY ALL").fetchall()
    found = {row[0]: row[1:] for row in rows}
    assert sorted(found) == sorted(names)
    assert {name: found[name] for name in names} == {name: (points, points, params) for name in names}


@pytest.mark.parametrize("outage", [0, 3], ids=["restart", "stop-3s-start"])
def test_postgres_restarting_during_ingests_loses_nothing_doubles_nothing_and_raises_nothing(lake, outage):
    tries = 6
    out, _ = _run(lake, {"kind": "restarts", "tries": tries, "points": POINTS, "outage": outage, "seed": 22})
    results = re.findall(r"^try (\d+) (.*)$", out, re.MULTILINE)
    assert len(results) == tries, out
    # the server is back within DUCKML_LOCK_TIMEOUT (120 s for machines): every flush waits it out and lands
    assert [result for _, result in results] == ["ok"] * tries, out
    _assert_each_run_once(lake, [f"try-{i}" for i in range(tries)], POINTS)


def test_postgres_down_past_the_timeout_is_a_duckml_error_and_nothing_is_lost(lake):
    tries = 3
    out, _ = _run(lake, {"kind": "restarts", "tries": tries, "points": POINTS, "outage": 8, "seed": 7},
                  DUCKML_LOCK_TIMEOUT="2")
    results = [result for _, result in re.findall(r"^try (\d+) (.*)$", out, re.MULTILINE)]
    assert len(results) == tries, out
    # flush() gave up after 2 s with the server still down: one clear duckml error, the journal kept the run
    assert all(result.startswith("error duckml.store.lake.LakeBusyError: ") and "DUCKML_LOCK_TIMEOUT" in result
               for result in results), out
    # each next try (and the exit) found the server back and brought the earlier runs in
    _assert_each_run_once(lake, [f"try-{i}" for i in range(tries)], POINTS)


def test_an_invalidated_duckdb_instance_is_replaced_and_the_process_exits_cleanly(lake, tmp_path):
    out, _ = _run(lake, {"kind": "invalidated", "points": POINTS, "main_folder": str(tmp_path / "main")},
                  DUCKML_LOCK_TIMEOUT="30")  # the lock the dead instance held must not be waited for
    assert out.count("invalidated") == 2 and "flushed" in out, out  # a real fatal error, twice
    _assert_each_run_once(lake, ["flushed", "at-exit"], POINTS, params=0)  # the second landed at exit
