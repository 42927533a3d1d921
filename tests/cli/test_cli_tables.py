"""What the CLI's tables show a person: the keys that matter first, digits that keep differences, short ids;
and the demo's folder and its way into the UI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import duckml
from duckml.cli import cli


def run_cli(*args, expect_error=False):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=expect_error)
    if not expect_error:
        assert result.exit_code == 0, result.output
    return result


def _header(output: str) -> list[str]:
    return output.splitlines()[0].split()


@pytest.fixture
def wide_runs(store):
    duckml.set_experiment("wide")
    ids = []
    for name, rmse in (("a", 0.957834), ("b", 0.957754)):
        with duckml.start_run(run_name=name) as run:
            duckml.log_params({f"p{i:02d}": i for i in range(30)})
            duckml.log_params({"model": name})
            duckml.log_metric("rmse", rmse)
            duckml.set_tag("team", "forecasting")
            ids.append(run.info.run_id)
    return ids


def test_runs_list_puts_the_order_by_and_filter_keys_first(wide_runs):
    out = run_cli("runs", "list", "--order-by", "metrics.rmse ASC", "--filter", "params.model != 'x'").output
    assert _header(out)[:4] == ["run", "name", "rmse", "model"]
    assert _header(out)[4:7] == ["status", "start", "duration"]


def test_runs_list_shows_user_tags_but_not_system_tags(wide_runs):
    header = _header(run_cli("runs", "list").output)
    assert "tags.team" in header
    assert not any(column.startswith("tags.mlflow.") for column in header)


def test_runs_list_keeps_close_values_apart(wide_runs):
    out = run_cli("runs", "list", "--columns", "metrics.rmse").output
    assert "0.957834" in out and "0.957754" in out


def test_runs_list_columns_chooses_what_is_shown(wide_runs):
    out = run_cli("runs", "list", "--columns", "model, tags.team", "--order-by", "metrics.rmse").output
    assert _header(out) == ["run", "name", "rmse", "status", "start", "duration", "model", "tags.team"]
    records = json.loads(run_cli("runs", "list", "--columns", "model", "--format", "json").output)
    assert set(records[0]) == {"run_id", "experiment_id", "run_name", "status", "start_time", "end_time",
                               "parent_run_id", "params.model"}


def test_runs_list_unknown_column_is_one_clear_error(wide_runs):
    result = run_cli("runs", "list", "--columns", "modle", expect_error=True)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "--columns: no param, metric or tag 'modle'" in result.output and "model" in result.output


def test_runs_compare_prints_the_digits_that_matter_and_can_hide_equal_keys(wide_runs):
    out = run_cli("runs", "compare", *wide_runs).output
    assert "0.957834" in out and "0.957754" in out and "0.95783399" not in out
    assert "p05" in out
    only = run_cli("runs", "compare", *wide_runs, "--differences-only").output
    assert "p05" not in only and "model" in only and "rmse" in only
    lossless = json.loads(run_cli("runs", "compare", *wide_runs, "-d", "--format", "json").output)
    assert {row["key"] for row in lossless} == {"model", "rmse"}


def test_models_show_is_short_and_stable(store):
    from sklearn.linear_model import Ridge

    with duckml.start_run() as run:
        duckml.log_metrics({"rmse": 0.5, "mae": 0.25, "r2": 0.9})
        duckml.log_model(Ridge().fit([[0.0], [1.0]], [0.0, 1.0]), name="model", registered_model_name="m")
    duckml.set_registered_model_alias("m", "champion", 1)
    out = run_cli("models", "show", "m").output
    row = out.splitlines()[2]
    assert run.info.run_id[:8] in row and run.info.run_id not in row
    assert "champion" in row and '["champion"]' not in row
    assert "mae=0.25, r2=0.9, rmse=0.5" in row


def test_the_demo_folder_is_reused_not_multiplied(tmp_path):
    from duckml.demo import prepare_folder

    folder = prepare_folder(str(tmp_path / "demo"))
    (folder / "duckml.duckdb").write_bytes(b"old store")
    (folder / "duckml.artifacts").mkdir()
    (folder / "notes.txt").write_text("mine")
    again = prepare_folder(str(folder))
    assert again == folder and not (folder / "duckml.duckdb").exists()
    assert not (folder / "duckml.artifacts").exists() and (folder / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("flags, serves", [(["--ui"], True), (["--no-ui"], False), ([], False)])
def test_the_demo_ends_by_offering_the_ui(monkeypatch, tmp_path, flags, serves):
    import duckml.demo
    import duckml.ui.command

    served = []
    monkeypatch.setattr(duckml.demo, "run_demo", lambda directory, echo, spark=False: tmp_path / "duckml.duckdb")
    monkeypatch.setattr(duckml.ui.command, "serve", lambda **kwargs: served.append(kwargs))
    run_cli("demo", *flags)  # CliRunner is no terminal: without a flag nothing is asked and nothing served
    assert bool(served) == serves
