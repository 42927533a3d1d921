"""A long training loop's points move into the file while it still logs: every few hundred thousand
points the backlog goes to the background ingester, and a writer far ahead ingests itself (back-pressure)."""

from __future__ import annotations

import duckdb
import pytest

import duckml
from duckml.store import store as store_module


def _points_in_file(handle) -> int:
    handle.release()
    con = duckdb.connect(str(handle.path), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM metrics").fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def small_thresholds(monkeypatch):
    monkeypatch.setenv("DUCKML_INGEST_DELAY_MS", "0")
    monkeypatch.setattr(store_module, "_BACKGROUND_INGEST_POINTS", 100)


def test_a_backlog_moves_into_the_file_while_the_run_goes_on(store, small_thresholds, monkeypatch):
    monkeypatch.setattr(store_module, "_AUTO_INGEST_POINTS", 10**9)  # never ingest in the caller
    store.store.next_ingest_at = 100
    with duckml.start_run() as run:
        for step in range(60):
            duckml.log_metrics({"loss": 1 / (step + 1), "acc": step / 60}, step=step)
        assert store.store.wait_for_background_ingest(timeout=60)
        assert _points_in_file(store) >= 100  # in the file before the run ended or anyone flushed
        assert duckml.get_run(run.info.run_id).data.metrics["acc"] == 59 / 60
    duckml.flush()
    assert _points_in_file(store) == 120
    latest = store.sql("SELECT key, step FROM latest_metrics ORDER BY key").fetchall()
    assert latest == [("acc", 59), ("loss", 59)]


def test_a_writer_far_ahead_of_the_file_ingests_itself(store, small_thresholds, monkeypatch):
    monkeypatch.setattr(store_module, "_AUTO_INGEST_POINTS", 150)
    monkeypatch.setattr(store_module.Store, "ingest_soon", lambda self: None)  # a background that never runs
    store.store.next_ingest_at = 100
    with duckml.start_run():
        for step in range(100):
            duckml.log_metric("loss", 1.0, step=step)
        assert _points_in_file(store) == 0  # 100 points: handed to the (idle) background only
        for step in range(100, 200):
            duckml.log_metric("loss", 1.0, step=step)
        assert _points_in_file(store) >= 150  # past the bound the caller ingested
