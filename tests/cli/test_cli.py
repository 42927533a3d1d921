"""The duckml command through click's CliRunner, and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import duckml
from duckml.cli import cli


def run_cli(*args, expect_error=False):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=expect_error)
    if not expect_error:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def two_runs(store):
    duckml.set_experiment("cli-exp")
    ids = []
    for name, model, rmse in (("a", "rf", 0.3), ("b", "lin", 0.6)):
        with duckml.start_run(run_name=name) as run:
            duckml.log_params({"model": model})
            duckml.log_metric("rmse", rmse)
            ids.append(run.run_id)
    return ids


def test_experiments_list(two_runs):
    out = run_cli("experiments", "list", "--format", "json").output
    rows = json.loads(out)
    assert {r["name"] for r in rows} >= {"cli-exp"}
    assert [r["runs"] for r in rows if r["name"] == "cli-exp"] == [2]


def test_runs_list_formats_and_filter(two_runs):
    rows = json.loads(run_cli("runs", "list", "-e", "cli-exp", "--format", "json").output)
    assert {r["run_name"] for r in rows} == {"a", "b"}
    rows = json.loads(run_cli("runs", "list", "--filter", "params.model = 'rf'", "--format", "json").output)
    assert [r["run_name"] for r in rows] == ["a"]
    csv = run_cli("runs", "list", "--order-by", "metrics.rmse DESC", "--format", "csv").output
    assert csv.splitlines()[0].startswith("run_id") and "b" in csv.splitlines()[1]
    lines = run_cli("runs", "list").output.splitlines()
    assert lines[0].split()[:4] == ["run", "name", "status", "start"] and lines[0].split()[-1] == "rmse"
    assert sorted(line.split()[1] for line in lines[2:]) == ["a", "b"]


def test_runs_show_and_delete(two_runs):
    out = run_cli("runs", "show", two_runs[0]).output
    assert "rmse" in out and "FINISHED" in out and "model" in out
    assert "deleted run" in run_cli("runs", "delete", two_runs[0]).output
    rows = json.loads(run_cli("runs", "list", "--format", "json").output)
    assert [r["run_name"] for r in rows] == ["b"]


def test_sql_command(two_runs):
    out = run_cli("sql", "SELECT run_name, metrics['rmse'] AS rmse FROM runs_overview ORDER BY rmse",
                  "--format", "csv").output
    assert out.splitlines() == ["run_name,rmse", "a,0.3", "b,0.6"]


@pytest.mark.parametrize("args, message", [
    (["runs", "show", "nope"], "Error: no run with id 'nope'"),
    (["sql", "SELECT * FROM no_such_table"], "Error: Catalog Error"),
    (["runs", "list", "--filter", "metrics.rmse <"], "Error:"),
    (["runs", "delete", "nope"], "Error: no run with id 'nope'"),
])
def test_user_mistakes_print_one_line(two_runs, args, message):
    result = run_cli(*args, expect_error=True)
    assert result.exit_code == 1
    assert result.output.startswith(message), result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_store_option_wins_over_environment(tmp_path, two_runs):
    other = tmp_path / "other.duckdb"
    duckml.connect(other)  # an empty store of its own
    rows = json.loads(run_cli("--store", str(other), "runs", "list", "--format", "json").output)
    assert rows == []


@pytest.mark.parametrize("command", [["runs", "list"], ["experiments", "list"], ["models", "list"],
                                     ["runs", "show", "abc"], ["sql", "SELECT 1"], ["datasets", "list"]])
def test_a_read_command_on_a_missing_store_creates_nothing(tmp_path, command):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["--store", str(empty / "duckml.duckdb"), *command])
    assert result.exit_code == 1
    assert f"no duckml store at {empty / 'duckml.duckdb'}" in result.output and "duckml demo" in result.output
    assert list(empty.iterdir()) == []


def test_every_command_has_help():
    def walk(group, prefix):
        for name, command in group.commands.items():
            yield prefix + [name], command
            if hasattr(command, "commands"):
                yield from walk(command, prefix + [name])

    for path, command in walk(cli, []):
        result = CliRunner().invoke(cli, path + ["--help"])
        assert result.exit_code == 0, path
        assert command.help and command.help.strip(), f"{' '.join(path)} has no help"


@pytest.mark.slow
def test_real_subprocess(two_runs, store):
    env = {**os.environ, "DUCKML_STORE": str(store.path)}
    out = subprocess.run([sys.executable, "-m", "duckml", "runs", "list", "--format", "json"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert {r["run_name"] for r in json.loads(out.stdout)} == {"a", "b"}
    bad = subprocess.run([sys.executable, "-m", "duckml", "runs", "show", "missing"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip().startswith("Error: no run with id 'missing' in store ")


def test_predict_command_to_parquet_and_table(store, tmp_path):
    import numpy as np
    import polars as pl
    from sklearn.linear_model import LinearRegression

    x = pl.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0) * 2})
    model = LinearRegression().fit(x.to_pandas(), x["a"] * 3 + 1)
    with duckml.start_run():
        duckml.log_model(model, name="m", registered_model_name="lin")
    source = tmp_path / "in.parquet"
    x.write_parquet(source)
    out = run_cli("predict", "models:/lin/1", str(source), "--output", str(tmp_path / "p.parquet")).output
    assert "predictions written" in out
    scored = pl.read_parquet(tmp_path / "p.parquet")
    assert scored["prediction"].to_list() == pytest.approx((x["a"] * 3 + 1).to_list())
    run_cli("predict", "models:/lin@missing", str(source), "--table", "t", expect_error=True)
    run_cli("predict", "lin", str(source), "--table", "scored")
    assert duckml.connect().sql("SELECT count(*) FROM scored").fetchone() == (50,)
    result = run_cli("predict", "lin", str(source), expect_error=True)
    assert result.exit_code == 2 and "exactly one of" in result.output


def test_json_and_csv_are_lossless(two_runs):
    with duckml.start_run(run_name="edge") as run:
        duckml.log_metric("rmse", float("inf"))
        duckml.log_metric("nan_metric", float("nan"))
    duckml.flush()
    rows = json.loads(run_cli("runs", "list", "--format", "json").output)
    edge = next(r for r in rows if r["run_name"] == "edge")
    assert edge["run_id"] == run.run_id and edge["metrics.rmse"] == "Infinity" and edge["metrics.nan_metric"] == "NaN"
    assert edge["start_time"].startswith(str(run.info.start_time.year))
    maps = run_cli("sql", "SELECT MAP {'a': 1} AS m, [1, 2] AS l, 'x'::BLOB AS b, INTERVAL 90 SECOND AS i",
                   "--format", "csv").output.splitlines()
    assert maps[0] == "m,l,b,i" and maps[1] == '"{""a"": 1}","[1, 2]",eA==,90.0'
    as_json = json.loads(run_cli("sql", "SELECT 'infinity'::DOUBLE AS x, 'x'::BLOB AS b", "--format", "json").output)
    assert as_json == [{"x": "Infinity", "b": "eA=="}]


def test_runs_are_taken_by_a_short_id_and_tables_show_short_ids(two_runs):
    run_id = two_runs[0]
    table = run_cli("runs", "list", "-e", "cli-exp").output
    assert run_id[:8] in table and run_id not in table
    assert "experiment" not in table.splitlines()[0]  # one experiment asked for: no column for it
    shown = json.loads(run_cli("runs", "show", run_id[:8], "--format", "json").output)
    assert {"section": "attribute", "key": "run_id", "value": run_id} in shown
    result = CliRunner().invoke(cli, ["runs", "show", "ab"])
    assert result.exit_code == 1 and "at least 4 characters" in result.output


@pytest.mark.slow
def test_runs_list_needs_no_frame_library(two_runs, tmp_path):
    duckml.flush()
    code = ("import sys; from duckml.cli import cli\n"
            "try:\n    cli(['runs', 'list'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pandas', 'polars', 'sklearn') if m in sys.modules), file=sys.stderr)")
    env = {**os.environ, "DUCKML_STORE": str(duckml.get_store().path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines()[-1] == "[]"
