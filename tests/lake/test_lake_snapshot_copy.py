"""A lake reader keeps its small tables as of one snapshot id (``lake_mirror``): it must never be staler than that.

Another machine's ingest is seen on the next read, a table or migration of a newer process is picked up, this
machine's pending records stay visible, and a PostgreSQL restart under the long-lived attachment is ridden out.
"""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

import duckml
from duckml.errors import SchemaError
from duckml.store.lake_extensions import load_lake_extensions

pytestmark = pytest.mark.slow


def _other_machine(lake, name: str, code: str) -> None:
    """Run ``code`` as another machine (its own journal) and wait for its exit, whose flush ingests."""
    done = subprocess.run([sys.executable, "-c", "import duckml\n" + code], env=lake.machine_env(name),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def _plain_client(lake) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    load_lake_extensions(con)
    con.execute(f"ATTACH '{lake.spec}' AS team (DATA_PATH '{lake.data_path / 'lake'}/')")
    return con


def _run_names(store) -> list[str]:
    return sorted(r[0] for r in store.sql("SELECT run_name FROM runs").fetchall())


def test_an_unchanged_snapshot_copies_nothing_and_another_machines_ingest_copies_only_what_changed(lake):
    store = duckml.connect().store
    with duckml.start_run(run_name="here"):
        duckml.log_param("lr", 0.1)
    duckml.flush()
    assert _run_names(store) == ["here"]
    copies = store._mirror.copies
    assert _run_names(store) == ["here"]
    assert store._mirror.copies == copies  # the same snapshot: every small table read locally

    _other_machine(lake, "b", "with duckml.start_run(run_name='there'): duckml.log_param('lr', 0.2)")
    assert _run_names(store) == ["here", "there"]  # the next read, no waiting
    recopied = store._mirror.copies - copies
    assert 0 < recopied < len(store._mirror.tables)  # runs, params … but not the registry's tables
    found = duckml.search_runs(filter_string="params.lr > 0.15")
    assert list(found["run_name"]) == ["there"]


def test_this_machines_pending_records_are_visible_over_the_copy(lake, monkeypatch):
    monkeypatch.setenv("DUCKML_INGEST_DELAY_MS", "60000")  # keep the run in the journal
    store = duckml.connect().store
    assert _run_names(store) == []
    with duckml.start_run(run_name="pending") as run:
        duckml.log_param("lr", 0.5)
        duckml.log_metric("loss", 0.25)
    assert _run_names(store) == ["pending"]
    assert duckml.get_run(run.info.run_id).data.params == {"lr": "0.5"}
    assert duckml.get_run(run.info.run_id).data.metrics == {"loss": 0.25}


def test_a_table_and_a_migration_of_a_newer_process_are_picked_up_by_a_long_lived_reader(lake):
    store = duckml.connect().store
    assert _run_names(store) == []
    client = _plain_client(lake)
    client.execute("CREATE TABLE team.main.extra AS SELECT 42 AS answer")
    assert store.sql("SELECT answer FROM extra").fetchall() == [(42,)]  # its view is made on the next read
    client.execute("INSERT INTO team.main._duckml_migrations VALUES (9999, 'from_the_future', 'x', now())")
    for _ in range(2):  # and again on the next read: the refused read left no transaction open
        with pytest.raises(SchemaError, match="newer duckml"):
            store.sql("SELECT count(*) FROM runs")


def test_new_metric_points_are_appended_to_the_copy(lake):
    store = duckml.connect().store
    with duckml.start_run(run_name="r"):
        duckml.log_metric("loss", 1.0, step=0)
    duckml.flush()
    assert store.sql("SELECT count(*) FROM metrics").fetchall() == [(1,)]
    _other_machine(lake, "b", "with duckml.start_run(run_name='b'):\n"
                              "    for s in range(50): duckml.log_metric('loss', 0.5, step=s)")
    assert store.sql("SELECT count(*), count(DISTINCT run_id) FROM metrics").fetchall() == [(51, 2)]
    assert "metrics" in store._mirror.last_copied and "metrics" in store._mirror.tables


def test_a_postgres_restart_under_the_long_lived_attachment_is_ridden_out(lake):
    if not lake.cluster.can_restart:
        pytest.skip("the server's data folder is unknown (DUCKML_TEST_PGDATA): cannot restart it")
    store = duckml.connect().store
    with duckml.start_run(run_name="before"):
        pass
    duckml.flush()
    assert _run_names(store) == ["before"]
    lake.cluster.stop()
    lake.cluster.start()
    assert _run_names(store) == ["before"]  # the dead session is replaced, the copy rebuilt
    _other_machine(lake, "b", "with duckml.start_run(run_name='after'): pass")
    assert _run_names(store) == ["after", "before"]


def test_the_ui_serves_a_lake_store_and_shows_another_machines_run_on_the_next_page(lake):
    import warnings

    from duckml.ui.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's note on httpx
        from starlette.testclient import TestClient
    duckml.set_experiment("team")
    with duckml.start_run(run_name="here") as run:
        duckml.log_metric("loss", 0.5)
    duckml.flush()
    client = TestClient(create_app(), base_url="http://localhost")  # used to fail: .exists() on the spec
    assert client.get("/").status_code == 200
    assert "here" in client.get("/experiments/team").text
    assert client.get(f"/runs/{run.info.run_id}").status_code == 200
    _other_machine(lake, "b", "duckml.set_experiment('team')\nwith duckml.start_run(run_name='there'): pass")
    assert "there" in client.get("/experiments/team").text


def test_a_query_that_fails_keeps_the_copy(lake):
    from duckml.errors import QueryError

    store = duckml.connect().store
    with duckml.start_run(run_name="r"):
        duckml.log_param("lr", 0.1)
    duckml.flush()
    assert _run_names(store) == ["r"]
    copies = store._mirror.copies
    with pytest.raises(QueryError):
        store.sql("SELECT no_such_column FROM runs")  # fails inside the read: its transaction rolls back
    assert _run_names(store) == ["r"] and store._mirror.copies == copies
