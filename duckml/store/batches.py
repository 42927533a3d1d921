"""Moving the journal into the file in bounded, crash-safe batches.

Why batches: killed during the commit of one transaction holding a 3M-row Arrow insert and a few small
writes, DuckDB 1.5.5 kept the large insert and lost the small writes (duckdb#25931-like), among them the
segment offsets, so the next ingest appended every point again. And folding millions of points at once
costs gigabytes. So an ingest holds at most ``BATCH_POINTS`` metric points per transaction, together with
the offsets it reached, and reads one batch at a time.

Why an intent: to stay exactly-once whatever the engine keeps, a batch with points first commits a small
*intent* row in ``_duckml_meta``: the metrics row count before the batch and the batch's size. The batch's
own transaction deletes it. An intent still there at the next ingest means that commit was cut short; a
count settles what it left: if the points are in, only the bookkeeping (metric offsets, latest values) is
redone; if none are, the intent is dropped and the batch is read again. No point is appended twice.
Re-applying the batch's row changes is harmless: ingest replaces a touched run's rows with their fold.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pyarrow.compute as pc

from duckml.store import ingest, journal
from duckml.store.ingest import STORE

# Issue 16 saw a 100k-row commit stay atomic and a 3M-row one not; the intent makes either safe, so the
# size trades per-commit overhead (~0.1 s) against memory (~100 MB per 500k points folded).
BATCH_POINTS = 500_000
_INTENT = "ingest_intent"


def ingest_all(con, journal_dir: Path, schemas: dict, batch_points: int | None = None) -> int:
    """Ingest every pending journal record in batches; return the number of points ingested.

    ``con`` has the store attached read-write as ``store`` and no transaction open. Points a live writer
    adds while this runs are left for the next ingest once the backlog seen at the start is done.
    """
    batch_points = batch_points or BATCH_POINTS
    _finish_interrupted_batch(con)
    offsets = ingest.segment_offsets(con)
    backlog = backlog_points(journal_dir, offsets)
    done = 0
    while True:
        pending = ingest.collect(con, journal_dir, offsets, max_points=batch_points)
        if not pending.empty or pending.vanished:
            _commit_batch(con, pending, schemas)
            offsets = ingest.segment_offsets(con)
        ingest.forget_finished(journal_dir, pending)
        done += pending.points
        if pending.points < batch_points or done >= backlog:
            return done


def backlog_points(journal_dir: Path, offsets: dict[str, tuple[int, int]]) -> int:
    """Metric points in the journal past the ingested offsets, from file sizes alone (no read)."""
    return sum(journal.pending_bytes(journal_dir, segment, offsets.get(segment, (0, 0))[1])
               for segment in journal.list_segments(journal_dir)) // journal.RECORD_SIZE


def _metrics_rows(con) -> int:
    return con.execute(f"SELECT count(*) FROM {STORE}.metrics").fetchone()[0]


def _commit_batch(con, pending: ingest.Pending, schemas: dict) -> None:
    folded = ingest.fold(con, pending, schemas)  # may cut a delta at a damaged record: offsets come after
    points = folded.metrics.num_rows
    if points:
        intent = {"metrics_rows_before": _metrics_rows(con), "points": points,
                  "runs": pc.unique(folded.metrics["run_id"]).to_pylist(),
                  "metrics_offsets": [[d.segment, d.metrics_end] for d in pending.deltas
                                      if d.metrics_end != d.metrics_start]}
        con.execute(f"INSERT OR REPLACE INTO {STORE}._duckml_meta VALUES (?, ?)", [_INTENT, json.dumps(intent)])
    con.execute("BEGIN TRANSACTION")
    try:
        ingest.apply_ingest(con, pending, folded)
        if points:
            con.execute(f"DELETE FROM {STORE}._duckml_meta WHERE key = ?", [_INTENT])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        if points:  # nothing of the batch is in: the intent would only make the next ingest count rows
            con.execute(f"DELETE FROM {STORE}._duckml_meta WHERE key = ?", [_INTENT])
        raise


def _finish_interrupted_batch(con) -> None:
    row = con.execute(f"SELECT value FROM {STORE}._duckml_meta WHERE key = ?", [_INTENT]).fetchone()
    if row is None:
        return
    intent = json.loads(row[0])
    rows = _metrics_rows(con)
    before, points = intent["metrics_rows_before"], intent["points"]
    con.execute("BEGIN TRANSACTION")
    try:
        if rows == before + points:  # the points were kept, their bookkeeping maybe not: redo it
            for segment, metrics_offset in intent["metrics_offsets"]:
                con.execute(f"""INSERT INTO {STORE}._duckml_segments VALUES (?, 0, ?, now()::TIMESTAMP)
                    ON CONFLICT (segment) DO UPDATE SET metrics_offset = excluded.metrics_offset""",
                            [segment, metrics_offset])
            _recompute_latest(con, intent["runs"])
        elif rows != before:
            warnings.warn(f"duckml: an interrupted ingest left {rows - before} of {points} points, or the metrics "
                          "table was changed by another program meanwhile; its points are read again from "
                          "the journal, so some may now appear twice", stacklevel=2)
        con.execute(f"DELETE FROM {STORE}._duckml_meta WHERE key = ?", [_INTENT])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _recompute_latest(con, runs: list[str]) -> None:
    con.execute(f"DELETE FROM {STORE}._duckml_latest WHERE run_id IN (SELECT unnest(?))", [runs])
    points = f"(SELECT * FROM {STORE}.metrics WHERE run_id IN (SELECT unnest(?)))"
    con.execute(f"INSERT INTO {STORE}._duckml_latest {ingest.latest_points_sql(points)}", [runs])
    con.execute(f"DELETE FROM {STORE}._duckml_metric_summary WHERE run_id IN (SELECT unnest(?))", [runs])
    con.execute(f"INSERT INTO {STORE}._duckml_metric_summary {ingest.summary_sql(points)}", [runs])
