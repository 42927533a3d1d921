"""The store file: path resolution, refusal of foreign files, migrations, definitions, plain duckdb reads."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

import duckdb
import pytest

import duckml
from duckml.store import schema
from duckml.store import store as store_module


def test_path_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv("DUCKML_STORE", str(tmp_path / "env.duckdb"))
    assert duckml.resolve_store_path().name == "env.duckdb"
    duckml.set_store(tmp_path / "chosen.duckdb")
    assert duckml.resolve_store_path().name == "chosen.duckdb"
    assert duckml.resolve_store_path(tmp_path / "arg.duckdb").name == "arg.duckdb"
    duckml.set_store(None)
    monkeypatch.delenv("DUCKML_STORE")
    assert duckml.resolve_store_path().name == "duckml.duckdb"


def test_artifact_folder_beside_the_file(store):
    assert store.artifact_root == store.path.with_name("test.artifacts")


@pytest.mark.parametrize("content", [b"", b"hello, I am a CSV\n1,2,3\n", b"SQLite format 3\x00" + b"\x00" * 200])
def test_junk_file_is_refused_and_untouched(tmp_path, content, monkeypatch):
    (tmp_path / "junk").mkdir()
    tmp_path = tmp_path / "junk"
    path = tmp_path / "junk.duckdb"
    path.write_bytes(content)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(store_module.time, "sleep", lambda s: None)  # skip the wait for a header
    with pytest.raises(duckml.SchemaError, match="not a DuckDB database"):
        duckml.connect(path).sql("SELECT 1")
    duckml.set_store(path)
    with pytest.raises(duckml.StoreError):
        with duckml.start_run():
            pass
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.duckdb"]


def test_foreign_duckdb_file_is_refused(tmp_path):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales AS SELECT 1 AS x")
    con.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(duckml.SchemaError, match="not a duckml store"):
        duckml.connect(path).sql("SELECT 1")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_schema_version_recorded(store):
    store.sql("SELECT 1")
    con = duckdb.connect(str(store.path), read_only=True)
    versions = [r[0] for r in con.execute("SELECT version FROM _duckml_migrations ORDER BY 1").fetchall()]
    con.close()
    assert versions == [m.version for m in schema.migrations()]
    assert versions[0] == 1


def test_newer_store_is_refused(store):
    store.sql("SELECT 1")
    con = duckdb.connect(str(store.path))
    con.execute("INSERT INTO _duckml_migrations VALUES (9999, 'future', 'x', now())")
    con.close()
    fresh = store_module.Store(store.path)
    with pytest.raises(duckml.SchemaError, match="newer duckml"):
        fresh.sql("SELECT 1")


def test_edited_migration_is_refused(store):
    store.sql("SELECT 1")
    con = duckdb.connect(str(store.path))
    con.execute("UPDATE _duckml_migrations SET checksum = 'edited' WHERE version = 1")
    con.close()
    with pytest.raises(duckml.SchemaError, match="never be edited"):
        store_module.Store(store.path).sql("SELECT 1")


def test_migration_keeps_rows_and_can_stop_early(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS store")
    assert schema.migrate(con, "store", stop_after=1) == [1]
    con.execute("INSERT INTO store.main.experiments VALUES ('e1', 'kept', 'active', now(), now())")
    later = schema.migrate(con, "store")
    assert later == [m.version for m in schema.migrations() if m.version > 1]
    assert con.execute("SELECT name FROM store.main.experiments").fetchall() == [("kept",)]
    con.execute("DETACH store")


def test_views_are_recreated_when_definitions_change(store, monkeypatch):
    store.sql("SELECT 1")
    con = duckdb.connect(str(store.path))
    con.execute("UPDATE _duckml_meta SET value = 'stale' WHERE key = 'definitions_digest'")
    con.execute("DROP VIEW runs_overview")
    con.close()
    store_module.Store(store.path).sql("SELECT 1")
    con = duckdb.connect(str(store.path), read_only=True)
    assert con.execute("SELECT count(*) FROM runs_overview").fetchone() == (0,)
    con.close()


def test_sql_loader_finds_every_file():
    root = schema.sql_dir()
    assert (root / "migrations" / "0001_initial.sql").is_file()
    names = {p.stem for p in schema.definition_files()}
    assert {"runs_overview", "latest_metrics", "metric_summary"} <= names


def test_plain_duckdb_reads_views_after_run_end_without_a_flush(store):
    duckml.set_experiment("plain")
    with duckml.start_run(run_name="r1"):
        duckml.log_param("model", "rf")
        duckml.log_metric("rmse", 0.7, step=0)
        duckml.log_metric("rmse", 0.4, step=1)
    assert store.store.wait_for_background_ingest(timeout=60)  # the run end alone brings it into the file
    store.release()
    con = duckdb.connect(str(store.path), read_only=True)
    row = con.execute("SELECT experiment_name, run_name, status, params['model'], metrics['rmse'] "
                      "FROM runs_overview").fetchone()
    assert row == ("plain", "r1", "FINISHED", "rf", 0.4)
    assert con.execute("SELECT value, step FROM latest_metrics").fetchall() == [(0.4, 1)]
    assert con.execute("SELECT min, max, last, count FROM metric_summary").fetchall() == [(0.4, 0.7, 0.4, 2)]
    con.close()


def test_store_sql_reads_live_data_and_writes_tables(store):
    with duckml.start_run():
        duckml.log_metric("m", 1.0)
        assert store.sql("SELECT count(*) FROM metrics").fetchone() == (1,)  # before any flush
        store.sql("CREATE TABLE scratch AS SELECT 42 AS answer")
    assert store.sql("SELECT answer FROM scratch").fetchone() == (42,)
    assert store.sql("SELECT ? * 2 AS x", [21]).pl()["x"].to_list() == [42]
    with pytest.raises(duckml.QueryError):
        store.sql("SELECT * FROM no_such_table")
    with pytest.raises(ValueError):
        store.sql("")


def test_sql_errors_leave_the_store_usable(store):
    with pytest.raises(duckml.QueryError):
        store.sql("CREATE TABLE t AS SELECT 1 AS x; SELECT * FROM nope")
    assert store.sql("SELECT count(*) FROM runs").fetchone() == (0,)
    assert store.sql("SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'").fetchone() == (0,)


def test_writer_ingests_on_its_own_when_the_journal_grows(store, monkeypatch):
    monkeypatch.setattr(store_module, "_AUTO_INGEST_POINTS", 1000)
    store.store.next_ingest_at = 1000
    with duckml.start_run():
        for i in range(1500):
            duckml.log_metric("m", float(i), step=i)
        con = duckdb.connect(str(store.path), read_only=True)
        in_file = con.execute("SELECT count(*) FROM metrics").fetchone()[0]
        con.close()
        assert 1000 <= in_file < 1500  # ingested at the threshold without waiting for the run's end
        assert store.sql("SELECT count(*) FROM metrics").fetchone() == (1500,)


def test_bookkeeping_of_finished_segments_is_swept(store, monkeypatch):
    from duckml.store import ingest

    monkeypatch.setattr(ingest, "_SWEEP_AT", 3)
    for i in range(6):
        with duckml.start_run():
            duckml.log_metric("m", float(i))
    store.flush()
    con = duckdb.connect(str(store.path), read_only=True)
    rows = con.execute("SELECT count(*) FROM _duckml_segments").fetchone()[0]
    points = con.execute("SELECT count(*) FROM metrics").fetchone()[0]
    con.close()
    assert rows < 3 and points == 6
    assert not any(store.journal_dir.iterdir())


def test_run_tables_lose_their_indexes_and_keep_their_rows(tmp_path):
    """A store of schema 3 (with views stored in it) migrates to 4 with every run row and the views intact."""
    path = tmp_path / "v3.duckdb"
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS store")
    assert schema.migrate(con, "store", stop_after=3) == [1, 2, 3]
    con.execute("USE store")
    schema.create_definitions(con, strict=False)  # the views a version-3 store has stored
    con.execute("INSERT INTO experiments VALUES ('0', 'Default', 'active', now(), now())")
    con.execute("INSERT INTO runs VALUES ('r1', '0', 'a', 'FINISHED', now(), now(), 'active', NULL)")
    con.execute("INSERT INTO params VALUES ('r1', 'lr', '0.1'), ('r1', 'model', 'rf')")
    con.execute("INSERT INTO tags VALUES ('r1', 'team', 'x')")
    con.execute("INSERT INTO metrics VALUES ('r1', 'loss', 0.5, 3, now())")
    con.execute("INSERT INTO _duckml_latest VALUES ('r1', 'loss', 0.5, 3, now())")
    con.execute("INSERT INTO _duckml_series VALUES ('seg', 1, 'r1', 'loss')")
    con.execute("USE memory")
    assert schema.migrate(con, "store", stop_after=4) == [4]
    for table, rows in [("runs", 1), ("params", 2), ("tags", 1), ("_duckml_latest", 1), ("_duckml_series", 1)]:
        assert con.execute(f"SELECT count(*) FROM store.main.{table}").fetchone()[0] == rows, table
        constraints = con.execute("SELECT count(*) FROM duckdb_constraints() WHERE database_name = 'store' "
                                  "AND table_name = ? AND constraint_type = 'PRIMARY KEY'", [table]).fetchone()[0]
        assert constraints == 0, table
    con.execute("DETACH store")
    store = store_module.Store(path)
    assert store.sql("SELECT params['model'] FROM runs_overview").fetchall() == [("rf",)]
    assert store.sql("SELECT lifecycle_stage FROM runs").fetchall() == [("active",)]


def test_opening_a_store_does_not_import_pandas(tmp_path):
    """The first bound parameter or Arrow hand-off makes duckdb import pandas (~0.2-0.45 s of every short
    CLI command): opening and reading a store with nothing pending uses neither."""
    path = tmp_path / "quiet.duckdb"
    store_module.Store(path).flush()
    code = ("import sys, duckml\nstore = duckml.connect(sys.argv[1])\n"
            "with store.read() as con:\n    con.execute('SELECT count(*) FROM runs_overview').fetchall()\n"
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_store_another_process_is_still_creating_is_waited_for(tmp_path, store):
    """DuckDB writes a new file's headers before it holds the lock: a reader that comes in between sees
    the magic but no valid database, and must look again rather than fail."""
    import threading

    ready = tmp_path / "ready.duckdb"
    duckml.connect(ready).sql("SELECT 1")
    duckml.reset_state()
    path = tmp_path / "racing.duckdb"
    path.write_bytes(ready.read_bytes()[:12] + b"\x00" * 4096)  # the magic, then nothing valid yet
    finish = threading.Timer(0.3, lambda: os.replace(ready, path))
    finish.start()
    try:
        assert duckml.connect(path, create=False).sql("SELECT count(*) FROM runs").fetchone() == (0,)
    finally:
        finish.join()


def test_an_old_damaged_store_is_refused_at_once(tmp_path, store):
    ready = tmp_path / "ready.duckdb"
    duckml.connect(ready).sql("SELECT 1")
    duckml.reset_state()
    path = tmp_path / "damaged.duckdb"
    path.write_bytes(ready.read_bytes()[:12] + b"\x00" * 4096)
    long_ago = time.time() - 3600
    os.utime(path, (long_ago, long_ago))
    with pytest.raises(duckml.StoreError, match="not a valid DuckDB database"):
        duckml.connect(path, create=False).sql("SELECT 1")
