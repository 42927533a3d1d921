"""`duckml demo --spark`: the seeds' story ends with the champion scoring the new week on Spark."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from duckml.cli import cli

pytestmark = pytest.mark.slow  # a Spark local-cluster: separate JVMs and Python workers


def test_demo_spark_writes_the_forecast_table_with_lineage(spark, tmp_path):
    folder = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--spark", "--dir", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "PREDICT on Spark" in result.output
    spark_forecast = pl.read_parquet(str(folder / "forecasts_spark" / "*.parquet")).sort("store")
    con = duckdb.connect(str(folder / "duckml.duckdb"), read_only=True)
    try:
        local = con.execute("SELECT store, prediction FROM forecasts ORDER BY store").pl()
        lineage = con.execute("SELECT engine, output_kind, row_count FROM predictions WHERE engine = 'spark'"
                              ).fetchall()
    finally:
        con.close()
    assert spark_forecast.height == 30
    assert spark_forecast["prediction"].to_list() == local["prediction"].to_list()
    assert lineage == [("spark", "parquet", 30)]
