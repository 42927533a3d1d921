"""The lake store in one process: its errors, the same surface as the file, upkeep, time travel, plain clients."""

from __future__ import annotations

import importlib.util

import duckdb
import pytest
from click.testing import CliRunner

import duckml
from duckml.cli import cli
from duckml.errors import InvalidInputError, StoreError
from duckml.store import lake_extensions, lake_upkeep
from duckml.store.lake import LakeStore, parse_spec


def test_without_the_extension_wheels_a_lake_spec_names_the_extra(monkeypatch, tmp_path):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(lake_extensions.util, "find_spec",
                        lambda name: None if name.startswith("duckdb_extension_") else real_find_spec(name))
    monkeypatch.setattr(lake_extensions, "_resolved", {})
    store = duckml.set_store("ducklake:postgres:host=127.0.0.1 dbname=nowhere", data_path=tmp_path / "shared")
    with pytest.raises(StoreError, match=r'pip install "duckml\[lake\]"'):
        store.sql("SELECT count(*) FROM runs")


def test_a_lake_spec_needs_a_data_path_and_a_postgres_catalog(monkeypatch):
    monkeypatch.delenv("DUCKML_DATA_PATH", raising=False)
    with pytest.raises(InvalidInputError, match="data path"):
        duckml.set_store("ducklake:postgres:dbname=team")
    with pytest.raises(InvalidInputError, match="only a PostgreSQL catalog"):
        parse_spec("ducklake:sqlite:team.db")


def test_an_unreachable_catalog_is_a_clear_error_without_the_password(monkeypatch, tmp_path):
    if not lake_extensions.lake_extensions_available():
        pytest.skip('the extension wheels are not installed: pip install "duckml[lake]"')
    monkeypatch.setenv("DUCKML_LOCK_TIMEOUT", "0.5")
    store = duckml.set_store("ducklake:postgres:host=127.0.0.1 port=1 dbname=x password=s3cret",
                             data_path=tmp_path / "shared")
    with pytest.raises(StoreError, match="cannot attach the lake") as raised:
        store.sql("SELECT count(*) FROM runs")
    assert "s3cret" not in str(raised.value)


def test_a_password_never_appears_in_the_store_s_name(tmp_path):
    store = duckml.get_store("ducklake:postgres:host=db password=s3cret dbname=t", data_path=tmp_path)
    assert "s3cret" not in repr(store) and "s3cret" not in str(store.path)


@pytest.mark.slow
def test_same_surface_search_registry_predict_and_artifacts_on_a_lake(lake, tmp_path):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.linear_model import LinearRegression

    store = duckml.connect()
    assert isinstance(store.store, LakeStore)
    (tmp_path / "notes.txt").write_text("hello")
    with duckml.start_run(run_name="fit") as run:
        duckml.log_params({"alpha": 0.5})
        duckml.log_metric("rmse", 0.3)
        duckml.log_artifact(str(tmp_path / "notes.txt"))
        model = LinearRegression().fit(np.arange(20.0).reshape(-1, 2), np.arange(10.0))
        info = duckml.log_model(model, "model")
        # pending (not yet ingested) records are visible to this machine's reads
        assert store.sql("SELECT metrics['rmse'] FROM runs_overview").fetchone()[0] == 0.3
    assert duckml.register_model(info.model_uri, "lin").version == 1
    assert duckml.search_runs(filter_string="metrics.rmse < 0.5")["run_name"].to_list() == ["fit"]
    objects = list((lake.data_path / "artifacts").rglob("*"))
    assert any(p.is_file() and p.read_bytes() == b"hello" for p in objects)  # artifacts under the data path
    pq.write_table(pa.table({"f0": [1.0, 3.0], "f1": [2.0, 4.0]}), tmp_path / "in.parquet")
    scored = store.sql(f"SELECT prediction FROM predict('models:/lin/1', '{tmp_path / 'in.parquet'}')").fetchall()
    assert [round(r[0], 6) for r in scored] == [round(v, 6) for v in model.predict([[1.0, 2.0], [3.0, 4.0]])]
    assert store.sql("SELECT count(*) FROM compare_runs(?)", [[run.info.run_id]]).fetchone()[0] == 2


@pytest.mark.slow
def test_a_plain_client_gets_the_tables_views_and_macros(lake):
    with duckml.start_run(run_name="plain") as run:
        duckml.log_param("k", "v")
        duckml.log_metric("acc", 0.9)
    duckml.flush()  # a run end is ingested in the background shortly; flush makes it certain
    con = duckdb.connect()
    lake_extensions.load_lake_extensions(con)
    con.execute(f"ATTACH 'ducklake:postgres:{lake.conninfo}' AS team (READ_ONLY)")
    con.execute("USE team")
    assert con.sql("SELECT run_name, params['k'], metrics['acc'] FROM runs_overview").fetchall() == [("plain", "v", 0.9)]
    sections = {r[0] for r in con.execute("SELECT section FROM run_details(?)", [run.info.run_id]).fetchall()}
    assert {"attribute", "param", "metric"} <= sections
    views = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE database_name = 'team'").fetchall()}
    assert {"runs_overview", "latest_metrics", "metric_summary", "model_versions_overview"} <= views


@pytest.mark.slow
def test_time_travel_and_upkeep_keep_every_current_row(lake):
    store = duckml.connect()
    with duckml.start_run(run_name="first"):
        duckml.log_metric("loss", 1.0)
    duckml.flush()
    lake_store = store.store
    version = lake_store._connection().execute("SELECT id FROM store.current_snapshot()").fetchone()[0]
    for name in ("second", "third"):
        with duckml.start_run(run_name=name):
            for step in range(50):
                duckml.log_metric("loss", 1.0 / (step + 1), step=step)
    duckml.flush()
    assert lake_upkeep.sql_as_of(lake_store, "SELECT count(*) FROM runs", version).fetchone()[0] == 1
    before = store.sql("SELECT count(*) FROM metrics").fetchone()[0]
    report = lake_upkeep.maintain(lake_store)
    assert report.files_after <= report.files_before
    assert store.sql("SELECT count(*) FROM metrics").fetchone()[0] == before == 101
    assert store.sql("SELECT count(*) FROM runs").fetchone()[0] == 3
    # with the default 7 days kept, the version read above is still there
    assert lake_upkeep.sql_as_of(lake_store, "SELECT count(*) FROM runs", version).fetchone()[0] == 1


@pytest.mark.slow
def test_cli_on_a_lake(lake):
    runner = CliRunner()
    with duckml.start_run(run_name="cli"):
        duckml.log_metric("m", 1.0)
    duckml.flush()
    version = duckml.connect().store._connection().execute("SELECT id FROM store.current_snapshot()").fetchone()[0]
    with duckml.start_run(run_name="later"):
        pass
    args = ["--store", lake.spec, "--data-path", str(lake.data_path)]
    listed = runner.invoke(cli, [*args, "sql", "SELECT run_name FROM runs_overview"])
    assert listed.exit_code == 0 and "cli" in listed.output, listed.output
    maintained = runner.invoke(cli, [*args, "lake", "maintain"])
    assert maintained.exit_code == 0 and "data files" in maintained.output, maintained.output
    old = runner.invoke(cli, [*args, "lake", "as-of", str(version), "SELECT list(run_name) AS names FROM runs",
                              "--format", "json"])
    assert old.exit_code == 0 and '["cli"]' in old.output.replace(" ", "").replace("\n", ""), old.output


def test_lake_commands_on_a_file_store_say_what_they_need():
    result = CliRunner().invoke(cli, ["lake", "maintain"])
    assert result.exit_code != 0 and "single-file store" in result.output


@pytest.mark.slow
def test_gc_on_a_lake_spares_what_another_machine_may_still_reference(lake):
    from duckml.store.objects import object_path

    with duckml.start_run() as run:
        duckml.log_text("kept", "a.txt")
    duckml.delete_run(run.info.run_id)
    store = duckml.get_store()
    # bytes another machine moved in whose row still waits in that machine's journal
    fresh = object_path(store.artifact_root, "ab" * 32)
    fresh.parent.mkdir(parents=True, exist_ok=True)
    fresh.write_bytes(b"row not yet in the catalog")
    report = duckml.gc()
    assert report.runs_removed == 1 and report.files_removed == 0 and fresh.exists()
    assert duckml.gc(min_age_seconds=0).files_removed == 2 and not fresh.exists()


@pytest.mark.slow
def test_a_long_run_s_backlog_reaches_the_lake_in_the_background(lake, monkeypatch):
    from duckml.store import store as store_module

    monkeypatch.setenv("DUCKML_INGEST_DELAY_MS", "0")
    store = duckml.get_store()
    monkeypatch.setattr(store_module, "_BACKGROUND_INGEST_POINTS", 100)
    store.next_ingest_at = 100
    with duckml.start_run():
        duckml.log_metric_series("loss", list(range(150)))
        assert store.wait_for_background_ingest(timeout=120)
        with store.read() as con:  # what the catalog holds, without this machine's journal
            in_lake = con.execute("SELECT count(*) FROM store.metrics").fetchone()[0]
        assert in_lake == 150
