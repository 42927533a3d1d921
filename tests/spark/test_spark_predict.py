"""duckml.spark.predict on a local cluster equals duckml.predict on the same rows, for every model family.

Each source is one Parquet file that both engines read; rows are compared by id.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import duckml
import duckml.spark
from duckml.errors import InvalidInputError

ROWS = 600

pytestmark = pytest.mark.slow  # a Spark local-cluster: separate JVMs and Python workers


def _data(seed: int = 0, nulls: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": np.arange(ROWS), "a": rng.normal(size=ROWS), "b": rng.normal(size=ROWS) * 10,
                          "n": rng.integers(0, 5, size=ROWS), "city": rng.choice(["oslo", "rome", "lima"], ROWS)})
    if nulls:
        frame.loc[rng.random(ROWS) < 0.15, "a"] = np.nan
    return frame


def _target(frame: pd.DataFrame, classes: bool):
    signal = np.nan_to_num(frame["a"].to_numpy()) + frame["b"] / 10 + (frame["city"] == "rome") * 0.7
    return np.where(signal > 0.3, "high", np.where(signal > -0.5, "mid", "low")) if classes else signal


NUMERIC = ["a", "b", "n"]
FAMILIES = {
    "linear": (lambda: LinearRegression(), NUMERIC, False),
    "logistic": (lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), NUMERIC, True),
    "tree": (lambda: DecisionTreeRegressor(max_depth=5, random_state=0), NUMERIC, False),
    "tree_classifier": (lambda: DecisionTreeClassifier(max_depth=4, random_state=0), NUMERIC, True),
    "forest": (lambda: RandomForestRegressor(n_estimators=8, max_depth=5, random_state=0), NUMERIC, False),
    "boosting": (lambda: GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=0), NUMERIC, False),
    "boosting_classifier": (lambda: GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0),
                            NUMERIC, True),
    "pipeline_onehot": (lambda: Pipeline([
        ("prep", ColumnTransformer([("num", StandardScaler(), ["a", "b"]),
                                    ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])])),
        ("model", Ridge(alpha=0.3))]), ["a", "b", "city"], False),
}


def _fit_and_register(name: str, make, columns, classes: bool, nulls: bool = False) -> tuple[str, object]:
    frame = _data(1, nulls)
    model = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(frame[columns], _target(frame, classes))
    with duckml.start_run():
        duckml.log_model(model, "model", input_example=frame[columns].head(), registered_model_name=name)
    duckml.set_registered_model_alias(name, "champion", 1)
    return f"models:/{name}@champion", model


def _source(tmp_path, nulls: bool = False) -> str:
    path = tmp_path / "source.parquet"
    _data(2, nulls).to_parquet(path)
    return str(path)


def _compare(spark_rows: pl.DataFrame, local: pl.DataFrame, columns: list[str]) -> None:
    spark_rows, local = spark_rows.sort("id"), local.sort("id")
    assert spark_rows.columns == local.columns
    for column in columns:
        got, expected = spark_rows[column].to_list(), local[column].to_list()
        if local[column].dtype.is_float():
            np.testing.assert_allclose(np.array(got, dtype=float), np.array(expected, dtype=float),
                                       rtol=1e-12, atol=0, equal_nan=True)
        else:
            assert got == expected


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_spark_predictions_equal_duckml_predict(spark, tmp_path, family):
    make, columns, classes = FAMILIES[family]
    uri, _ = _fit_and_register(f"m_{family}", make, columns, classes)
    source = _source(tmp_path)
    scored = duckml.spark.predict(spark.read.parquet(source).repartition(3), uri)
    local = duckml.predict(uri, source)
    _compare(pl.from_arrow(scored.toArrow()), local, ["prediction"])


def test_nulls_reach_the_model_as_duckml_predict_hands_them(spark, tmp_path):
    make = lambda: make_pipeline(SimpleImputer(), RandomForestRegressor(n_estimators=5, random_state=0))  # noqa: E731
    uri, model = _fit_and_register("m_nulls", make, NUMERIC, False, nulls=True)
    source = _source(tmp_path, nulls=True)
    scored = pl.from_arrow(duckml.spark.predict(spark.read.parquet(source), uri).toArrow())
    assert scored["a"].null_count() > 0
    _compare(scored, duckml.predict(uri, source), ["prediction"])
    expected = model.predict(_data(2, True)[NUMERIC])
    np.testing.assert_allclose(scored.sort("id")["prediction"].to_numpy(), expected, rtol=1e-12)


def test_probabilities_equal_the_predict_proba_macro(spark, tmp_path):
    make, columns, classes = FAMILIES["logistic"]
    uri, _ = _fit_and_register("m_proba", make, columns, classes)
    source = _source(tmp_path)
    scored = pl.from_arrow(duckml.spark.predict(spark.read.parquet(source), uri, proba=True).toArrow())
    local = duckml.connect().sql("SELECT * FROM predict_proba(?, ?)", [uri, source]).pl()
    _compare(scored, local, ["proba_high", "proba_low", "proba_mid"])


def test_integer_columns_are_cast_as_duckdb_casts_them_and_result_type_casts_the_prediction(spark, tmp_path):
    make, columns, classes = FAMILIES["linear"]
    uri, model = _fit_and_register("m_cast", make, columns, classes)
    frame = _data(3).astype({"a": "float32"})
    frame["b"] = frame["b"].round().astype("int64")
    path = tmp_path / "ints.parquet"
    frame.to_parquet(path)
    scored = duckml.spark.predict(spark.read.parquet(str(path)), uri, result_type="float")
    assert dict(scored.dtypes)["prediction"] == "float"
    got = pl.from_arrow(scored.sort("id").select("prediction").toArrow())["prediction"].to_numpy()
    np.testing.assert_allclose(got, duckml.predict(uri, str(path)).sort("id")["prediction"].to_numpy(), rtol=1e-6)


def test_a_missing_column_is_the_error_duckml_predict_gives(spark, tmp_path):
    make, columns, classes = FAMILIES["linear"]
    uri, _ = _fit_and_register("m_missing", make, columns, classes)
    df = spark.read.parquet(_source(tmp_path)).drop("b")
    with pytest.raises(InvalidInputError, match=r"source has no column 'b', an input of model 'm_missing'"):
        duckml.spark.predict(df, uri)
    with pytest.raises(InvalidInputError, match="has no predict_proba"):
        duckml.spark.predict(spark.read.parquet(_source(tmp_path)), uri, proba=True)


def test_alias_resolved_once_on_the_driver_and_output_recorded_as_lineage(spark, tmp_path):
    make, columns, classes = FAMILIES["linear"]
    uri, _ = _fit_and_register("m_alias", make, columns, classes)
    source = _source(tmp_path)
    scored = duckml.spark.predict(spark.read.parquet(source), uri)
    # the alias moves to a new version after planning: the job still scores with version 1
    frame = _data(1)
    with duckml.start_run():
        duckml.log_model(LinearRegression().fit(frame[NUMERIC], frame["a"] * 0), "model",
                         input_example=frame[NUMERIC].head(), registered_model_name="m_alias")
    duckml.set_registered_model_alias("m_alias", "champion", 2)
    expected = duckml.predict("models:/m_alias/1", source).sort("id")["prediction"].to_numpy()
    got = pl.from_arrow(scored.toArrow()).sort("id")["prediction"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)

    out = tmp_path / "forecast"
    assert duckml.spark.predict(spark.read.parquet(source), "models:/m_alias/1", output=str(out)) is None
    assert pl.read_parquet(str(out / "*.parquet")).height == ROWS
    lineage = duckml.connect().sql("SELECT model_name, model_version, output, output_kind, row_count, engine, "
                                   "source FROM predictions").fetchall()
    assert lineage == [("m_alias", 1, str(out), "parquet", ROWS, "spark", f"file://{source}")]


def test_each_python_worker_loads_the_model_once_from_shipped_bytes(spark, tmp_path):
    make, columns, classes = FAMILIES["tree"]
    uri, _ = _fit_and_register("m_once", make, columns, classes)
    df = spark.read.parquet(_source(tmp_path)).repartition(8)
    before = _worker_loads(spark)
    duckml.spark.predict(df, uri).count()
    duckml.spark.predict(df, uri).count()
    after = _worker_loads(spark)
    loads = {pid: after[pid] - before.get(pid, 0) for pid in after}
    assert max(loads.values()) <= 1, loads  # 8 partitions, two jobs: no worker loaded it twice
    assert sum(loads.values()) >= 1


def _worker_loads(spark) -> dict[int, int]:
    """pid -> models loaded, from the Python workers of Arrow jobs (Spark pools them apart from RDD ones)."""
    def probe(batches):
        import os

        import pyarrow as pa

        from duckml.spark import scoring

        for _ in batches:
            pass
        yield pa.RecordBatch.from_pydict({"pid": [os.getpid()], "loads": [scoring.WORKER_LOADS["count"]]})

    rows = spark.range(0, 8, 1, 8).mapInArrow(probe, "pid long, loads long").collect()
    return {row.pid: row.loads for row in rows}


def test_executors_import_this_duckml_not_another_copy(spark):
    def where(_):
        import duckml as executor_duckml

        yield executor_duckml.__file__

    assert set(spark.sparkContext.parallelize(range(2), 2).mapPartitions(where).collect()) == {duckml.__file__}
