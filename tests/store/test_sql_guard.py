"""Issue 16 item 9 and the foreign-file item: duckml sql cannot break the store; damage and foreign
DuckDB files are recognised on open."""

from __future__ import annotations

import hashlib

import duckdb
import pytest
from click.testing import CliRunner

import duckml
from duckml.cli import cli
from duckml.errors import QueryError, SchemaError
from duckml.store import schema
from tiers import slow_case


def _cli(*args):
    return CliRunner().invoke(cli, list(args))


def _log_something():
    with duckml.start_run(run_name="r") as run:
        duckml.log_param("p", 1)
        duckml.log_metric("m", 0.5, step=1)
    duckml.flush()
    return run.info.run_id


def test_cli_drop_of_internal_table_is_refused_and_later_commands_work(store):
    _log_something()
    result = _cli("sql", "DROP TABLE _duckml_segments")
    assert result.exit_code != 0
    assert "_duckml_segments" in result.output
    _log_something()
    listed = _cli("runs", "list")
    assert listed.exit_code == 0, listed.output
    assert store.sql("SELECT count(*) FROM runs").fetchone()[0] == 2


# The inner loop keeps one case per refused kind (internal table, DDL on a table, view, macro, a hidden or
# quoted or CTE-wrapped write, a second statement, a transaction, DETACH); the full suite runs the matrix
@pytest.mark.parametrize("query, named", [
    ("DROP TABLE _duckml_series", "_duckml_series"),
    slow_case(("DROP TABLE runs", "runs"), single=False),
    ("ALTER TABLE metrics ADD COLUMN extra INTEGER", "metrics"),
    slow_case(("ALTER TABLE params RENAME TO params_old", "params"), single=False),
    slow_case(("CREATE OR REPLACE TABLE experiments AS SELECT 1 AS x", "experiments"), single=False),
    ("CREATE OR REPLACE VIEW run_list AS SELECT 1 AS x", "run_list"),
    ("DROP MACRO TABLE compare_runs", "compare_runs"),
    slow_case(("DELETE FROM _duckml_segments", "_duckml_segments"), single=False),
    slow_case(("TRUNCATE _duckml_latest", "_duckml_latest"), single=False),
    slow_case(("INSERT INTO runs SELECT * FROM runs", "runs"), single=False),
    ('UPDATE "Metrics" SET value = 0', "Metrics"),
    ("/* hide */ DELETE FROM store.main.tags", "tags"),
    ("WITH x AS (SELECT 1) DELETE FROM params", "params"),
    ("CREATE TABLE mine AS SELECT 1 AS a; DROP TABLE _duckml_meta", "_duckml_meta"),
    ("BEGIN; DROP TABLE runs; COMMIT", "transaction"),
    ("DETACH store", "DETACH"),
])
def test_writes_to_duckml_tables_are_refused_and_nothing_changes(store_from_template, query, named):
    # the run logged before the attempt is the same for every case: built once, copied per case
    run_id = store_from_template("sql-guard-one-run", lambda folder: _log_something())
    store = duckml.connect()
    before = store.sql("SELECT count(*) FROM metrics").fetchone()[0]
    with pytest.raises(QueryError, match=named):
        store.sql(query)
    assert store.sql("SELECT count(*) FROM metrics").fetchone()[0] == before
    assert store.sql("SELECT table_name FROM duckdb_tables() WHERE table_name = 'mine'").fetchall() == []
    with duckml.start_run(run_id=run_id):
        duckml.log_metric("m", 1.0, step=2)
    duckml.flush()
    assert store.sql("SELECT count(*) FROM metrics").fetchone()[0] == before + 1


def test_user_tables_can_be_created_filled_and_dropped(store):
    _log_something()
    store.sql("CREATE TABLE scores AS SELECT run_id, 1.0 AS score FROM runs")
    store.sql("INSERT INTO scores SELECT run_id, 2.0 FROM runs")
    store.sql("UPDATE scores SET score = score + 1")
    store.sql("CREATE VIEW best AS SELECT max(score) AS s FROM scores")
    assert store.sql("SELECT s FROM store.main.best").fetchone()[0] == 3.0
    store.sql("DROP VIEW best; DROP TABLE scores")
    assert store.sql("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'scores'").fetchone()[0] == 0


def test_every_table_of_a_fresh_store_is_protected(store):
    from duckml.store.guard import is_protected_table

    store.sql("SELECT 1")
    store.store.release()
    con = duckdb.connect(str(store.path), read_only=True)
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    con.close()
    assert tables and all(is_protected_table(t) for t in tables), tables
    assert schema.CORE_TABLES <= set(tables)


def test_damage_done_outside_duckml_is_named_on_open(store, tmp_path):
    _log_something()
    store.store.close()
    con = duckdb.connect(str(store.path))
    con.execute("DROP TABLE _duckml_segments")
    con.close()
    duckml.reset_state()
    with pytest.raises(SchemaError, match=r"damaged duckml store: table\(s\) _duckml_segments are missing"):
        duckml.connect(store.path).sql("SELECT count(*) FROM runs")
    result = _cli("runs", "list")
    assert result.exit_code != 0 and "_duckml_segments" in result.output


@pytest.mark.parametrize("setup", [
    "CREATE VIEW v AS SELECT 42 AS answer",
    "CREATE MACRO twice(x) AS x * 2",
    "CREATE MACRO rows_of(n) AS TABLE SELECT * FROM range(n)",
    "CREATE SEQUENCE ids",
    "CREATE SCHEMA staging",
    "CREATE TYPE mood AS ENUM ('ok', 'sad')",
])
def test_duckdb_file_with_only_views_or_macros_is_left_byte_for_byte(tmp_path, setup):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute(setup)
    con.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(SchemaError, match="not a duckml store"):
        duckml.connect(path).sql("SELECT 1")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_truly_empty_duckdb_file_becomes_a_store(tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    assert duckml.connect(path).sql("SELECT count(*) FROM runs").fetchone()[0] == 0
