"""The lake reader's local copy (``store/lake_mirror.py``) against a fake catalog: which snapshot changes copy what.

No PostgreSQL: ``store`` is an in-memory DuckDB database and DuckLake's three functions are macros over tables
the test fills, so every case is exact and fast. The real catalog's behaviour is in tests/lake.
"""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duckml.store.lake_mirror import SCHEMA, Mirror

TABLES = {"runs": 1, "params": 2, "tags": 3, "metrics": 4, "model_versions": 5}


class FakeLake:
    """A catalog with one row per table, snapshots whose changes the test writes, and a statement count."""

    def __init__(self):
        self.con = duckdb.connect()
        self.con.execute("ATTACH ':memory:' AS store")
        for name, table_id in TABLES.items():
            self.con.execute(f"CREATE TABLE store.main.{name} AS SELECT {table_id} AS v")
        self.con.execute("CREATE TABLE fake_snapshots (snapshot_id BIGINT, changes MAP(VARCHAR, VARCHAR[]))")
        self.con.execute("INSERT INTO fake_snapshots VALUES (1, MAP {'tables_created': ['main.runs']})")
        self.con.execute("CREATE TABLE fake_tables AS SELECT unnest(?) AS table_name, unnest(?) AS table_id",
                         [list(TABLES), list(TABLES.values())])
        self.con.execute("CREATE MACRO ducklake_current_snapshot(catalog) AS TABLE "
                         "SELECT max(snapshot_id) AS id FROM fake_snapshots")
        self.con.execute("CREATE MACRO ducklake_snapshots(catalog) AS TABLE FROM fake_snapshots")
        self.con.execute("CREATE MACRO ducklake_table_info(catalog) AS TABLE FROM fake_tables")
        # the fake's only appended table keeps its inserted rows with the snapshot that inserted them
        self.con.execute("CREATE TABLE fake_insertions (snapshot_id BIGINT, v INTEGER)")
        self.con.execute("CREATE MACRO ducklake_table_insertions(catalog, schema_name, table_name, since, until) "
                         "AS TABLE SELECT v FROM fake_insertions WHERE snapshot_id BETWEEN since AND until")

    def commit(self, changes: dict, rows: dict | None = None, skip: int = 0) -> None:
        """A new snapshot (``skip`` ids later, as if the ones between were expired) with these changes."""
        for table, value in (rows or {}).items():
            self.con.execute(f"UPDATE store.main.{table} SET v = ?", [value])
        last = self.con.execute("SELECT max(snapshot_id) FROM fake_snapshots").fetchone()[0]
        self.con.execute("INSERT INTO fake_snapshots VALUES (?, ?)", [last + 1 + skip, changes])

    def append_points(self, values: list[int]) -> None:
        """A snapshot that only inserts metric points."""
        self.commit({"inlined_insert": [str(TABLES["metrics"])]})
        snapshot = self.con.execute("SELECT max(snapshot_id) FROM fake_snapshots").fetchone()[0]
        for value in values:
            self.con.execute("INSERT INTO store.main.metrics VALUES (?)", [value])
            self.con.execute("INSERT INTO fake_insertions VALUES (?, ?)", [snapshot, value])

    def copied(self, table: str):
        return self.con.execute(f"SELECT v FROM {SCHEMA}.{table}").fetchone()[0]

    def copied_sorted(self, table: str) -> list:
        return sorted(r[0] for r in self.con.execute(f"SELECT v FROM {SCHEMA}.{table}").fetchall())


def armed(lake) -> Mirror:
    """A mirror past its connection's first read (which reads the lake itself and copies nothing)."""
    mirror = Mirror()
    assert mirror.refresh(lake.con) is True and not mirror.tables
    return mirror


@pytest.fixture
def lake():
    return FakeLake()


def test_the_first_refresh_copies_every_table(lake):
    mirror = armed(lake)
    assert mirror.refresh(lake.con) is True  # the views must be built
    assert mirror.tables == set(TABLES)
    assert mirror.source("runs") == f'{SCHEMA}."runs"'


def test_new_points_are_appended_and_a_table_past_the_limit_is_read_live(lake, monkeypatch):
    mirror = armed(lake)
    mirror.refresh(lake.con)
    lake.append_points([7, 8])
    lake.append_points([9])
    mirror.refresh(lake.con)
    assert lake.copied_sorted("metrics") == [4, 7, 8, 9]  # the first row, then both snapshots' rows, once
    monkeypatch.setattr("duckml.store.lake_mirror.MAX_APPENDED_ROWS", 4)
    lake.append_points([10])
    mirror.refresh(lake.con)
    assert "metrics" not in mirror.tables and mirror.source("metrics") == 'store.main."metrics"'
    lake.commit({"tables_created": ["main.extra"]})
    mirror.refresh(lake.con)  # a full copy leaves it live too
    assert "metrics" not in mirror.tables and "runs" in mirror.tables


def test_deleted_points_copy_the_table_again(lake):
    mirror = armed(lake)
    mirror.refresh(lake.con)
    lake.commit({"inlined_delete": [str(TABLES["metrics"])]}, rows={"metrics": 40})
    mirror.refresh(lake.con)
    assert lake.copied_sorted("metrics") == [40]


def test_an_unchanged_snapshot_costs_one_statement_and_no_copy(lake):
    mirror = armed(lake)
    mirror.refresh(lake.con)
    copies = mirror.copies
    statements = []
    real_execute = lake.con.execute

    class Counting:
        def execute(self, sql, *args):
            statements.append(sql)
            return real_execute(sql, *args)

    assert mirror.refresh(Counting()) is False
    assert mirror.copies == copies and len(statements) == 1


def test_a_row_change_copies_only_the_tables_it_names(lake):
    mirror = armed(lake)
    mirror.refresh(lake.con)
    lake.commit({"inlined_insert": ["2"], "tables_deleted_from": ["1"]}, rows={"params": 20, "runs": 10, "tags": 30})
    assert mirror.refresh(lake.con) is False
    assert mirror.last_copied == {"params", "runs"}
    assert (lake.copied("params"), lake.copied("runs")) == (20, 10)
    assert lake.copied("tags") == 3  # not named by any snapshot: not copied (and here deliberately stale)


@pytest.mark.parametrize("changes, skip", [
    ({"tables_created": ["main.extra"]}, 0),  # a schema change
    ({"views_created": ["main.v"]}, 0),
    ({"compacted_table": ["1"]}, 0),  # a kind this code does not know
    ({"inlined_insert": ["2"]}, 3),  # snapshots in between were expired: their changes are unknown
    ({"inlined_insert": ["not a number"]}, 0),
])
def test_anything_but_a_listed_row_change_copies_everything(lake, changes, skip):
    mirror = armed(lake)
    mirror.refresh(lake.con)
    lake.commit(changes, rows={"tags": 30}, skip=skip)
    assert mirror.refresh(lake.con) is True
    assert mirror.last_copied == set(TABLES)
    assert lake.copied("tags") == 30


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(TABLES)), st.integers(0, 99), st.booleans()), max_size=8))
def test_after_any_commits_the_copy_equals_the_catalog(commits):
    """Whatever sequence of row changes and schema changes, the copy is the catalog as of its snapshot."""
    lake = FakeLake()
    mirror = armed(lake)
    mirror.refresh(lake.con)
    for table, value, schema_change in commits:
        changes = {"tables_altered": [str(TABLES[table])]} if schema_change else {
            "inlined_delete": [str(TABLES[table])]}
        lake.commit(changes, rows={table: value})
        mirror.refresh(lake.con)
        for name in TABLES:
            assert lake.copied(name) == lake.con.execute(f"SELECT v FROM store.main.{name}").fetchone()[0]
