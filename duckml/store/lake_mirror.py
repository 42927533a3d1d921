"""A local copy of a lake's small tables, valid for one DuckLake snapshot id (``LakeStore.read`` keeps it).

Every statement that scans a DuckLake table costs 4–5 catalog round trips (its data files, delete files,
column stats, inlined rows), so a UI page that reads ten tables cost ~50–240 PostgreSQL queries. The lake's
tables other than the metric points are small (one row per run, param, tag, key …), so a reader keeps a
copy of them in its in-memory catalog (schema ``_duckml_snap``), made at one snapshot. Each read asks the
catalog for its snapshot id once (the query DuckLake's transaction makes anyway): unchanged, every query on
those tables is local; changed, only the tables the new snapshots wrote to are copied again, in the same
DuckLake transaction, so the copy and the live ``metrics`` are always of one snapshot. Nothing is ever
staler than the read's own snapshot. A change of the catalog's schema (a migration, a view, a table made
or dropped by any process) copies everything again and has the views rebuilt.
"""

from __future__ import annotations

from duckml.sqlquote import quote_ident

SCHEMA = "_duckml_snap"
# Tables read live from DuckLake, never copied: the points grow with logging (millions of rows); the write
# token changes with every write and nothing reads it.
LIVE_TABLES = frozenset({"metrics", "_duckml_lake_write_token"})
# Snapshot changes that leave the schema alone and name the table ids whose rows changed
_ROW_CHANGES = frozenset({"tables_inserted_into", "tables_deleted_from", "inlined_insert", "inlined_delete"})


class Mirror:
    """The copy and the snapshot it was made at, for one DuckDB connection (a new connection starts empty).

    ``copies`` counts tables copied since creation: what tests and benchmarks read to see that an unchanged
    snapshot costs no copy.
    """

    def __init__(self):
        self.snapshot: int | None = None
        self.tables: set[str] = set()
        self.copies = 0
        self.last_copied: set[str] = set()  # the tables the last refresh copied

    def source(self, table: str) -> str:
        """Where reads of ``table`` go: the local copy, or the lake.

        >>> m = Mirror(); m.tables = {"runs"}
        >>> m.source("runs"), m.source("metrics")
        ('_duckml_snap."runs"', 'store.main."metrics"')
        """
        if table in self.tables:
            return f"{SCHEMA}.{quote_ident(table)}"
        return f"store.main.{quote_ident(table)}"

    def refresh(self, con) -> bool:
        """Bring the copy to the snapshot of ``con``'s open DuckLake transaction; True when the schema changed
        (or on the first call): the caller then rebuilds its views."""
        snapshot = con.execute("SELECT id FROM ducklake_current_snapshot('store')").fetchone()[0]
        self.last_copied = set()
        if snapshot == self.snapshot:
            return False
        changed = None if self.snapshot is None else self._changed_tables(con, self.snapshot, snapshot)
        if changed is None:
            tables = [row[0] for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'store' AND schema_name = 'main' "
                "ORDER BY table_name").fetchall()]
            con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            con.execute(f"CREATE SCHEMA {SCHEMA}")
            self.tables = set()
            wanted = [t for t in tables if t not in LIVE_TABLES]
        else:
            wanted = sorted(changed & self.tables)
        for table in wanted:
            con.execute(f"CREATE OR REPLACE TABLE {SCHEMA}.{quote_ident(table)} AS "
                        f"SELECT * FROM store.main.{quote_ident(table)}")
            self.copies += 1
        self.tables |= set(wanted)
        self.last_copied = set(wanted)
        self.snapshot = snapshot
        return changed is None

    @staticmethod
    def _changed_tables(con, since: int, until: int) -> set[str] | None:
        """Names of the tables whose rows the snapshots after ``since`` up to ``until`` changed, or None
        when one of them changed more than rows (schema, views, compaction: copy everything)."""
        rows = con.execute("SELECT changes FROM ducklake_snapshots('store') WHERE snapshot_id > ? AND "
                           "snapshot_id <= ?", [since, until]).fetchall()
        if len(rows) != until - since:  # some were expired meanwhile (or ids are not consecutive): unknown
            return None
        ids: set[int] = set()
        for (changes,) in rows:
            for kind, values in (changes or {}).items():
                if kind not in _ROW_CHANGES:
                    return None
                try:
                    ids.update(int(value) for value in values)
                except (TypeError, ValueError):  # a form this code does not know: copy everything
                    return None
        if not ids:
            return set()
        names = con.execute("SELECT table_name FROM ducklake_table_info('store') WHERE table_id IN "
                            "(SELECT unnest(?))", [sorted(ids)]).fetchall()
        return {row[0] for row in names}
