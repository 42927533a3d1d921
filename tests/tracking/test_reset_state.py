"""reset_state(flush=False): the stores close without ingesting, and nothing logged is lost."""

from __future__ import annotations

import duckdb

import duckml


def _file_rows(path, table: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def test_closing_without_flush_leaves_the_data_in_the_journal_and_loses_none(store, monkeypatch):
    monkeypatch.setenv("DUCKML_INGEST_DELAY_MS", "60000")  # the run end's background ingest must not run first
    duckml.set_experiment("deferred")
    with duckml.start_run(run_name="r") as run:
        duckml.log_param("alpha", 0.5)
        duckml.log_metric("loss", 1.0, step=1)
        duckml.log_metric("loss", 0.5, step=2)
    duckml.reset_state(flush=False)
    assert _file_rows(store.path, "metrics") == 0  # not ingested: still in the journal beside the file

    reopened = duckml.connect(store.path)
    history = duckml.get_metric_history(run.info.run_id, "loss")  # visible before any ingest
    assert history.select("step", "value").rows() == [(1, 1.0), (2, 0.5)]
    reopened.flush()
    assert _file_rows(store.path, "metrics") == 2
    assert _file_rows(store.path, "params") == 1
    duckml.reset_state()
    assert _file_rows(store.path, "metrics") == 2  # ingested once, not twice


def test_the_default_reset_ingests_first(store):
    with duckml.start_run():
        duckml.log_metric("loss", 1.0)
    duckml.reset_state()
    assert _file_rows(store.path, "metrics") == 1
