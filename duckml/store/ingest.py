"""From journal segments to tables: one fold, two uses.

``collect`` reads what every segment holds beyond the offsets recorded in ``_duckml_segments``, and
``fold`` replays those row changes over the rows already in the file, giving for each table the entities
touched (by the table's first key column) and their final rows. The same fold then serves two purposes:

- ``apply_ingest`` (read-write, inside one transaction): replace the rows of every touched run (or
  experiment, dataset) by their folded rows, append the metric points, advance the offsets. A crash before commit changes nothing; offsets are
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
import pyarrow.compute  # noqa: F401  (pa.compute)

from duckml.sqlquote import quote_ident
from duckml.store import experiment_names, journal, quarantine
from duckml.store.journal import DELETE, INSERT, SERIES, TABLE_KEYS, UPDATE, UPSERT, SegmentDelta

STORE = "store.main"  # the attached file's catalog.schema, as seen from duckml's in-memory connection


@dataclass
class Pending:
    deltas: list[SegmentDelta]
    finished: set[str]  # segments whose owner had exited before they were read: final once ingested
    vanished: list[str] = field(default_factory=list)  # bookkeeping rows whose segment files are gone

    @property
    def empty(self) -> bool:
        return all(d.empty for d in self.deltas)

    @property
    def points(self) -> int:
        return sum(len(d.metrics) for d in self.deltas)


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


def segment_offsets(con) -> dict[str, tuple[int, int]]:
    """segment -> (events offset, metrics offset) already ingested into the attached file."""
    return {row[0]: (row[1], row[2]) for row in
            con.execute(f"SELECT segment, events_offset, metrics_offset FROM {STORE}._duckml_segments").fetchall()}


def collect(con, journal_dir: Path, offsets: dict[str, tuple[int, int]] | None = None,
            max_points: int | None = None) -> Pending:
    """Read every segment's un-ingested records; ``con`` has the store attached as ``store``.

    ``offsets`` (from :func:`segment_offsets`) may be passed by a reader that keeps the file attached:
    they cannot change until it lets go. ``max_points`` bounds the metric points read (in segment
    order), so an ingest holds one batch in memory at a time.
    """
    if offsets is None:
        offsets = segment_offsets(con)
    deltas, finished = [], set()
    segments = journal.list_segments(journal_dir)
    budget = max_points
    for segment in segments:
        # ask before reading: an owner gone *before* the read cannot add anything after it
        if journal.owner_is_gone(journal_dir, segment):
            finished.add(segment)
        events_offset, metrics_offset = offsets.get(segment, (0, 0))
        delta = journal.read_segment(journal_dir, segment, events_offset, metrics_offset, budget)
        if budget is not None:
            budget = max(0, budget - len(delta.metrics))
        if delta.damage:
            quarantine.report(segment, delta.damage)
        deltas.append(delta)
    vanished = sorted(set(offsets) - set(segments))
    # swept in batches: one row per finished segment costs nothing until there are many
    return Pending(deltas, finished, vanished if len(vanished) >= _SWEEP_AT else [])


_SWEEP_AT = 64

# tables whose live view in duckml's connection adds the not-yet-ingested journal data
OVERLAID_TABLES = frozenset(TABLE_KEYS) | {"metrics", "_duckml_latest", "_duckml_metric_summary"}


def table_schema(con, table: str, schemas: dict) -> pa.Schema:
    """The file's table schema (not a view's), remembered in ``schemas``: the store's own cache."""
    if table not in schemas:
        schemas[table] = con.sql(f"SELECT * FROM {STORE}.{table} LIMIT 0").to_arrow_table().schema
    return schemas[table]


def _normalise(row: dict, schema: pa.Schema) -> dict:
    # rows from the file carry datetimes, rows from the journal carry epoch microseconds: unify on ints
    out = {}
    for name in schema.names:
        value = row.get(name)
        if value is not None and hasattr(value, "tzinfo") and hasattr(value, "year"):
            value = journal.to_epoch_us(value)
        out[name] = value
    return out


def _base_rows(con, table: str, keys: tuple[str, ...], ids: list, schema: pa.Schema) -> dict:
    """Every stored row of the touched entities (runs, experiments, datasets) of one table."""
    result = con.execute(f"SELECT * FROM {STORE}.{table} WHERE {keys[0]} IN (SELECT unnest(?))", [ids])
    columns = [d[0] for d in result.description]
    base = {}
    for values in result.fetchall():
        row = _normalise(dict(zip(columns, values)), schema)
        base[tuple(row[k] for k in keys)] = row
    return base


def fold(con, pending: Pending, schemas: dict) -> Folded:
    """Replay the pending row changes, in time order across processes, over the file's rows.

    Rows are grouped by their table's first key column (the run, experiment or dataset): every stored row
    of a touched entity is read, the changes applied, and the entity's rows replaced as a whole. That keeps
    applying to one ``DELETE … IN (list)`` and one Arrow ``INSERT`` per table, with no join on Arrow data.
    """
    events = []
    series_rows = []
    for delta in pending.deltas:
        for ts, op, table, row in delta.events:
            if op == SERIES:
                series_rows.append({"segment": delta.segment, **row})
            else:
                events.append((ts, op, table, row))
    events.sort(key=lambda e: e[0])  # stable: equal stamps keep segment order
    events = _onto_stored_experiments(con, events)

    by_table: dict[str, list] = {}
    for _, op, table, row in events:
        by_table.setdefault(table, []).append((op, row))

    folded = Folded()
    for table, changes in by_table.items():
        keys = TABLE_KEYS[table]
        schema = table_schema(con, table, schemas)
        ids = list(dict.fromkeys(row[keys[0]] for _, row in changes))
        state = _base_rows(con, table, keys, ids, schema)
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
        id_field = schema.field(keys[0])
        touched = pa.table({keys[0]: pa.array(ids, type=id_field.type)})
        final_rows = [row for row in state.values() if row is not None]
        folded.tables[table] = TableChange(touched, pa.Table.from_pylist(final_rows, schema=schema))

    folded.series = pa.Table.from_pylist(series_rows, schema=SERIES_SCHEMA)
    folded.metrics = _metrics_table(con, pending.deltas, folded.series)
    return folded


_EXPERIMENT_TABLES = ("experiments", "experiment_tags", "runs")


def _onto_stored_experiments(con, events: list) -> list:
    """Rows naming an experiment by the derived id of a name the file stores under another id (a process
    created the name while the file was busy and its cache missed it) are moved to the stored experiment,
    so one name stays one experiment (``experiment_names``). Costs one look-up of the referenced ids."""
    referenced = {row["experiment_id"] for _, _, table, row in events
                  if table in _EXPERIMENT_TABLES and isinstance(row.get("experiment_id"), str)}
    if not referenced:
        return events
    stored = {r[0] for r in con.execute(f"SELECT experiment_id FROM {STORE}.experiments "
                                        "WHERE list_contains(?, experiment_id)", [sorted(referenced)]).fetchall()}
    missing = referenced - stored
    if not missing:
        return events
    rows = con.execute(f"SELECT experiment_id, name FROM {STORE}.experiments "
                       "ORDER BY lifecycle_stage = 'active' DESC, experiment_id").fetchall()
    moved = {derived: stored_id for derived, stored_id in experiment_names.aliases(rows).items()
             if derived in missing}
    if not moved:
        return events
    return [(ts, op, table, {**row, "experiment_id": moved[row["experiment_id"]]})
            if table in _EXPERIMENT_TABLES and row.get("experiment_id") in moved else (ts, op, table, row)
            for ts, op, table, row in events]


SERIES_SCHEMA = pa.schema([("segment", pa.string()), ("series_id", pa.int32()),
                           ("run_id", pa.string()), ("key", pa.string())])
METRICS_SCHEMA = pa.schema([("run_id", pa.string()), ("key", pa.string()), ("value", pa.float64()),
                            ("step", pa.int64()), ("timestamp", pa.timestamp("us"))])


def _metrics_table(con, deltas: list[SegmentDelta], new_series: pa.Table) -> pa.Table:
    """Pending points with their (run_id, key) resolved in Arrow, ready to insert or to union."""
    parts = [d for d in deltas if len(d.metrics)]
    if not parts:
        return METRICS_SCHEMA.empty_table()
    # series declared in segments' already-ingested parts live in the file; new ones come with the delta
    stored = con.execute(f"SELECT segment, series_id, run_id, key FROM {STORE}._duckml_series "
                         "WHERE segment IN (SELECT unnest(?))", [[d.segment for d in parts]]).fetchall()
    declared = stored + list(zip(*[new_series[c].to_pylist() for c in SERIES_SCHEMA.names]))
    run_ids, keys, by_segment = [], [], {}
    for segment, series_id, run_id, key in declared:
        by_segment.setdefault(segment, []).append((series_id, len(run_ids)))
        run_ids.append(run_id)
        keys.append(key)
    indices = []
    for delta in parts:
        indices.append(_resolve_series(delta, by_segment.get(delta.segment, ())))
    index = np.concatenate(indices)

    def column(name):
        return np.concatenate([np.ascontiguousarray(d.metrics[name]) for d in parts])

    run_dictionary, key_dictionary = pa.array(run_ids, pa.string()), pa.array(keys, pa.string())
    return pa.table({
        "run_id": pa.DictionaryArray.from_arrays(pa.array(index), run_dictionary).cast(pa.string()),
        "key": pa.DictionaryArray.from_arrays(pa.array(index), key_dictionary).cast(pa.string()),
        "value": pa.array(column("value")),
        "step": pa.array(column("step")),
        "timestamp": pa.array(column("timestamp")).cast(pa.timestamp("us")),
    }, schema=METRICS_SCHEMA)


def _resolve_series(delta: SegmentDelta, declared) -> np.ndarray:
    """Each point's row in the declared-series list; the delta is cut at a point naming an undeclared one.

    A well-formed segment declares a series before its first point, so an undeclared number means a
    damaged record (a legacy segment has no checksum to tell). The look-up table is sized by what was
    declared, never by the number a damaged record holds.
    """
    size = max((series_id for series_id, _ in declared), default=-1) + 1
    lookup = np.full(size, -1, dtype=np.int64)
    for series_id, index in declared:
        lookup[series_id] = index
    series = np.asarray(delta.metrics["series"], dtype=np.int64)
    index = np.full(len(series), -1, dtype=np.int64)
    inside = series < size
    index[inside] = lookup[series[inside]]
    unknown = np.flatnonzero(index < 0)
    if len(unknown):
        first = int(unknown[0])
        reason = (f"{delta.segment}.metrics: bad record at byte {delta.metrics_start + first * journal.RECORD_SIZE} "
                  f"(undeclared series {int(series[first])})")
        delta.cut_metrics(first, reason)
        quarantine.report(delta.segment, reason)
        index = index[:first]
    return index


def load_temp(con, name: str, table: pa.Table) -> None:
    """Copy an Arrow table into a TEMP table.

    DuckDB 1.5.5 fails joins that push a bloom filter into a registered PyArrow scan ("Pushdown Filter
    Type BLOOM_FILTER is not currently supported"), so data that views join is copied in, not registered.
    """
    con.register("_duckml_arrow", table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _duckml_arrow")
    finally:
        con.unregister("_duckml_arrow")


def insert_arrow(con, target: str, table: pa.Table) -> None:
    """Insert an Arrow table into ``target`` by column name (nothing for an empty table)."""
    if not table.num_rows:
        return
    con.register("_duckml_rows", table)
    try:
        con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM _duckml_rows")
    finally:
        con.unregister("_duckml_rows")


def latest_points_sql(points: str) -> str:
    """SQL for MLflow's latest-point rule, the one place it is written: per (run_id, key) of ``points`` (a
    table, view or parenthesized query with run_id, key, value, step, timestamp), the point with the
    highest step, then the latest timestamp, then the largest value.

    A max over a struct compares field by field in that order; grouping this way costs a quarter of
    ranking every point with a window.
    """
    return f"""SELECT run_id, key, latest.value AS value, latest.step AS step, latest.timestamp AS timestamp
        FROM (SELECT run_id, key, max({{'step': step, 'timestamp': timestamp, 'value': value}}) AS latest
              FROM {points} GROUP BY run_id, key)"""


def summary_sql(points: str) -> str:
    """SQL for each (run_id, key)'s min, max and count over ``points`` (as :func:`latest_points_sql` takes
    them), or over rows that are already such summaries when ``points`` has min/max/count columns instead
    of value (see :func:`merge_summaries_sql`)."""
    return f"""SELECT run_id, key, min(value) AS min, max(value) AS max, count(*)::BIGINT AS count
        FROM {points} GROUP BY run_id, key"""


def merge_summaries_sql(summaries: str) -> str:
    """Summaries of the same (run_id, key) folded into one: a stored one and a new batch's."""
    return f"""SELECT run_id, key, min(min) AS min, max(max) AS max, sum(count)::BIGINT AS count
        FROM {summaries} GROUP BY run_id, key"""


def _update_summary(con, points: pa.Table) -> None:
    """Fold a batch of points into ``_duckml_metric_summary`` (min, max, count per run and key), the way
    ``_update_latest`` folds them into ``_duckml_latest``: the touched runs' rows replaced as a whole."""
    runs = pa.compute.unique(points["run_id"]).to_pylist()
    union = (f"SELECT run_id, key, min, max, count FROM {STORE}._duckml_metric_summary "
             "WHERE run_id IN (SELECT unnest(?)) "
             f"UNION ALL {summary_sql('_duckml_points')}")
    con.register("_duckml_points", points)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _duckml_new_summary AS {merge_summaries_sql(f'({union})')}",
                    [runs])
    finally:
        con.unregister("_duckml_points")
    con.execute(f"DELETE FROM {STORE}._duckml_metric_summary WHERE run_id IN (SELECT unnest(?))", [runs])
    con.execute(f"INSERT INTO {STORE}._duckml_metric_summary SELECT * FROM _duckml_new_summary")
    con.execute("DROP TABLE _duckml_new_summary")


def _update_latest(con, points: pa.Table) -> None:
    """Fold a batch of points into ``_duckml_latest``: per (run, key), the stored latest or a newer point.

    The rows of every run the batch touches are replaced as a whole (the table has no index to upsert
    through: migration 0004), which keeps one row per (run, key).
    """
    runs = pa.compute.unique(points["run_id"]).to_pylist()
    union = (f"SELECT run_id, key, value, step, timestamp FROM {STORE}._duckml_latest "
             "WHERE run_id IN (SELECT unnest(?)) "
             "UNION ALL SELECT run_id, key, value, step, timestamp FROM _duckml_points")
    con.register("_duckml_points", points)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _duckml_new_latest AS {latest_points_sql(f'({union})')}",
                    [runs])
    finally:
        con.unregister("_duckml_points")
    con.execute(f"DELETE FROM {STORE}._duckml_latest WHERE run_id IN (SELECT unnest(?))", [runs])
    con.execute(f"INSERT INTO {STORE}._duckml_latest SELECT * FROM _duckml_new_latest")
    con.execute("DROP TABLE _duckml_new_latest")


def apply_ingest(con, pending: Pending, folded: Folded) -> None:
    """Write the folded changes into the attached file; call inside the caller's transaction."""
    for message in folded.conflicts:
        warnings.warn(f"duckml: concurrent param conflict: {message}", stacklevel=2)
    for table, change in folded.tables.items():
        first_key = TABLE_KEYS[table][0]
        con.execute(f"DELETE FROM {STORE}.{table} WHERE {first_key} IN (SELECT unnest(?))",
                    [change.touched[first_key].to_pylist()])
        insert_arrow(con, f"{STORE}.{table}", change.final)
    if folded.series.num_rows:  # a batch re-applied after a crash may declare series the file already has
        con.register("_duckml_rows", folded.series)
        try:
            con.execute(f"""INSERT INTO {STORE}._duckml_series BY NAME SELECT * FROM _duckml_rows AS r
                WHERE NOT EXISTS (SELECT 1 FROM {STORE}._duckml_series AS s
                                  WHERE s.segment = r.segment AND s.series_id = r.series_id)""")
        finally:
            con.unregister("_duckml_rows")
    insert_arrow(con, f"{STORE}.metrics", folded.metrics)
    if folded.metrics.num_rows:
        _update_latest(con, folded.metrics)
        _update_summary(con, folded.metrics)
    offsets = pa.table({
        "segment": [d.segment for d in pending.deltas if not d.empty],
        "events_offset": pa.array([d.events_end for d in pending.deltas if not d.empty], pa.int64()),
        "metrics_offset": pa.array([d.metrics_end for d in pending.deltas if not d.empty], pa.int64())})
    if pending.vanished:  # their files were removed after an earlier commit: the rows are no longer needed
        con.execute(f"DELETE FROM {STORE}._duckml_segments WHERE segment IN (SELECT unnest(?))", [pending.vanished])
        con.execute(f"DELETE FROM {STORE}._duckml_series WHERE segment IN (SELECT unnest(?))", [pending.vanished])
    if offsets.num_rows:
        con.register("_duckml_offsets", offsets)
        try:
            # DELETE + INSERT rather than INSERT OR REPLACE: a DuckLake catalog has no keys to replace by
            con.execute(f"DELETE FROM {STORE}._duckml_segments WHERE segment IN (SELECT segment FROM _duckml_offsets)")
            con.execute(f"INSERT INTO {STORE}._duckml_segments "
                        "SELECT segment, events_offset, metrics_offset, now()::TIMESTAMP FROM _duckml_offsets")
        finally:
            con.unregister("_duckml_offsets")


def forget_finished(journal_dir: Path, pending: Pending) -> None:
    """Remove segments whose owner is gone and whose every record is now in the file (after the commit).

    Their bookkeeping rows stay until a later ingest sweeps them (``Pending.vanished``): a crash between
    the commit and this removal must never leave a segment whose offsets were forgotten, or it would be
    ingested twice.
    """
    for delta in pending.deltas:
        if delta.segment not in pending.finished or not delta.at_end:
            continue
        if delta.damage:
            quarantine.quarantine_segment(journal_dir, delta.segment, delta.damage, delta.events_end,
                                          delta.metrics_end)
        else:
            journal.remove_segment(journal_dir, delta.segment)


# -- the live overlay ------------------------------------------------------------------------
def live_view_sql(table: str, source: str, overlay: bool) -> str:
    """The in-memory view of a stored table read from ``source``, with the overlay of pending records or not.

    >>> live_view_sql("runs", "store.main.runs", overlay=False)
    'CREATE OR REPLACE VIEW "runs" AS SELECT * FROM store.main.runs'
    """
    if overlay:
        return overlay_view_sql(table, source)
    return f"CREATE OR REPLACE VIEW {quote_ident(table)} AS SELECT * FROM {source}"


def overlay_view_sql(table: str, source: str | None = None) -> str:
    """The in-memory view that shows a journal table as the file plus un-ingested changes (``source``: where
    the table's stored rows are read, the attached file's table by default)."""
    source = source or f"{STORE}.{table}"
    if table == "_duckml_latest":
        union = (f"SELECT run_id, key, value, step, timestamp FROM {source} "
                 "WHERE run_id IN (SELECT run_id FROM _duckml_overlay_metrics) "
                 "UNION ALL SELECT run_id, key, value, step, timestamp FROM _duckml_overlay_metrics")
        return f"""CREATE OR REPLACE VIEW _duckml_latest AS
            SELECT * FROM {source}
            WHERE run_id NOT IN (SELECT run_id FROM _duckml_overlay_metrics)
            UNION ALL {latest_points_sql(f'({union})')}"""
    if table == "_duckml_metric_summary":
        union = (f"SELECT run_id, key, min, max, count FROM {source} "
                 "WHERE run_id IN (SELECT run_id FROM _duckml_overlay_metrics) "
                 f"UNION ALL {summary_sql('_duckml_overlay_metrics')}")
        return f"""CREATE OR REPLACE VIEW _duckml_metric_summary AS
            SELECT * FROM {source}
            WHERE run_id NOT IN (SELECT run_id FROM _duckml_overlay_metrics)
            UNION ALL {merge_summaries_sql(f'({union})')}"""
    if table == "metrics":
        return f"""CREATE OR REPLACE VIEW metrics AS
            SELECT run_id, key, value, step, timestamp FROM {source}
            UNION ALL
            SELECT run_id, key, value, step, timestamp FROM _duckml_overlay_metrics"""
    first_key = TABLE_KEYS[table][0]
    return f"""CREATE OR REPLACE VIEW {table} AS
        SELECT * FROM {source}
        WHERE {first_key} NOT IN (SELECT {first_key} FROM _duckml_overlay_touched_{table})
        UNION ALL BY NAME
        SELECT * FROM _duckml_overlay_final_{table}"""


def register_overlay(con, folded: Folded | None) -> set[str]:
    """Load this read's pending data into the overlay's temp tables; return the tables it changes.

    Only the tables with pending changes are loaded (and only their views need the overlay); ``None``
    makes every temp table once, empty, so the overlay views can be created at all. Empty tables are made
    in SQL, not from Arrow: handing duckdb an Arrow table makes it import pyarrow.dataset and with it
    pandas (~0.2 s), which a CLI command with nothing pending never needs.
    """
    if folded is None:
        for table, keys in TABLE_KEYS.items():
            con.execute(f"CREATE OR REPLACE TEMP TABLE _duckml_overlay_touched_{table} AS "
                        f"SELECT {keys[0]} FROM {STORE}.{table} LIMIT 0")
            con.execute(f"CREATE OR REPLACE TEMP TABLE _duckml_overlay_final_{table} AS "
                        f"SELECT * FROM {STORE}.{table} LIMIT 0")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _duckml_overlay_metrics AS "
                    f"SELECT {', '.join(METRICS_SCHEMA.names)} FROM {STORE}.metrics LIMIT 0")
        return set()
    changed = set()
    for table, change in folded.tables.items():
        load_temp(con, f"_duckml_overlay_touched_{table}", change.touched)
        load_temp(con, f"_duckml_overlay_final_{table}", change.final)
        changed.add(table)
    if folded.metrics.num_rows:
        load_temp(con, "_duckml_overlay_metrics", folded.metrics)
        changed |= {"metrics", "_duckml_latest", "_duckml_metric_summary"}
    return changed
