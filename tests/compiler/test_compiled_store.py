"""compile_model, the stored macros, alias-follow, predict()'s automatic engine, lineage, CLI, and a plain
duckdb client with no duckml import."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler
from sklearn.tree import DecisionTreeRegressor

import duckml
from duckml.cli import cli
from duckml.errors import ModelNotCompilableError, NotFoundError


def _frame(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["region"] = rng.choice(["north", "south", "east"], size=n).astype(object)
    return frame


def _log(model, frame, name):
    with duckml.start_run():
        info = duckml.log_model(model, "model", input_example=frame.head(5), registered_model_name=name)
    return info.registered_model_version


@pytest.fixture
def sales(store_from_template, tmp_path):
    """Two registered versions (a pipeline, @champion, and a tree) and a week to score in the test's folder:
    logged once per session, the store and the Parquet file copied per test."""
    pipeline, tree, week = store_from_template("compiled-sales", _log_sales)
    return pipeline, tree, week, str(tmp_path / "new_week.parquet")


def _log_sales(folder):
    frame = _frame()
    target = 3 * frame.a - frame.b + (frame.region == "north") * 2
    pipeline = make_pipeline(ColumnTransformer([("num", StandardScaler(), ["a", "b", "c"]),
                                                ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])]),
                             Ridge())
    pipeline.fit(frame, target)
    _log(pipeline, frame, "sales-forecast")
    tree = DecisionTreeRegressor(max_depth=4, random_state=0).fit(frame[["a", "b", "c"]], target)
    _log(tree, frame[["a", "b", "c"]], "sales-forecast")
    duckml.set_registered_model_alias("sales-forecast", "champion", 1)
    week = _frame(500, seed=1)
    week.to_parquet(folder / "new_week.parquet")
    return pipeline, tree, week


def test_compile_model_creates_a_named_macro_equal_to_sklearn(sales, store):
    pipeline, _, week, path = sales
    assert duckml.compile_model("models:/sales-forecast@champion") == "predict_sales_forecast_champion"
    assert duckml.compile_model("models:/sales-forecast/1") == "predict_sales_forecast_v1"
    assert duckml.compile_model("sales-forecast/2", macro="my_tree") == "my_tree"
    rows = store.sql(f"SELECT a, prediction FROM store.predict_sales_forecast_champion('{path}')").fetchall()
    np.testing.assert_allclose([r[1] for r in rows], pipeline.predict(week), rtol=1e-9)
    recorded = store.sql("SELECT macro_name, model_name, model_version, model_alias, engine FROM compiled_models "
                         "ORDER BY macro_name").fetchall()
    assert recorded == [("my_tree", "sales-forecast", 2, None, "sql"),
                        ("predict_sales_forecast_champion", "sales-forecast", 1, "champion", "sql"),
                        ("predict_sales_forecast_v1", "sales-forecast", 1, None, "sql")]
    events = store.sql("SELECT count(*) FROM registry_events WHERE event = 'macro_compiled'").fetchone()[0]
    assert events == 3


def test_alias_macro_follows_the_alias_in_the_same_transaction(sales, store):
    _, tree, week, path = sales
    duckml.compile_model("models:/sales-forecast@champion")
    duckml.set_registered_model_alias("sales-forecast", "champion", 2)
    rows = store.sql(f"SELECT prediction FROM store.predict_sales_forecast_champion('{path}')").fetchall()
    np.testing.assert_allclose([r[0] for r in rows], tree.predict(week[["a", "b", "c"]]), rtol=1e-12)
    assert store.sql("SELECT model_version FROM compiled_models WHERE macro_name = "
                     "'predict_sales_forecast_champion'").fetchone()[0] == 2
    last = store.sql("SELECT event, version, alias FROM registry_events ORDER BY event_time DESC LIMIT 2").fetchall()
    assert last == [("macro_compiled", 2, "champion"), ("alias_set", 2, "champion")]


def test_alias_moving_to_an_uncompilable_version_drops_its_macro(sales, store):
    frame = _frame()
    odd = make_pipeline(PolynomialFeatures(degree=2), Ridge()).fit(frame[["a", "b", "c"]], frame.a)
    version = _log(odd, frame[["a", "b", "c"]], "sales-forecast")
    duckml.compile_model("models:/sales-forecast@champion")
    duckml.set_registered_model_alias("sales-forecast", "champion", version)
    assert store.sql("SELECT count(*) FROM compiled_models").fetchone()[0] == 0
    detail = store.sql("SELECT detail FROM registry_events WHERE event = 'macro_dropped'").fetchone()[0]
    assert "PolynomialFeatures" in detail
    with pytest.raises(duckml.QueryError):
        store.sql(f"SELECT * FROM store.predict_sales_forecast_champion('{sales[3]}')")


def test_uncompilable_model_is_refused_by_name_and_nothing_is_stored(store):
    frame = _frame()
    odd = make_pipeline(PolynomialFeatures(degree=2), Ridge()).fit(frame[["a", "b", "c"]], frame.a)
    _log(odd, frame[["a", "b", "c"]], "odd")
    with pytest.raises(ModelNotCompilableError, match="polynomialfeatures"):
        duckml.compile_model("models:/odd/1")
    assert store.sql("SELECT count(*) FROM compiled_models").fetchone()[0] == 0


def test_compile_model_on_a_missing_model_says_so(store):
    with pytest.raises(NotFoundError):
        duckml.compile_model("models:/nothing/1")


def test_bad_macro_name_is_refused(sales):
    with pytest.raises(ModelNotCompilableError, match="plain SQL identifier"):
        duckml.compile_model("models:/sales-forecast/1", macro="x; DROP TABLE runs")


@pytest.mark.parametrize("taken", ["compare_runs", "run_details", "alias_as_of", "metric_buckets", "runs_overview",
                                   "runs", "read_parquet", "Read_Parquet", "sum"])
def test_macro_names_of_shipped_objects_and_duckdb_functions_are_refused(sales, store, taken):
    shipped_before = store.sql("SELECT function_name, macro_definition FROM duckdb_functions() "
                               "WHERE database_name = 'store' ORDER BY ALL").fetchall()
    with pytest.raises(ModelNotCompilableError, match=f"{taken!r}"):
        duckml.compile_model("models:/sales-forecast/1", macro=taken)
    after = store.sql("SELECT function_name, macro_definition FROM duckdb_functions() "
                      "WHERE database_name = 'store' ORDER BY ALL").fetchall()
    assert after == shipped_before
    assert store.sql("SELECT count(*) FROM compiled_models").fetchone()[0] == 0
    assert store.sql(f"SELECT count(*) FROM read_parquet('{sales[3]}')").fetchone()[0] == len(sales[2])


def test_cli_refuses_a_taken_macro_name_in_one_line(sales, store):
    result = CliRunner().invoke(cli, ["models", "compile", "models:/sales-forecast/1", "--macro", "compare_runs"])
    assert result.exit_code != 0
    assert "compare_runs" in result.output and "Traceback" not in result.output
    assert store.sql("SELECT count(*) FROM compiled_models").fetchone()[0] == 0
    assert store.sql("SELECT count(*) FROM compare_runs([])").fetchone() is not None


def test_predict_uses_the_compiled_form_and_records_the_engine(sales, store, tmp_path):
    pipeline, tree, week, path = sales
    duckml.predict("models:/sales-forecast/2", path, output=str(tmp_path / "udf.parquet"))
    duckml.compile_model("models:/sales-forecast@champion")
    frame = duckml.predict("models:/sales-forecast@champion", path)
    np.testing.assert_allclose(frame["prediction"].to_numpy(), pipeline.predict(week), rtol=1e-9)
    duckml.predict("models:/sales-forecast/1", path, output=str(tmp_path / "sql.parquet"))
    duckml.predict("models:/sales-forecast/1", path, output="scored")
    engines = store.sql("SELECT model_version, engine FROM predictions ORDER BY started_at").fetchall()
    assert engines == [(2, "udf"), (1, "sql"), (1, "sql")]
    written = pd.read_parquet(tmp_path / "sql.parquet")
    np.testing.assert_allclose(written["prediction"], pipeline.predict(week), rtol=1e-9)
    sql_rows = store.sql(f"SELECT prediction FROM predict('models:/sales-forecast/1', '{path}')").fetchall()
    np.testing.assert_allclose([r[0] for r in sql_rows], pipeline.predict(week), rtol=1e-9)


@pytest.mark.slow  # a size/resource test: big inputs on purpose
def test_large_forest_compiles_but_predict_keeps_the_udf(store, tmp_path):
    frame = _frame()[["a", "b", "c"]]
    forest = RandomForestRegressor(n_estimators=30, max_depth=8, random_state=0).fit(frame, frame.a * 2)
    _log(forest, frame, "forest")
    assert duckml.compile_model("models:/forest/1") == "predict_forest_v1"
    assert store.sql("SELECT engine FROM compiled_models").fetchone()[0] == "udf"
    path = tmp_path / "f.parquet"
    frame.head(300).to_parquet(path)
    duckml.predict("models:/forest/1", str(path), output=str(tmp_path / "out.parquet"))
    assert store.sql("SELECT engine FROM predictions").fetchone()[0] == "udf"
    rows = store.sql(f"SELECT prediction FROM store.predict_forest_v1('{path}')").fetchall()
    np.testing.assert_allclose([r[0] for r in rows], forest.predict(frame.head(300)), rtol=1e-12)


def test_classifier_macro_gives_labels_of_their_own_type(store, tmp_path):
    frame = _frame()
    model = make_pipeline(ColumnTransformer([("num", StandardScaler(), ["a", "b"])]),
                          LogisticRegression()).fit(frame, frame.region)
    _log(model, frame, "region")
    name = duckml.compile_model("models:/region/1")
    path = tmp_path / "r.parquet"
    frame.to_parquet(path)
    rows = store.sql(f"SELECT prediction, typeof(prediction) FROM store.{name}('{path}')").fetchall()
    assert [r[0] for r in rows] == model.predict(frame).tolist()
    assert rows[0][1] == "VARCHAR"


def test_cli_compile_and_show(sales):
    runner = CliRunner()
    result = runner.invoke(cli, ["models", "compile", "models:/sales-forecast@champion"])
    assert result.exit_code == 0, result.output
    assert "predict_sales_forecast_champion" in result.output
    shown = runner.invoke(cli, ["models", "show", "sales-forecast", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert '"engine": "sql"' in shown.output and '"engine": "udf"' in shown.output


def test_cli_refuses_an_uncompilable_model_in_one_line(store):
    frame = _frame()
    odd = make_pipeline(PolynomialFeatures(degree=2), Ridge()).fit(frame[["a", "b", "c"]], frame.a)
    _log(odd, frame[["a", "b", "c"]], "odd")
    result = CliRunner().invoke(cli, ["models", "compile", "models:/odd/1"])
    assert result.exit_code != 0
    assert "PolynomialFeatures" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_plain_duckdb_client_runs_the_macro_without_duckml(sales, store):
    pipeline, _, week, path = sales
    duckml.compile_model("models:/sales-forecast@champion")
    duckml.flush()
    store.release()
    script = ("import sys, duckdb\n"
              "assert 'duckml' not in sys.modules\n"
              "con = duckdb.connect(sys.argv[1], read_only=True)\n"
              "rows = con.execute(\"SELECT prediction FROM predict_sales_forecast_champion(?)\", [sys.argv[2]])"
              ".fetchall()\n"
              "assert 'duckml' not in sys.modules and 'sklearn' not in sys.modules\n"
              "print('\\n'.join(repr(r[0]) for r in rows))\n")
    done = subprocess.run([sys.executable, "-c", script, str(store.path), path], capture_output=True, text=True,
                          timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr
    got = [float(v) for v in done.stdout.split()]
    np.testing.assert_allclose(got, pipeline.predict(week), rtol=1e-9)
