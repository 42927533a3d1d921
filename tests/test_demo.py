"""The end-to-end demo: the seeds' story on a fresh store, readable afterwards by a plain duckdb client."""

from __future__ import annotations

import warnings

import duckdb
import pytest
from click.testing import CliRunner

import duckml
from duckml.cli import cli
from duckml.ui import create_app

with warnings.catch_warnings():  # Starlette 1.0 nudges towards httpx2; httpx is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


# An end-to-end story (2.5 s): the inner loop keeps one case per behaviour (logging, the registry, PREDICT,
# compiled macros and the CLI each have their own cheaper tests); the full suite runs the whole demo
@pytest.mark.slow
def test_demo_tells_the_whole_story(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "demo")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "champion -> version" in result.output and "forecasts" in result.output
    con = duckdb.connect(str(tmp_path / "demo" / "duckml.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM runs_overview WHERE status = 'FINISHED'").fetchone() == (6,)
    assert con.execute("SELECT count(DISTINCT params['training_data']) FROM runs_overview").fetchone() == (2,)
    assert con.execute("SELECT count(*) FROM datasets").fetchone() == (2,)
    assert con.execute("SELECT count(*) FROM run_inputs").fetchone() == (6,)
    assert con.execute("SELECT count(*) FROM artifacts WHERE path = 'report.txt'").fetchone() == (6,)
    assert con.execute("SELECT count(*) FROM metrics WHERE key = 'train_loss'").fetchone() == (240,)
    champion = con.execute("SELECT version FROM model_aliases WHERE name = 'sales-forecast' "
                           "AND alias = 'champion'").fetchone()[0]
    best = con.execute("""SELECT v.version FROM model_versions v JOIN runs_overview r USING (run_id)
                          ORDER BY r.metrics['rmse'] LIMIT 1""").fetchone()[0]
    assert champion == best
    lineage = con.execute("SELECT model_name, model_version, output, output_kind, row_count FROM predictions"
                          ).fetchall()
    assert lineage == [("sales-forecast", champion, "forecasts", "table", 30)]  # duckml.predict recorded it
    forecasts = con.execute("SELECT count(*), count(DISTINCT store), min(prediction) > 0, min(forecast_week) "
                            "FROM forecasts").fetchone()
    assert forecasts == (30, 30, True, 110)
    compiled = con.execute("SELECT f.prediction, c.prediction FROM forecasts f JOIN "
                           f"predict_sales_forecast_champion('{tmp_path / 'demo' / 'new_week.parquet'}') c "
                           "USING (store)").fetchall()
    assert len(compiled) == 30 and all(abs(a - b) <= 1e-9 * max(1.0, abs(a)) for a, b in compiled)
    assert "predict_sales_forecast_champion" in result.output
    assert "ui " in result.output and "duckdb -readonly" not in result.output
    con.close()
    with TestClient(create_app(tmp_path / "demo" / "duckml.duckdb"), base_url="http://localhost:5000") as http:
        listed = http.get("/predictions").text
        version_page = http.get(f"/models/sales-forecast/versions/{champion}").text
    assert ">forecasts<" in listed and "sales-forecast" in listed
    assert ">forecasts<" in version_page
    again = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "demo")], catch_exceptions=False)
    assert again.exit_code == 0, again.output  # the demo's own folder is reused: one folder, not one per run


def test_demo_refuses_a_used_folder(tmp_path):
    (tmp_path / "duckml.duckdb").write_bytes(b"")
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 1 and "needs a fresh folder" in result.output
    assert (tmp_path / "duckml.duckdb").read_bytes() == b""  # the folder's file is left as it was


@pytest.mark.parametrize("weeks", [3, 10])
def test_sales_data_is_deterministic(weeks):
    from duckml.demo import make_sales

    assert make_sales(n_stores=3, n_weeks=weeks).equals(make_sales(n_stores=3, n_weeks=weeks))
