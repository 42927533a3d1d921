"""Upkeep of a lake store (merge small files, expire old snapshots) and reads of the lake as it was.

Every DuckLake commit writes its own small Parquet file (or, under 10 rows, rows in the catalog), and every
snapshot keeps the files it saw. ``maintain`` folds them: files carrying many deletes are rewritten, adjacent
small files merged (rows inlined in the catalog stay there: the small tables read faster from it); snapshots older than ``keep`` expire, and the files only they
used are deleted ``FILE_GRACE`` after that, so a reader that started on an older snapshot finishes its query.
It runs under the lake's write lock, between two ingests of any machine. ``duckml lake maintain`` runs it;
every ``_CHECK_EVERY`` ingests a process also checks whether ``_SNAPSHOTS_BEFORE_UPKEEP`` snapshots have
passed since the last upkeep and, if the lock is free, runs it itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from duckml.errors import InvalidInputError, QueryError, StoreError
from duckml.sqlquote import quote_literal

DEFAULT_KEEP = timedelta(days=7)  # time travel reaches back this far
FILE_GRACE = timedelta(hours=1)
_CHECK_EVERY = 20
_SNAPSHOTS_BEFORE_UPKEEP = 1000
_META_KEY = "lake_upkeep_snapshot"


@dataclass
class UpkeepReport:
    """What ``maintain`` did."""

    files_before: int
    files_after: int
    snapshots_expired: int
    files_deleted: int
    seconds: float

    def __str__(self) -> str:
        return (f"data files {self.files_before} -> {self.files_after}, {self.snapshots_expired} snapshots "
                f"expired, {self.files_deleted} old files deleted, in {self.seconds:.2f} s")


def _file_count(con) -> int:
    return con.execute("SELECT coalesce(sum(file_count), 0)::BIGINT FROM ducklake_table_info('store')").fetchone()[0]


def _current_snapshot(con) -> int:
    return con.execute("SELECT id FROM store.current_snapshot()").fetchone()[0]


def maintain(store, keep: timedelta = DEFAULT_KEEP, timeout: float | None = None) -> UpkeepReport:
    """Merge the lake's small files and expire snapshots older than ``keep``; nothing current is lost.

    >>> import duckml
    >>> report = maintain(duckml.get_store())  # doctest: +SKIP
    >>> print(report)  # doctest: +SKIP
    data files 412 -> 19, 380 snapshots expired, 401 old files deleted, in 1.20 s
    """
    if not isinstance(keep, timedelta) or keep < timedelta(0):
        raise InvalidInputError(f"keep must be a non-negative timedelta, got {keep!r}")
    started = time.monotonic()
    with store._lock:
        store._ensure_ready()
        con = store._connection()
        with store._write_lock(timeout):
            try:
                before = _file_count(con)
                expired = con.execute(
                    "SELECT count(*) FROM ducklake_expire_snapshots('store', "
                    "older_than => now() - to_microseconds(?::BIGINT))",
                    [int(keep / timedelta(microseconds=1))]).fetchone()[0]
                con.execute("CALL ducklake_rewrite_data_files('store')").fetchall()
                con.execute("CALL ducklake_merge_adjacent_files('store')").fetchall()
                deleted = con.execute(
                    "SELECT count(*) FROM ducklake_cleanup_old_files('store', "
                    "older_than => now() - to_microseconds(?::BIGINT))",
                    [int(FILE_GRACE / timedelta(microseconds=1))]).fetchone()[0]
                after = _file_count(con)
                con.execute("BEGIN TRANSACTION")
                con.execute("DELETE FROM store.main._duckml_meta WHERE key = ?", [_META_KEY])
                con.execute("INSERT INTO store.main._duckml_meta VALUES (?, ?)", [_META_KEY, str(_current_snapshot(con))])
                con.execute("COMMIT")
            except duckdb.Error as error:
                store._rollback(con)
                raise StoreError(f"upkeep of the lake {store.path} failed (nothing was lost): {error}") from error
    return UpkeepReport(before, after, expired, deleted, time.monotonic() - started)


def maybe_maintain(store) -> None:
    """Run ``maintain`` now and then, when many snapshots have piled up and no other machine is writing."""
    store.upkeep_countdown = getattr(store, "upkeep_countdown", _CHECK_EVERY) - 1
    if store.upkeep_countdown > 0:
        return
    store.upkeep_countdown = _CHECK_EVERY
    try:
        con = store._connection()
        last = con.execute("SELECT value FROM store.main._duckml_meta WHERE key = ?", [_META_KEY]).fetchall()
        if _current_snapshot(con) - (int(last[0][0]) if last else 0) < _SNAPSHOTS_BEFORE_UPKEEP:
            return
        maintain(store, timeout=0)
    except (StoreError, duckdb.Error):
        pass  # upkeep is never worth failing a write for: the next check tries again


def sql_as_of(store, query: str, as_of: datetime | str | int, params=None):
    """Run a read-only query on the lake as it was at ``as_of`` (a time, or a snapshot version number).

    Tables and the stored views answer as of then; journal records and ``predict`` are not part of it.
    Snapshots older than the upkeep's ``keep`` (7 days by default) are gone.

    >>> import duckml, datetime
    >>> yesterday = datetime.datetime.now() - datetime.timedelta(days=1)
    >>> sql_as_of(duckml.get_store(), "SELECT count(*) FROM runs_overview", yesterday)  # doctest: +SKIP
    """
    if isinstance(as_of, bool) or not isinstance(as_of, (datetime, str, int)):
        raise InvalidInputError(f"as_of must be a datetime, a timestamp string or a snapshot number, got {as_of!r}")
    if isinstance(as_of, int):
        option = f"SNAPSHOT_VERSION {int(as_of)}"
    else:
        option = f"SNAPSHOT_TIME {quote_literal(as_of.isoformat(sep=' ') if isinstance(as_of, datetime) else as_of)}"
    with store._lock:
        store._ensure_ready()
        con = store._connection()
        try:
            con.execute(f"ATTACH {quote_literal('ducklake:postgres:' + store.conninfo)} AS store_as_of "
                        f"({option}, READ_ONLY)")
        except duckdb.Error as error:
            raise InvalidInputError(f"the lake {store.path} has no snapshot at {as_of!r}: {error}") from error
        try:
            con.execute("USE store_as_of")
            try:
                relation = con.sql(query, params=params)
                table = None if relation is None else relation.to_arrow_table()
            except duckdb.Error as error:
                raise QueryError(str(error).strip()) from error
        finally:
            con.execute("USE memory")
            con.execute("DETACH store_as_of")
    return None if table is None else duckdb.connect(":memory:").from_arrow(table)
