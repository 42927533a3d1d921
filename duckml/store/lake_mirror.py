"""A local copy of a lake's tables, valid for one DuckLake snapshot id (``LakeStore.read`` keeps it).

Every statement that scans a DuckLake table costs 4–5 catalog round trips (its data files, delete files,
column stats, inlined rows), so a UI page that reads ten tables cost ~50–240 PostgreSQL queries. A reader
keeps a copy of the tables in its in-memory catalog (schema ``_duckml_snap``), made at one snapshot. Each
read asks the catalog for its snapshot id once (the query DuckLake's transaction makes anyway): unchanged,
every query is local; changed, only the tables the new snapshots wrote to are copied again, and the metric
points only get the new rows appended (DuckLake's insertion feed), in the same DuckLake transaction, so
the copy is always the read's own snapshot: never staler. Past ``MAX_APPENDED_ROWS`` points the metrics
are read live instead (bounded memory; those reads then pay the catalog's round trips again). A change of
the catalog's schema (a migration, a view, a table made or dropped by any process) copies everything
again and has the views rebuilt."""

from __future__ import annotations

from duckml.sqlquote import quote_ident

SCHEMA = "_duckml_snap"
# Never copied: the write token changes with every write and nothing reads it.
LIVE_TABLES = frozenset({"_duckml_lake_write_token"})
# Tables that grow with logging: new rows are appended to the copy (DuckLake's own insertion feed) rather than
# the table copied again, and past this many rows the table is read live instead (a reader's memory is bounded).
APPENDED_TABLES = frozenset({"metrics"})
MAX_APPENDED_ROWS = 1_000_000
# Snapshot changes that leave the schema alone and name the table ids whose rows changed
_INSERTS = frozenset({"tables_inserted_into", "inlined_insert"})
_ROW_CHANGES = _INSERTS | {"tables_deleted_from", "inlined_delete"}


class Mirror:
    """The copy and the snapshot it was made at, for one DuckDB connection (a new connection starts empty).

    ``copies`` counts tables copied since creation: what tests and benchmarks read to see that an unchanged
    snapshot costs no copy.
    """

    def __init__(self):
        self.snapshot: int | None = None
        self.tables: set[str] = set()
        self.copies = 0
        self.last_copied: set[str] = set()  # the tables the last refresh copied (or appended to)
        self.too_large: set[str] = set()  # appended tables that outgrew MAX_APPENDED_ROWS: read live
        self.armed = False  # after the connection's first read: copies are made from the second on

    def source(self, table: str) -> str:
        """Where reads of ``table`` go: the local copy, or the lake.

        >>> m = Mirror(); m.tables = {"runs"}
        >>> m.source("runs"), m.source("metrics")  # metrics: not copied (yet, or too large)
        ('_duckml_snap."runs"', 'store.main."metrics"')
        """
        if table in self.tables:
            return f"{SCHEMA}.{quote_ident(table)}"
        return f"store.main.{quote_ident(table)}"

    def refresh(self, con) -> bool:
        """Bring the copy to the snapshot of ``con``'s open DuckLake transaction; True when the schema changed
        (or on the first two calls: no copy yet, then the first copy): the caller then rebuilds its views."""
        snapshot = con.execute("SELECT id FROM ducklake_current_snapshot('store')").fetchone()[0]
        self.last_copied = set()
        if not self.armed:
            # a connection's first read reads the lake itself: a one-shot command (`duckml runs list`) would
            # pay for copying every table and use the copy once
            self.armed = True
            return True
        if snapshot == self.snapshot:
            return False
        since = self.snapshot
        changed = None if since is None else self._changed_tables(con, since, snapshot)
        appended = set()
        if changed is None:
            tables = [row[0] for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'store' AND schema_name = 'main' "
                "ORDER BY table_name").fetchall()]
            con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            con.execute(f"CREATE SCHEMA {SCHEMA}")
            self.tables = set()
            wanted = [t for t in tables if t not in LIVE_TABLES and not self._outgrown(con, t)]
        else:
            appended = {t for t, inserts_only in changed.items()
                        if inserts_only and t in APPENDED_TABLES and t in self.tables}
            wanted = sorted((set(changed) & self.tables) - appended)
        for table in sorted(appended):
            con.execute(f"INSERT INTO {SCHEMA}.{quote_ident(table)} SELECT * FROM "
                        f"ducklake_table_insertions('store', 'main', ?, ?, ?)", [table, since + 1, snapshot])
            self.copies += 1
            if con.execute(f"SELECT count(*) FROM {SCHEMA}.{quote_ident(table)}").fetchone()[0] > MAX_APPENDED_ROWS:
                self._give_up(con, table)
        for table in wanted:
            if table in APPENDED_TABLES and self._outgrown(con, table):
                self._give_up(con, table)
                continue
            con.execute(f"CREATE OR REPLACE TABLE {SCHEMA}.{quote_ident(table)} AS "
                        f"SELECT * FROM store.main.{quote_ident(table)}")
            self.copies += 1
            self.tables.add(table)
        self.last_copied = (set(wanted) | appended) & self.tables
        self.snapshot = snapshot
        return changed is None

    def _outgrown(self, con, table: str) -> bool:
        """Whether an appended table is (or was once) too large to copy: it is then read live."""
        if table not in APPENDED_TABLES:
            return False
        if table not in self.too_large and con.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM store.main.{quote_ident(table)} LIMIT ?)",
                [MAX_APPENDED_ROWS + 1]).fetchone()[0] > MAX_APPENDED_ROWS:
            self.too_large.add(table)
        return table in self.too_large

    def _give_up(self, con, table: str) -> None:
        con.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{quote_ident(table)}")
        self.too_large.add(table)
        self.tables.discard(table)

    @staticmethod
    def _changed_tables(con, since: int, until: int) -> dict[str, bool] | None:
        """{name: only rows inserted} of the tables whose rows the snapshots after ``since`` up to ``until``
        changed, or None when one of them changed more than rows (schema, views, compaction: copy everything)."""
        rows = con.execute("SELECT changes FROM ducklake_snapshots('store') WHERE snapshot_id > ? AND "
                           "snapshot_id <= ?", [since, until]).fetchall()
        if len(rows) != until - since:  # some were expired meanwhile (or ids are not consecutive): unknown
            return None
        inserts_only: dict[int, bool] = {}
        for (changes,) in rows:
            for kind, values in (changes or {}).items():
                if kind not in _ROW_CHANGES:
                    return None
                try:
                    for table_id in map(int, values):
                        inserts_only[table_id] = inserts_only.get(table_id, True) and kind in _INSERTS
                except (TypeError, ValueError):  # a form this code does not know: copy everything
                    return None
        if not inserts_only:
            return {}
        names = con.execute("SELECT table_id, table_name FROM ducklake_table_info('store') WHERE table_id IN "
                            "(SELECT unnest(?))", [sorted(inserts_only)]).fetchall()
        return {name: inserts_only[table_id] for table_id, name in names}
