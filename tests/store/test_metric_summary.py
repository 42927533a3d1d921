"""``_duckml_metric_summary`` (migration 0006): each (run, metric)'s min, max and count, kept by the ingest
beside ``_duckml_latest``, equal at every moment to aggregating ``metrics`` itself: across ingests, with
records still pending in the journal, after a batch cut short, and for runs an importer wrote."""

from __future__ import annotations

import json
import math

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import duckml
from duckml.store import journal

SCAN = "SELECT run_id, key, min(value), max(value), count(*) FROM metrics GROUP BY ALL"
SUMMARY = "SELECT run_id, key, min, max, count FROM _duckml_metric_summary"


def same(con) -> tuple[list, list]:
    """(the summary's rows, the scan's rows), NaN made comparable."""
    def rows(sql):
        return sorted(tuple("NaN" if isinstance(v, float) and math.isnan(v) else v for v in row)
                      for row in con.sql(sql).fetchall())
    return rows(SUMMARY), rows(SCAN)


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 5),
                                   st.floats(allow_nan=True, allow_infinity=True, width=32)),
                         min_size=1, max_size=6), min_size=1, max_size=4))
def test_summary_equals_the_scan_across_ingests(store, batches):
    with duckml.start_run():
        for batch in batches:  # each batch ingested on its own, folded into the run's stored summary
            for key, step, value in batch:
                duckml.log_metric(key, value, step=step)
            duckml.flush()
    summary, scan = same(duckml.connect())
    assert summary == scan


def test_summary_includes_points_still_in_the_journal(store):
    with duckml.start_run() as run:
        duckml.log_metric_series("loss", [3.0, 1.0, 9.0, 2.0])
        duckml.flush()
        duckml.log_metric_series("loss", [12.0, -4.0], steps=[10, 11])  # pending: read through the overlay
        summary, scan = same(duckml.connect())
    assert summary == scan
    assert (run.info.run_id, "loss", -4.0, 12.0, 6) in summary


def test_summary_is_redone_when_an_interrupted_batch_kept_its_points(store):
    with duckml.start_run() as run:
        duckml.log_param("p", 1)
    duckml.flush()
    writer = journal.JournalWriter(store.store.journal_dir)
    import numpy as np
    steps = np.arange(300, dtype=np.int64)
    writer.write_metrics(run.info.run_id, "m", steps.astype(np.float64), steps, steps + 1_700_000_000_000_000)
    writer.close()
    store.store.release()
    segment = journal.list_segments(store.store.journal_dir)[0]
    con = duckdb.connect(str(store.path))
    try:  # what a kill during the batch's commit can leave: its intent and its points, no bookkeeping
        before = con.execute("SELECT count(*) FROM metrics").fetchone()[0]
        intent = {"metrics_rows_before": before, "points": 300, "runs": [run.info.run_id],
                  "metrics_offsets": [[segment, 300 * 32]]}
        con.execute("INSERT INTO _duckml_meta VALUES ('ingest_intent', ?)", [json.dumps(intent)])
        con.execute("INSERT INTO metrics SELECT ?, 'm', i::DOUBLE, i, make_timestamp(1_700_000_000_000_000 + i) "
                    "FROM range(300) t(i)", [run.info.run_id])
    finally:
        con.close()
    store.store.ingest()
    summary, scan = same(store)
    assert summary == scan == [(run.info.run_id, "m", 0.0, 299.0, 300)]


def test_an_imported_bundle_brings_its_summaries(store, tmp_path):
    from duckml.interop.bundle import export_bundle, import_bundle

    with duckml.start_run(experiment_name="e") as run:
        duckml.log_metric_series("loss", [3.0, 1.0, 9.0])
    duckml.flush()
    export_bundle(tmp_path / "b.zip")
    other = duckml.set_store(tmp_path / "other.duckdb")
    import_bundle(tmp_path / "b.zip")
    summary, scan = same(other)
    assert summary == scan == [(run.info.run_id, "loss", 1.0, 9.0, 3)]
