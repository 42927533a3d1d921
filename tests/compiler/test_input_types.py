"""Compiled models take the column types the model knows, the way a user meets them: every compilable
family, logged with and without a signature, scored on text, numeric and NULL inputs from Parquet, by the
stored macro in plain DuckDB and by duckml.predict, equal to ``model.predict`` on the same rows. Where the
compiled SQL was not built for the source's types, predict() scores with the Python UDF instead."""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeRegressor

import duckml
from duckml.compiler import compile_sklearn
from duckml.compiler.macro import expected_inputs, table_macro
from duckml.errors import ModelNotCompilableError
from duckml.models.format import infer_signature
from duckml.scoring.prediction import plan
from tiers import slow_case


def _one_hot():
    return OneHotEncoder(handle_unknown="ignore")


# family -> (pipeline over x, n (numbers) and store (text), classifier?)
FAMILIES = {
    "linear": (lambda: make_pipeline(ColumnTransformer([("cat", _one_hot(), ["store"])], remainder="passthrough"),
                                     Ridge()), False),
    "logistic": (lambda: make_pipeline(ColumnTransformer([("cat", _one_hot(), ["store"]),
                                                          ("num", "passthrough", ["x", "n"])]),
                                       LogisticRegression(max_iter=500)), True),
    "tree": (lambda: make_pipeline(ColumnTransformer([("cat", _one_hot(), ["store"])], remainder="passthrough"),
                                   DecisionTreeRegressor(max_depth=5, random_state=0)), False),
    "forest": (lambda: make_pipeline(ColumnTransformer([("cat", _one_hot(), ["store"])], remainder="passthrough"),
                                     RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0)), True),
    "boosting": (lambda: make_pipeline(ColumnTransformer([("cat", _one_hot(), ["store"])],
                                                         remainder="passthrough"),
                                       GradientBoostingRegressor(n_estimators=5, max_depth=3, random_state=0)),
                 False),
    "scalers": (lambda: make_pipeline(ColumnTransformer([("std", StandardScaler(), ["x"]), ("mm", MinMaxScaler(), ["n"]),
                                                         ("cat", _one_hot(), ["store"])]), Ridge()), False),
    "imputer": (lambda: make_pipeline(ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), ["x", "n"]),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), _one_hot()), ["store"])]),
        LogisticRegression(max_iter=500)), True),
    "one_hot": (lambda: make_pipeline(_one_hot(), Ridge()), False),
    "column_transformer": (lambda: make_pipeline(ColumnTransformer([("cat", _one_hot(), ["store"]),
                                                                    ("drop_n", "drop", ["n"])],
                                                                   remainder=StandardScaler()),
                                                 Ridge()), False),
}
INPUTS = ("text", "numeric", "null")


def _training(family: str) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    size = 300
    frame = pd.DataFrame({"x": rng.normal(size=size), "n": rng.integers(0, 20, size=size).astype(float),
                          "store": rng.choice(["north", "south", "east"], size=size).astype(object)})
    if family == "imputer":  # missing values at fit time, where an imputer learns what to fill
        frame.loc[rng.random(size) < 0.1, "x"] = np.nan
        frame.loc[rng.random(size) < 0.1, "store"] = None
    if family == "one_hot":
        frame = frame[["store"]]
    signal = (np.nan_to_num(frame.get("x", 0.0)) + frame.get("n", 0.0) / 10 + (frame["store"] == "north") * 1.5
              + rng.normal(size=size) * 0.3)
    classifier = FAMILIES[family][1]
    target = np.where(signal > np.median(signal), "high", "low") if classifier else np.asarray(signal, float)
    return frame, target


def _scored_rows(family: str, inputs: str) -> pd.DataFrame:
    """Rows to score: known and unseen text, integers in numeric columns, or NULLs in both."""
    x = [0.5, -1.25, 2.0, 0.0, -0.3, 1.1]
    n = [3.0, 17.0, 0.0, 8.0, 12.0, 5.0]
    store = ["north", "south", "east", "unseen", "NORTH", "north"]
    frame = pd.DataFrame({"x": x, "n": n, "store": pd.Series(store, dtype=object)})
    if inputs == "numeric":
        frame["x"] = [1, -2, 0, 3, 1, -1]
        frame["n"] = [3, 17, 0, 8, 12, 5]
    elif inputs == "null":
        frame.loc[[1, 3], "store"] = None
        frame.loc[[2, 3], "x"] = np.nan
    return frame[["store"]] if family == "one_hot" else frame


def _fitted(family: str):
    frame, target = _training(family)
    model = FAMILIES[family][0]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(frame, target)
    return model, frame


def _expected(model, rows: pd.DataFrame) -> list:
    """model.predict row by row group: rows the model refuses (a NaN into a linear model) score NULL in SQL,
    as documented (duckml.compiler.linear)."""
    missing = rows.drop(columns=["store"]).isna().any(axis=1) if "x" in rows else pd.Series(False, index=rows.index)
    expected = [None] * len(rows)
    for part in (rows[~missing], rows[missing]):
        if part.empty:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = model.predict(part).tolist()
        except ValueError:
            continue
        for i, value in zip(part.index, values):
            expected[i] = value
    return expected


def _assert_same(got: list, expected: list) -> None:
    assert [g is None for g in got] == [e is None for e in expected], (got, expected)
    for g, e in zip(got, expected):
        if isinstance(e, float):
            assert g == pytest.approx(e, rel=1e-9, abs=1e-9), (got, expected)
        elif e is not None:
            assert g == e, (got, expected)


def _signature(model, frame: pd.DataFrame, signed: bool) -> dict:
    # log_model's own: from the input example, or (no example) the fitted names with no types
    return infer_signature(model, frame.head(5) if signed else None)


CASES = [(family, inputs, signed) for family in FAMILIES for inputs in INPUTS for signed in (False, True)]
# one case per behaviour in the inner loop: each family once, each input kind and signature once
FAST = {(family, "null", False) for family in FAMILIES} | {("linear", inputs, signed) for inputs in INPUTS
                                                            for signed in (False, True)}
TIERED = [case if case in FAST else slow_case(case, single=False) for case in CASES]


@pytest.mark.parametrize("family, inputs, signed", TIERED)
def test_plain_duckdb_macro_equals_model_predict(tmp_path, family, inputs, signed):
    model, frame = _fitted(family)
    rows = _scored_rows(family, inputs)
    path = tmp_path / "rows.parquet"
    rows.to_parquet(path)
    definition = table_macro("predict_case", model, _signature(model, frame, signed))
    con = duckdb.connect()
    con.execute(definition.statement)
    got = [r[0] for r in con.execute("SELECT prediction FROM predict_case(?)", [str(path)]).fetchall()]
    _assert_same(got, _expected(model, rows))


def test_text_inputs_are_varchar_without_a_signature():
    model, _ = _fitted("linear")
    assert expected_inputs(model, infer_signature(model)) == [("x", "DOUBLE"), ("n", "DOUBLE"), ("store", "VARCHAR")]


def test_a_dropped_column_has_no_type_and_is_never_read(tmp_path):
    model, frame = _fitted("column_transformer")
    assert dict(expected_inputs(model, None))["n"] is None
    rows = _scored_rows("column_transformer", "text").assign(n="not a number")
    rows.to_parquet(tmp_path / "rows.parquet")
    con = duckdb.connect()
    con.execute(table_macro("p", model, None).statement)
    got = [r[0] for r in con.execute("SELECT prediction FROM p(?)", [str(tmp_path / "rows.parquet")]).fetchall()]
    _assert_same(got, _expected(model, rows))


def test_signature_disagreeing_with_the_model_is_not_compiled():
    model, frame = _fitted("linear")
    signature = infer_signature(model, frame.head(5))
    signature["inputs"] = [dict(c, type="string") if c["name"] == "x" else c for c in signature["inputs"]]
    with pytest.raises(ModelNotCompilableError, match="'x'"):
        table_macro("p", model, signature)


def test_numeric_categories_compare_as_numbers():
    frame = pd.DataFrame({"code": [1, 2, 3, 1, 2, 3], "x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    model = make_pipeline(ColumnTransformer([("cat", _one_hot(), ["code"])], remainder="passthrough"),
                          Ridge()).fit(frame, [1.0, 2.0, 3.0, 1.5, 2.5, 3.5])
    assert expected_inputs(model, None) == [("code", "DOUBLE"), ("x", "DOUBLE")]
    compiled = compile_sklearn(model, expected_inputs(model, None))
    rows = pd.DataFrame({"code": [1, 7, 3], "x": [0.5, 1.5, 2.5]})
    got = [r[0] for r in duckdb.connect().execute(f"SELECT {compiled.prediction} FROM rows").fetchall()]
    _assert_same(got, model.predict(rows).tolist())


# -- duckml.predict, from a registered model ------------------------------------------------------------
def _log_all(folder):
    """Every family logged twice (no example, then an input example) under one registered name each."""
    fitted = {}
    for family in FAMILIES:
        model, frame = _fitted(family)
        with duckml.start_run():
            duckml.log_model(model, name="model", registered_model_name=family)
        with duckml.start_run():
            duckml.log_model(model, name="model", input_example=frame.head(5), registered_model_name=family)
        fitted[family] = model
    return fitted


@pytest.fixture
def logged(store_from_template):
    return store_from_template("compiled-input-types", _log_all)


@pytest.mark.parametrize("family, inputs, signed", TIERED)
def test_predict_with_the_compiled_form_equals_model_predict(tmp_path, logged, store, family, inputs, signed):
    model = logged[family]
    rows = _scored_rows(family, inputs)
    path = str(tmp_path / "rows.parquet")
    rows.to_parquet(path)
    uri = f"models:/{family}/{2 if signed else 1}"
    duckml.compile_model(uri)
    assert plan(uri, path).engine == "sql"
    got = duckml.predict(uri, path)["prediction"].to_list()
    _assert_same(got, _expected(model, rows))


def test_an_integer_column_where_the_model_learned_text_scores_with_the_udf(tmp_path, logged, store):
    """The encoder learned the strings '1', '2', 'x'; the source holds integers. The compiled SQL would
    compare an INTEGER column with 'x' and fail; the UDF casts the column to text as the signature says."""
    frame = pd.DataFrame({"code": ["1", "2", "x"] * 20, "v": np.arange(60, dtype=float)})
    model = make_pipeline(ColumnTransformer([("cat", _one_hot(), ["code"])], remainder="passthrough"),
                          Ridge()).fit(frame, np.arange(60) % 7)
    with duckml.start_run():
        duckml.log_model(model, name="model", input_example=frame.head(5), registered_model_name="codes")
    duckml.compile_model("models:/codes/1")
    path = str(tmp_path / "ints.parquet")
    pd.DataFrame({"code": [1, 2, 3], "v": [1.0, 2.0, 3.0]}).to_parquet(path)
    assert plan("models:/codes/1", path).engine == "udf"
    duckml.predict("models:/codes/1", path, output="scored")
    got = [r[0] for r in store.sql("SELECT prediction FROM scored").fetchall()]
    _assert_same(got, model.predict(pd.DataFrame({"code": ["1", "2", "3"], "v": [1.0, 2.0, 3.0]})).tolist())
    assert store.sql("SELECT engine FROM predictions").fetchall() == [("udf",)]


def test_a_stale_compiled_form_that_fails_falls_back_to_the_udf(tmp_path, logged, store):
    """A macro stored by an older compiler (text read as DOUBLE) fails on text: predict() scores with the
    UDF instead of raising, into a table as into a frame."""
    model = logged["linear"]
    duckml.compile_model("models:/linear/1")
    stale = compile_sklearn(model, [("x", "DOUBLE"), ("n", "DOUBLE"), ("store", "DOUBLE")]).prediction
    with store.write() as con:
        con.execute("UPDATE compiled_models SET prediction_sql = ?", [stale])
    rows = _scored_rows("linear", "text")
    path = str(tmp_path / "rows.parquet")
    rows.to_parquet(path)
    _assert_same(duckml.predict("models:/linear/1", path)["prediction"].to_list(), model.predict(rows).tolist())
    duckml.predict("models:/linear/1", path, output="scored")
    got = [r[0] for r in store.sql("SELECT prediction FROM scored").fetchall()]
    _assert_same(got, model.predict(rows).tolist())
    assert store.sql("SELECT engine FROM predictions").fetchall() == [("udf",)]
