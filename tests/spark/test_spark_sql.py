"""Compiled models as Spark SQL: the Spark dialect of the compiler is exact against scikit-learn (the
compiler's property test, run through Spark), and register() gives a SQL function with no Python node in
the physical plan, equal to the DuckDB macro; a model that does not compile gets an Arrow UDF."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression

import duckml
import duckml.spark
from duckml.compiler import compile_sklearn
from duckml.errors import InvalidInputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compiler"))
from compiler_helpers import duckdb_types  # noqa: E402
from test_property import problems  # noqa: E402
from test_spark_predict import FAMILIES, NUMERIC, _data, _fit_and_register, _source  # noqa: E402

pytestmark = pytest.mark.slow  # a Spark local-cluster: separate JVMs and Python workers


def _spark_frame(spark, frame: pd.DataFrame):
    return spark.createDataFrame(pa.Table.from_pandas(frame, preserve_index=False))


def _executed_plan(df) -> str:
    return df._jdf.queryExecution().executedPlan().toString()


# Spark plans each example's expressions in seconds (a 3-class boosting model in tens of seconds on a
# loaded machine): a few examples per run; the DuckDB property test runs the full count on the same strategy
@settings(deadline=None, max_examples=5, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(problem=problems())
def test_random_pipelines_predict_the_same_in_spark_sql(spark, problem):
    model, frame, target, classifier = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(frame, target)
    compiled = compile_sklearn(model, duckdb_types(frame), dialect="spark")
    columns = [compiled.prediction] + (list(compiled.probabilities) if classifier else [])
    selected = _spark_frame(spark, frame).selectExpr(*[f"{sql} AS c{i}" for i, sql in enumerate(columns)])
    rows = selected.collect()
    assert "Python" not in _executed_plan(selected)
    got = np.array([r[0] for r in rows], dtype=object)
    if classifier:
        assert got.tolist() == model.predict(frame).tolist()
        np.testing.assert_allclose(np.array([r[1:] for r in rows], dtype=float), model.predict_proba(frame),
                                   rtol=1e-9, atol=1e-9)
    else:
        np.testing.assert_allclose(got.astype(float), model.predict(frame), rtol=1e-9, atol=1e-9)


def test_text_with_quotes_and_backslashes_stays_one_literal(spark):
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"k": ["it's", "a\\b", "a\\'b", "plain"] * 5, "x": np.arange(20.0)})
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["k"]), remainder="passthrough"),
                          LinearRegression()).fit(frame, np.arange(20.0) + (frame["k"] == "a\\'b") * 100)
    compiled = compile_sklearn(model, duckdb_types(frame), dialect="spark")
    got = [r[0] for r in _spark_frame(spark, frame).selectExpr(compiled.prediction).collect()]
    np.testing.assert_allclose(got, model.predict(frame), rtol=1e-9, atol=1e-9)
    # an unknown category fails the query, as the DuckDB macro does
    unknown = _spark_frame(spark, frame.assign(k="new"))
    with pytest.raises(Exception, match="unknown category"):
        unknown.selectExpr(compiled.prediction).collect()


@pytest.mark.parametrize("family", ["linear", "logistic", "forest", "pipeline_onehot", "tree_classifier"])
def test_registered_function_is_a_sql_expression_equal_to_the_duckdb_macro(spark, tmp_path, family):
    make, columns, classes = FAMILIES[family]
    uri, _ = _fit_and_register(f"sql_{family}", make, columns, classes)
    # a forest compiles, but registers as the UDF unless asked (Spark scores its expression slower)
    function = duckml.spark.register(spark, uri, f"score_{family}", engine="sql" if family == "forest" else None)
    assert function.engine == "sql"
    source = _source(tmp_path)
    spark.read.parquet(source).createOrReplaceTempView("week")
    scored = spark.sql(f"SELECT id, score_{family}({', '.join(columns)}) AS prediction FROM week")
    plan = _executed_plan(scored)
    assert "Python" not in plan and "ArrowEval" not in plan, plan
    macro = duckml.compile_model(uri)
    expected = duckml.connect().sql(f"SELECT id, prediction FROM store.{macro}(?)", [source]).pl().sort("id")
    got = pl.from_arrow(scored.toArrow()).sort("id")
    if expected["prediction"].dtype.is_float():
        np.testing.assert_allclose(got["prediction"].to_numpy(), expected["prediction"].to_numpy(),
                                   rtol=1e-12, atol=0)
    else:
        assert got["prediction"].to_list() == expected["prediction"].to_list()
    # the DataFrame API: the model's inputs by name, or the columns given
    by_api = spark.read.parquet(source).select("id", function().alias("prediction"))
    assert pl.from_arrow(by_api.toArrow()).sort("id")["prediction"].to_list() == got["prediction"].to_list()


def test_a_forest_registers_as_the_udf_unless_sql_is_asked(spark, tmp_path):
    make, columns, classes = FAMILIES["forest"]
    uri, _ = _fit_and_register("forest_default", make, columns, classes)
    function = duckml.spark.register(spark, uri, "forest_default")
    assert function.engine == "udf"
    source = _source(tmp_path)
    spark.read.parquet(source).createOrReplaceTempView("week_forest")
    scored = spark.sql(f"SELECT id, forest_default({', '.join(columns)}) AS prediction FROM week_forest")
    assert "ArrowEvalPython" in _executed_plan(scored)
    got = pl.from_arrow(scored.toArrow()).sort("id")["prediction"].to_numpy()
    np.testing.assert_array_equal(got, duckml.predict(uri, source).sort("id")["prediction"].to_numpy())


def test_a_model_that_does_not_compile_registers_an_arrow_udf(spark, tmp_path):
    uri, model = _fit_and_register("hist", lambda: HistGradientBoostingRegressor(max_iter=10), NUMERIC, False)
    function = duckml.spark.register(spark, uri, "hist_score")
    assert function.engine == "udf"
    source = _source(tmp_path)
    spark.read.parquet(source).createOrReplaceTempView("week_udf")
    scored = spark.sql("SELECT id, hist_score(a, b, n) AS prediction FROM week_udf")
    assert "ArrowEvalPython" in _executed_plan(scored)
    got = pl.from_arrow(scored.toArrow()).sort("id")["prediction"].to_numpy()
    np.testing.assert_allclose(got, duckml.predict(uri, source).sort("id")["prediction"].to_numpy(), rtol=1e-12)


def test_bad_names_and_engines_are_clear_errors(spark):
    frame = _data(0)
    with duckml.start_run():
        duckml.log_model(LinearRegression().fit(frame[NUMERIC], frame["a"]), "model",
                         input_example=frame[NUMERIC].head(), registered_model_name="plain")
    with pytest.raises(InvalidInputError, match="plain SQL identifier"):
        duckml.spark.register(spark, "models:/plain/1", "drop table x; --")
    with pytest.raises(InvalidInputError, match="engine"):
        duckml.spark.register(spark, "models:/plain/1", "ok", engine="gpu")
    function = duckml.spark.register(spark, "models:/plain/1", "plain_score", engine="udf")
    assert function.engine == "udf"
    with pytest.raises(InvalidInputError, match="takes 3 columns"):
        function("a")


def test_long_ordered_sums_keep_their_order_in_both_spark_forms(spark, monkeypatch):
    """Terms whose float sum depends on the order: nested additions and aggregate() give numpy's result."""
    from duckml.compiler.emit import SPARK, number, ordered_sum, writing

    values = [1e16, 1.0, -1e16, 1.0, 3.3, -2.2, 1e-3] * 5
    expected = 0.0
    for v in values:
        expected += v
    terms = [number(v) for v in values]
    for limit in (len(terms), 0):  # nested, then aggregate
        monkeypatch.setattr(type(SPARK), "NESTED_SUM_TERMS", limit)
        with writing(SPARK):
            sql = ordered_sum(terms)
        assert ("aggregate" in sql) == (limit == 0)
        assert spark.sql(f"SELECT {sql} AS total").collect()[0].total == expected


def test_binary_labels_of_null_nan_and_infinite_scores_are_the_duckdb_macro_s(spark):
    """The Spark label of a binary linear classifier (nanvl, one evaluation of the score) against DuckDB's CASE:
    NULL for a NULL or NaN input, the sign of an infinite score, 0 for a score of exactly 0."""
    import duckdb
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(5)
    train = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(train, train["a"] - train["b"] > 0)
    values = [0.5, -0.5, None, float("nan"), float("inf"), float("-inf"), 0.0, -0.0]
    rows = pa.table({"i": list(range(len(values) ** 2)),
                      "a": pa.array([v for v in values for _ in values], pa.float64()),
                      "b": pa.array([v for _ in values for v in values], pa.float64())})
    inputs = [("a", "DOUBLE"), ("b", "DOUBLE")]
    spark_sql = compile_sklearn(model, inputs, dialect="spark").prediction
    duckdb_sql = compile_sklearn(model, inputs).prediction
    got = {r[0]: r[1] for r in spark.createDataFrame(rows).selectExpr("i", spark_sql).collect()}
    expected = dict(duckdb.connect().sql(f"SELECT i, {duckdb_sql} FROM rows").fetchall())
    assert got == expected
    assert got[2 * len(values) + 2] is None and got[3 * len(values) + 3] is None  # a NULL row, a NaN row
