"""From journal segments to tables: one fold, two uses.

``collect`` reads what every segment holds beyond the offsets recorded in ``_duckml_segments``, and
``fold`` replays those row changes over the rows already in the file, giving for each table the primary
keys touched and their final rows. The same fold then serves two purposes:

- ``apply_ingest`` (read-write, inside one transaction): delete the touched keys, insert the final rows,
  append the metric points, advance the offsets. A crash before commit changes nothing; offsets are
  committed with the rows, so a segment is never ingested twice.
- ``register_overlay`` (read-only): expose the same result as Arrow tables that the live views union
  with the file's tables, so duckml readers see every returned ``log_*`` call at once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from duckml import journal
from duckml.journal import DELETE, INSERT, SERIES, TABLE_KEYS, UPDATE, UPSERT, SegmentDelta

STORE = "store.main"  # the attached file's catalog.schema, as seen from duckml's in-memory connection


@dataclass
class Pending:
    deltas: list[SegmentDelta]
    finished: set[str]  # segments whose owner had exited before they were read: final once ingested

    @property
    def empty(self) -> bool:
        return all(d.empty for d in self.deltas)


@dataclass
class TableChange:
    touched: pa.Table  # primary-key columns of every row the journal changed
    final: pa.Table  # the surviving rows for those keys (deleted keys have none)


@dataclass
class Folded:
    tables: dict[str, TableChange] = field(default_factory=dict)
    series: pa.Table | None = None
    metrics: pa.Table | None = None
    conflicts: list[str] = field(default_factory=list)


def collect(con, journal_dir: Path) -> Pending:
    """Read every segment's un-ingested records; ``con`` has the store attached as ``store``."""
    offsets = {row[0]: (row[1], row[2]) for row in
               con.execute(f"SELECT segment, events_offset, metrics_offset FROM {STORE}._duckml_segments").fetchall()}
    deltas, finished = [], set()
    for segment in journal.list_segments(journal_dir):
        # ask before reading: an owner gone *before* the read cannot add anything after it
        if journal.owner_is_gone(journal_dir, segment):
            finished.add(segment)
        events_offset, metrics_offset = offsets.get(segment, (0, 0))
        deltas.append(journal.read_segment(journal_dir, segment, events_offset, metrics_offset))
    return Pending(deltas, finished)


_schema_cache: dict[tuple[int, str], pa.Schema] = {}


def table_schema(con, table: str) -> pa.Schema:
    key = (id(con), table)
    if key not in _schema_cache:  # the file's table, not a view over it: ask the attached catalog
        _schema_cache[key] = con.sql(f"SELECT * FROM {STORE}.{table} LIMIT 0").to_arrow_table().schema
    return _schema_cache[key]


def _normalise(row: dict, schema: pa.Schema) -> dict:
    # rows from the file carry datetimes, rows from the journal carry epoch microseconds: unify on ints
    out = {}
    for name in schema.names:
        value = row.get(name)
        if value is not None and hasattr(value, "tzinfo") and hasattr(value, "year"):
            value = journal.to_epoch_us(value)
        out[name] = value
    return out


def _base_rows(con, table: str, keys: tuple[str, ...], pks: list[tuple], schema: pa.Schema) -> dict:
    pk_table = pa.table({k: [pk[i] for pk in pks] for i, k in enumerate(keys)},
                        schema=pa.schema([schema.field(k) for k in keys]))
    con.register("_duckml_pks", pk_table)
    try:
        result = con.sql(f"SELECT t.* FROM {STORE}.{table} t SEMI JOIN _duckml_pks USING ({', '.join(keys)})")
        columns = result.columns
        rows = result.fetchall()
    finally:
        con.unregister("_duckml_pks")
    base = {}
    for values in rows:
        row = _normalise(dict(zip(columns, values)), schema)
        base[tuple(row[k] for k in keys)] = row
    return base


def fold(con, pending: Pending) -> Folded:
    """Replay the pending row changes, in time order across processes, over the file's rows."""
    events = []
    series_rows = []
    for delta in pending.deltas:
        for ts, op, table, row in delta.events:
            if op == SERIES:
                series_rows.append({"segment": delta.segment, **row})
            else:
                events.append((ts, op, table, row))
    events.sort(key=lambda e: e[0])  # stable: equal stamps keep segment order

    by_table: dict[str, list] = {}
    for _, op, table, row in events:
        by_table.setdefault(table, []).append((op, row))

    folded = Folded()
    for table, changes in by_table.items():
        keys = TABLE_KEYS[table]
        schema = table_schema(con, table)
        order: dict[tuple, None] = {}
        for _, row in changes:
            order[tuple(row[k] for k in keys)] = None
        state = _base_rows(con, table, keys, list(order), schema)
        for op, row in changes:
            pk = tuple(row[k] for k in keys)
            current = state.get(pk)
            if op == INSERT:
                if current is None:
                    state[pk] = _normalise(row, schema)
                elif table == "params" and current.get("value") != row.get("value"):
                    folded.conflicts.append(
                        f"param {row['key']!r} of run {row['run_id']} kept {current.get('value')!r}, "
                        f"dropped {row.get('value')!r} (params are immutable)")
            elif op == UPSERT:
                state[pk] = _normalise(row, schema)
            elif op == UPDATE:
                if current is not None:
                    current.update(_normalise({**current, **row}, schema))
            elif op == DELETE:
                state[pk] = None
        touched = pa.table({k: [pk[i] for pk in order] for i, k in enumerate(keys)},
                           schema=pa.schema([schema.field(k) for k in keys]))
        final_rows = [state[pk] for pk in order if state.get(pk) is not None]
        folded.tables[table] = TableChange(touched, pa.Table.from_pylist(final_rows, schema=schema))

    series_schema = pa.schema([("segment", pa.string()), ("series_id", pa.int32()),
                               ("run_id", pa.string()), ("key", pa.string())])
    folded.series = pa.Table.from_pylist(series_rows, schema=series_schema)
    folded.metrics = _metrics_table(pending.deltas)
    return folded


METRICS_OVERLAY_SCHEMA = pa.schema([("segment", pa.string()), ("series_id", pa.int32()), ("value", pa.float64()),
                                    ("step", pa.int64()), ("timestamp", pa.timestamp("us"))])


def _metrics_table(deltas: list[SegmentDelta]) -> pa.Table:
    parts = [d for d in deltas if len(d.metrics)]
    if not parts:
        return METRICS_OVERLAY_SCHEMA.empty_table()
    records = np.concatenate([d.metrics for d in parts])
    segment_index = np.repeat(np.arange(len(parts), dtype=np.int32), [len(d.metrics) for d in parts])
    segment = pa.DictionaryArray.from_arrays(pa.array(segment_index), pa.array([d.segment for d in parts]))
    return pa.table({
        "segment": segment.cast(pa.string()),
        "series_id": pa.array(np.ascontiguousarray(records["series"]).astype(np.int32)),
        "value": pa.array(np.ascontiguousarray(records["value"])),
        "step": pa.array(np.ascontiguousarray(records["step"])),
        "timestamp": pa.array(np.ascontiguousarray(records["timestamp"])).cast(pa.timestamp("us")),
    })


def load_temp(con, name: str, table: pa.Table) -> None:
    """Copy an Arrow table into a TEMP table.

    DuckDB 1.5.5 fails joins that push a bloom filter into a registered PyArrow scan ("Pushdown Filter
    Type BLOOM_FILTER is not currently supported"), so joined data is copied in rather than registered.
    """
    con.register("_duckml_arrow", table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _duckml_arrow")
    finally:
        con.unregister("_duckml_arrow")


def _join(keys: tuple[str, ...], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{k} = {right}.{k}" for k in keys)


def apply_ingest(con, pending: Pending, folded: Folded) -> None:
    """Write the folded changes into the attached file; call inside the caller's transaction."""
    for message in folded.conflicts:
        warnings.warn(f"duckml: concurrent param conflict: {message}", stacklevel=2)
    for table, change in folded.tables.items():
        keys = TABLE_KEYS[table]
        load_temp(con, "_duckml_touched", change.touched)
        con.execute(f"DELETE FROM {STORE}.{table} t USING _duckml_touched p WHERE {_join(keys, 't', 'p')}")
        if change.final.num_rows:
            load_temp(con, "_duckml_final", change.final)
            con.execute(f"INSERT INTO {STORE}.{table} BY NAME SELECT * FROM _duckml_final")
    if folded.series.num_rows:
        load_temp(con, "_duckml_series_new", folded.series)
        con.execute(f"INSERT INTO {STORE}._duckml_series BY NAME SELECT * FROM _duckml_series_new")
    if folded.metrics.num_rows:
        load_temp(con, "_duckml_metrics_new", folded.metrics)
        con.execute(f"""
            INSERT INTO {STORE}.metrics (run_id, key, value, step, timestamp)
            SELECT s.run_id, s.key, m.value, m.step, m.timestamp
            FROM _duckml_metrics_new m JOIN {STORE}._duckml_series s USING (segment, series_id)""")
        con.execute("DROP TABLE _duckml_metrics_new")
    for delta in pending.deltas:
        if not delta.empty:
            con.execute(f"""INSERT OR REPLACE INTO {STORE}._duckml_segments VALUES (?, ?, ?, now()::TIMESTAMP)""",
                        [delta.segment, delta.events_end, delta.metrics_end])


def forget_finished(con, journal_dir: Path, pending: Pending) -> None:
    """Remove segments whose owner is gone and whose every record is now in the file.

    Files go first, bookkeeping rows after: a crash in between leaves rows for a vanished segment
    (harmless, swept next time), never a segment whose offsets were forgotten (it would be ingested twice).
    """
    for delta in pending.deltas:
        if delta.segment in pending.finished:
            journal.remove_segment(journal_dir, delta.segment)
    live = set(journal.list_segments(journal_dir))
    stale = [row[0] for row in con.execute(f"SELECT segment FROM {STORE}._duckml_segments").fetchall()
             if row[0] not in live]
    if stale:
        con.execute(f"DELETE FROM {STORE}._duckml_segments WHERE list_contains(?, segment)", [stale])
        con.execute(f"DELETE FROM {STORE}._duckml_series WHERE list_contains(?, segment)", [stale])


# -- the live overlay ------------------------------------------------------------------------
def overlay_view_sql(table: str) -> str:
    """The in-memory view that shows a journal table as the file plus un-ingested changes."""
    if table == "metrics":
        return f"""CREATE OR REPLACE VIEW metrics AS
            SELECT run_id, key, value, step, timestamp FROM {STORE}.metrics
            UNION ALL
            SELECT s.run_id, s.key, m.value, m.step, m.timestamp
            FROM _duckml_overlay_metrics m
            JOIN (SELECT segment, series_id, run_id, key FROM {STORE}._duckml_series
                  UNION ALL SELECT segment, series_id, run_id, key FROM _duckml_overlay_series) s
            USING (segment, series_id)"""
    keys = TABLE_KEYS[table]
    return f"""CREATE OR REPLACE VIEW {table} AS
        SELECT * FROM {STORE}.{table} t
        WHERE NOT EXISTS (SELECT 1 FROM _duckml_overlay_touched_{table} p WHERE {_join(keys, 't', 'p')})
        UNION ALL BY NAME
        SELECT * FROM _duckml_overlay_final_{table}"""


def register_overlay(con, folded: Folded | None) -> None:
    """Point the overlay views at this read's pending data (empty tables when nothing is pending)."""
    for table, keys in TABLE_KEYS.items():
        schema = table_schema(con, table)
        change = folded.tables.get(table) if folded else None
        if change is None:
            change = TableChange(pa.schema([schema.field(k) for k in keys]).empty_table(), schema.empty_table())
        load_temp(con, f"_duckml_overlay_touched_{table}", change.touched)
        load_temp(con, f"_duckml_overlay_final_{table}", change.final)
    metrics = folded.metrics if folded else METRICS_OVERLAY_SCHEMA.empty_table()
    series = folded.series if folded else pa.schema(
        [("segment", pa.string()), ("series_id", pa.int32()), ("run_id", pa.string()), ("key", pa.string())]
    ).empty_table()
    load_temp(con, "_duckml_overlay_metrics", metrics)
    load_temp(con, "_duckml_overlay_series", series)
