"""The lake reader's local copy (``store/lake_mirror.py``) against a fake catalog: which snapshot changes copy what.

No PostgreSQL: ``store`` is an in-memory DuckDB database and DuckLake's three functions are macros over tables
the test fills, so every case is exact and fast. The real catalog's behaviour is in tests/lake.
"""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duckml.store.lake_mirror import LIVE_TABLES, SCHEMA, Mirror

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

    def commit(self, changes: dict, rows: dict | None = None, skip: int = 0) -> None:
        """A new snapshot (``skip`` ids later, as if the ones between were expired) with these changes."""
        for table, value in (rows or {}).items():
            self.con.execute(f"UPDATE store.main.{table} SET v = ?", [value])
        last = self.con.execute("SELECT max(snapshot_id) FROM fake_snapshots").fetchone()[0]
        self.con.execute("INSERT INTO fake_snapshots VALUES (?, ?)", [last + 1 + skip, changes])

    def copied(self, table: str):
        return self.con.execute(f"SELECT v FROM {SCHEMA}.{table}").fetchone()[0]


@pytest.fixture
def lake():
    return FakeLake()


def test_the_first_refresh_copies_every_table_but_the_points(lake):
    mirror = Mirror()
    assert mirror.refresh(lake.con) is True  # the views must be built
    assert mirror.tables == set(TABLES) - LIVE_TABLES
    assert mirror.source("metrics") == 'store.main."metrics"'
    assert mirror.source("runs") == f'{SCHEMA}."runs"'


def test_an_unchanged_snapshot_costs_one_statement_and_no_copy(lake):
    mirror = Mirror()
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
    mirror = Mirror()
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
    mirror = Mirror()
    mirror.refresh(lake.con)
    lake.commit(changes, rows={"tags": 30}, skip=skip)
    assert mirror.refresh(lake.con) is True
    assert mirror.last_copied == set(TABLES) - LIVE_TABLES
    assert lake.copied("tags") == 30


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(TABLES)), st.integers(0, 99), st.booleans()), max_size=8))
def test_after_any_commits_the_copy_equals_the_catalog(commits):
    """Whatever sequence of row changes and schema changes, the copy is the catalog as of its snapshot."""
    lake = FakeLake()
    mirror = Mirror()
    mirror.refresh(lake.con)
    for table, value, schema_change in commits:
        changes = {"tables_altered": [str(TABLES[table])]} if schema_change else {
            "inlined_insert": [str(TABLES[table])]}
        lake.commit(changes, rows={table: value})
        mirror.refresh(lake.con)
        for name in set(TABLES) - LIVE_TABLES:
            assert lake.copied(name) == lake.con.execute(f"SELECT v FROM store.main.{name}").fetchone()[0]
