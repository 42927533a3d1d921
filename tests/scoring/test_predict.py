"""PREDICT: the SQL macros, the Python face, type handling, errors, lineage and bounded-memory streaming.

Every check compares against ``model.predict`` / ``predict_proba`` called directly on the same rows.
"""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import duckml
from duckml.models import format as model_format
from duckml.scoring import udf as scoring
from duckml.errors import InvalidInputError, NotFoundError
from duckml.scoring.prediction import predict, register_predict

FEATURES = ["a", "b", "c"]


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, 3)), columns=FEATURES)


def _log(model, name: str, example) -> str:
    with duckml.start_run():
        duckml.log_model(model, "model", input_example=example, registered_model_name=name)
    return f"models:/{name}/1"


def _by_id(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("id")


@pytest.fixture
def data(tmp_path):
    """A 5,000-row source with an id, the three features in another order, and an extra column."""
    df = _frame(5000)
    source = df.assign(id=np.arange(len(df)), note="x")[["id", "note", "c", "a", "b"]]
    path = tmp_path / "src.parquet"
    source.to_parquet(path, row_group_size=1500)  # several row groups: DuckDB scores them in parallel
    return df, source, str(path)


def _log_regressor(folder):
    df = _frame(5000)
    model = LinearRegression().fit(df, 2 * df.a - df.b + 0.5 * df.c)
    return model, _log(model, "reg", df.head())


def _log_classifier(folder):
    df = _frame(5000)
    model = LogisticRegression().fit(df, (df.a + df.b > 0).astype(int) + (df.c > 1))
    return model, _log(model, "clf", df.head())


# The model fitted on ``data``'s frame and registered: logged once per session, the store copied per test
@pytest.fixture
def regressor(data, store_from_template):
    return store_from_template("predict-regressor", _log_regressor)


@pytest.fixture
def classifier(data, store_from_template):
    return store_from_template("predict-classifier", _log_classifier)


def test_regressor_through_sql_and_python_equals_model_predict(data, regressor):
    df, _, path = data
    model, uri = regressor
    expected = model.predict(df)
    through_sql = _by_id(duckml.connect().sql("SELECT * FROM predict(?, ?)", [uri, path]).pl())
    through_python = predict(uri, path)
    assert through_python["id"].to_list() == list(range(5000))  # source order kept
    for frame in (through_sql, through_python):
        assert frame.columns == ["id", "note", "c", "a", "b", "prediction"]
        assert frame["prediction"].dtype == pl.Float64
        np.testing.assert_allclose(frame["prediction"].to_numpy(), expected, rtol=1e-12)
        assert frame["note"].unique().to_list() == ["x"]


def test_classifier_labels_and_probabilities(data, classifier):
    df, _, path = data
    model, uri = classifier
    store = duckml.connect()
    labels = _by_id(store.sql("FROM predict(?, ?)", [uri, path]).pl())
    assert labels["prediction"].dtype == pl.Int64  # int classes stay ints
    assert labels["prediction"].to_list() == model.predict(df).tolist()
    proba = _by_id(store.sql("FROM predict_proba(?, ?)", [uri, path]).pl())
    assert proba.columns == ["id", "note", "c", "a", "b", "proba_0", "proba_1", "proba_2"]
    np.testing.assert_allclose(proba.select("proba_0", "proba_1", "proba_2").to_numpy(),
                               model.predict_proba(df), rtol=1e-12)


def test_string_classes_give_varchar_labels(data):
    df, _, path = data
    model = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(
        df, np.where(df.a > 0, "up", "down"))
    uri = _log(model, "direction", df.head())
    out = _by_id(duckml.connect().sql("FROM predict(?, ?)", [uri, path]).pl())
    assert out["prediction"].dtype == pl.String
    assert out["prediction"].to_list() == model.predict(df).tolist()
    assert duckml.connect().sql("FROM predict_proba(?, ?) LIMIT 1", [uri, path]).columns[-2:] == [
        "proba_down", "proba_up"]


def test_pipeline_with_a_string_column(tmp_path):
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"size": rng.normal(size=3000), "colour": rng.choice(["red", "green", "blue"], 3000),
                       "count": rng.integers(0, 10, 3000)})
    y = (df["size"] + (df["colour"] == "red") + df["count"] / 5 > 1).astype(int)
    model = Pipeline([
        ("prep", ColumnTransformer([("num", StandardScaler(), ["size", "count"]),
                                    ("cat", OneHotEncoder(handle_unknown="ignore"), ["colour"])])),
        ("clf", LogisticRegression()),
    ]).fit(df, y)
    uri = _log(model, "pipe", df.head())
    path = tmp_path / "pipe.parquet"
    df[["colour", "count", "size"]].assign(id=np.arange(3000)).to_parquet(path)
    out = _by_id(duckml.connect().sql("FROM predict(?, ?)", [uri, str(path)]).pl())
    assert out["prediction"].to_list() == model.predict(df).tolist()
    proba = _by_id(predict(uri, str(path)))
    assert proba["prediction"].to_list() == model.predict(df).tolist()


def test_no_scikit_learn_warnings(data, regressor):
    _, _, path = data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        duckml.connect().sql("FROM predict(?, ?)", [regressor[1], path]).fetchall()
    assert [str(w.message) for w in caught] == []


def test_glob_and_list_sources(tmp_path, regressor):
    model, uri = regressor
    frames = [_frame(700, seed).assign(id=np.arange(700) + 1000 * seed) for seed in range(3)]
    for seed, frame in enumerate(frames):
        frame[["id", "b", "a", "c"] if seed % 2 else ["c", "id", "a", "b"]].to_parquet(tmp_path / f"part{seed}.parquet")
    whole = pd.concat(frames).sort_values("id")
    expected = model.predict(whole[FEATURES])
    globbed = _by_id(duckml.connect().sql("FROM predict(?, ?)", [uri, str(tmp_path / "part*.parquet")]).pl())
    listed = _by_id(duckml.connect().sql(
        f"FROM predict(?, [?, ?, ?])", [uri] + [str(tmp_path / f"part{i}.parquet") for i in range(3)]).pl())
    from_python = _by_id(predict(uri, [tmp_path / f"part{i}.parquet" for i in range(3)]))
    for out in (globbed, listed, from_python):
        np.testing.assert_allclose(out["prediction"].to_numpy(), expected, rtol=1e-12)


def test_missing_column_names_column_and_model(tmp_path, regressor):
    path = tmp_path / "no_b.parquet"
    _frame(10).drop(columns="b").to_parquet(path)
    with pytest.raises(InvalidInputError, match=r"no column 'b', an input of model 'reg' version 1"):
        predict(regressor[1], str(path))
    with pytest.raises(InvalidInputError, match=r"no column 'b', an input of model 'reg' version 1"):
        duckml.connect().sql("FROM predict(?, ?)", [regressor[1], str(path)])


def test_uncastable_columns_name_column_and_model(tmp_path, regressor):
    text = tmp_path / "text.parquet"
    _frame(10).assign(b=["1.5"] * 9 + ["lots"]).to_parquet(text)
    with pytest.raises(InvalidInputError, match=r"column 'b' cannot be cast to float for model 'reg'.*'lots'"):
        predict(regressor[1], str(text))
    dates = tmp_path / "dates.parquet"
    _frame(10).assign(c=pd.Timestamp("2026-01-01")).to_parquet(dates)
    with pytest.raises(InvalidInputError, match=r"column 'c' is TIMESTAMP.*input 'c' of model 'reg' version 1"):
        predict(regressor[1], str(dates))


def test_numeric_strings_and_ints_are_cast_to_what_the_model_was_fitted_on(tmp_path, regressor):
    model, uri = regressor
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["0.5", "1.5", "-2"], "c": np.array([1, 0, 2], dtype=np.int8)})
    path = tmp_path / "mixed.parquet"
    df.to_parquet(path)
    expected = model.predict(df.astype(float))
    np.testing.assert_allclose(predict(uri, str(path))["prediction"].to_numpy(), expected, rtol=1e-12)


def test_nan_and_null_inputs_behave_as_the_model_does(tmp_path, data):
    df = data[0]
    forest = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(
        df.mask(df.a > 1.5), df.b)  # fitted with NaN: the trees learned where missing values go
    uri = _log(forest, "forest", df.head())
    rows = pd.DataFrame({"a": [np.nan, 0.3, None, 2.0], "b": [0.1, np.nan, 0.2, 0.3], "c": [0.0, 1.0, 2.0, np.nan]})
    path = tmp_path / "nan.parquet"
    rows.to_parquet(path)  # pandas writes NaN as null in float columns: DuckDB sees NULLs
    out = predict(uri, str(path))
    np.testing.assert_allclose(out["prediction"].to_numpy(), forest.predict(rows), rtol=1e-12)
    linear = LinearRegression().fit(df, df.a)
    with pytest.raises(InvalidInputError, match=r"model 'linear' version 1 could not score.*NaN"):
        predict(_log(linear, "linear", df.head()), str(path))


def test_positional_model_gets_an_ndarray(tmp_path):
    X = np.random.default_rng(5).normal(size=(200, 2))
    model = LinearRegression().fit(X, X[:, 0] - X[:, 1])
    uri = _log(model, "positional", X[:5])
    path = tmp_path / "pos.parquet"
    pd.DataFrame({"f1": X[:, 1], "f0": X[:, 0]}).to_parquet(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = predict(uri, str(path))
    assert caught == []
    np.testing.assert_allclose(out["prediction"].to_numpy(), model.predict(X), rtol=1e-12)


def test_parquet_output_and_lineage(tmp_path, data, classifier):
    df, source, path = data
    model, uri = classifier
    target = tmp_path / "scored.parquet"
    assert predict(uri, path, output=str(target)) is None
    written = pl.read_parquet(target).sort("id")
    assert written["prediction"].to_list() == model.predict(df).tolist()
    row = duckml.connect().sql("SELECT * FROM predictions").pl().row(0, named=True)
    assert (row["model_name"], row["model_version"], row["model_uri"], row["output"], row["output_kind"],
            row["row_count"]) == ("clf", 1, uri, str(target), "parquet", 5000)
    assert row["run_id"] and row["source"] == path and row["started_at"] <= row["finished_at"]


def test_table_output_is_created_then_appended_and_readable_by_plain_duckdb(data, regressor, store):
    df, _, path = data
    predict("reg", path, output="forecasts")
    predict("reg/1", path, output="forecasts")
    lineage = duckml.connect().sql("SELECT output, output_kind, row_count FROM predictions").fetchall()
    assert lineage == [("forecasts", "table", 5000)] * 2
    store.close()
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        counts = con.execute("SELECT count(*), count(DISTINCT id) FROM forecasts").fetchone()
        assert counts == (10000, 5000)
    finally:
        con.close()


def test_a_failed_job_leaves_no_output_and_no_lineage(tmp_path, data, classifier):
    source = tmp_path / "late_nan.parquet"
    pd.concat([data[0], pd.DataFrame({"a": [np.nan], "b": [0.0], "c": [0.0]})]).to_parquet(source)
    target = tmp_path / "never.parquet"
    for output in (str(target), "never"):
        with pytest.raises(InvalidInputError, match=r"model 'clf' version 1 could not score.*NaN"):
            predict(classifier[1], str(source), output=output)
    assert list(tmp_path.glob("*never*")) == []
    store = duckml.connect()
    assert store.sql("SELECT count(*) FROM predictions").fetchall() == [(0,)]
    assert store.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'never'").fetchall() == [(0,)]


def test_appending_other_columns_names_the_table(tmp_path, data, regressor):
    store = duckml.connect()
    store.sql("CREATE TABLE forecasts (id BIGINT, prediction DOUBLE)")
    with pytest.raises(InvalidInputError, match=r"cannot write predictions into table 'forecasts'"):
        predict(regressor[1], data[2], output="forecasts")


def test_sql_create_table_from_the_macro(data, regressor):
    store = duckml.connect()
    store.sql("CREATE TABLE scored AS SELECT id, prediction FROM predict(?, ?)", [regressor[1], data[2]])
    got = store.sql("SELECT prediction FROM scored ORDER BY id").pl()["prediction"].to_numpy()
    np.testing.assert_allclose(got, regressor[0].predict(data[0]), rtol=1e-12)


def test_macro_on_a_plain_duckdb_connection(data, regressor):
    con = duckdb.connect()
    try:
        register_predict(con)
        register_predict(con)  # idempotent
        out = con.execute("SELECT id, prediction FROM predict(?, ?) ORDER BY id", [regressor[1], data[2]]).pl()
    finally:
        con.close()
    np.testing.assert_allclose(out["prediction"].to_numpy(), regressor[0].predict(data[0]), rtol=1e-12)


def test_a_filter_on_the_prediction_scores_each_row_once(data, classifier, monkeypatch):
    calls = []
    original = scoring.score
    monkeypatch.setattr(scoring, "score", lambda key, packed, suffix: calls.append(len(packed))
                        or original(key, packed, suffix))
    duckml.connect().sql("FROM predict_proba(?, ?) WHERE proba_1 > 0.5", [classifier[1], data[2]]).fetchall()
    assert sum(calls) == 5000


def test_mistakes_are_clear_errors(tmp_path, data, regressor):
    _, _, path = data
    with pytest.raises(NotFoundError, match="matches no file"):
        predict("reg", str(tmp_path / "none*.parquet"))
    with pytest.raises(InvalidInputError, match="non-empty list"):
        predict("reg", [])
    with pytest.raises(NotFoundError, match="registered model 'nope'"):
        predict("nope", path)
    with pytest.raises(InvalidInputError, match="duckml's own tables"):
        predict("reg", path, output="runs")
    with pytest.raises(NotFoundError, match="does not exist"):
        predict("reg", path, output=str(tmp_path / "missing" / "x.parquet"))
    with pytest.raises(InvalidInputError, match="has no predict_proba"):
        duckml.connect().sql("FROM predict_proba('reg', ?)", [path])
    with pytest.raises(InvalidInputError, match="memory size"):
        predict("reg", path, output=str(tmp_path / "o.parquet"), memory_limit="lots")


def test_progress_reports_rows(data, regressor, tmp_path):
    seen = []
    predict(regressor[1], data[2], output=str(tmp_path / "p.parquet"), progress=lambda done, total: seen.append(
        (done, total)))
    assert seen[-1] == (5000, 5000)


def test_duckml_predict_is_callable_whatever_the_import_order(data, regressor):
    import duckml.scoring.prediction  # noqa: F401  (the module has its own name, so it cannot hide the function)

    assert callable(duckml.predict)
    assert duckml.predict(regressor[1], data[2]).height == 5000


@pytest.mark.slow  # a size/resource test: big inputs on purpose
def test_streaming_larger_than_the_memory_limit(tmp_path):
    """An 80 MB file of incompressible doubles through a 64 MB DuckDB memory limit, from SQL and Python."""
    n = 1_000_000
    source = tmp_path / "large.parquet"
    columns = ", ".join(f"random() AS x{i}" for i in range(10))
    con = duckdb.connect()
    con.execute(f"COPY (SELECT range AS id, {columns} FROM range({n})) TO '{source}' (ROW_GROUP_SIZE 100000)")
    assert source.stat().st_size > 75 * 2**20
    names = [f"x{i}" for i in range(10)]
    X = np.random.default_rng(0).random((100, 10))
    model = LinearRegression().fit(pd.DataFrame(X, columns=names), X.sum(axis=1))
    uri = _log(model, "wide", pd.DataFrame(X[:3], columns=names))
    through_sql, through_python = tmp_path / "sql.parquet", tmp_path / "python.parquet"
    try:
        register_predict(con)
        con.execute("SET memory_limit = '64MB'")
        con.execute("SET preserve_insertion_order = false")
        con.execute("COPY (FROM predict($1, $2)) TO $3 (FORMAT parquet)", [uri, str(source), str(through_sql)])
        predict(uri, str(source), output=str(through_python), memory_limit="64MB")
        for target in (through_sql, through_python):
            count, worst = con.execute(
                f"SELECT count(*), max(abs(prediction - ({' + '.join(names)}))) FROM read_parquet(?)",
                [str(target)]).fetchone()
            assert count == n and worst < 1e-9
    finally:
        con.close()


@pytest.fixture(scope="module")
def folder_model(tmp_path_factory):
    """A model folder scored without any store: predict() also accepts a local model folder."""
    df = _frame(300, 9)
    model = LinearRegression().fit(df, df.a * 3 - df.c)
    folder = tmp_path_factory.mktemp("m") / "model"
    model_format.save_model(model, folder, input_example=df.head())
    return model, folder


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(FEATURES + ["extra"]), rows=st.integers(1, 3000),
       values=st.floats(-1e6, 1e6, allow_nan=False))
def test_any_column_order_and_size_gives_model_predict(tmp_path_factory, folder_model, order, rows, values):
    model, folder = folder_model
    df = _frame(rows, rows).assign(extra=values)
    df.loc[0, "a"] = values
    path = tmp_path_factory.mktemp("h") / "s.parquet"
    df[order].to_parquet(path)
    out = predict(folder, str(path))
    assert out.columns == order + ["prediction"]
    np.testing.assert_allclose(out["prediction"].to_numpy(), model.predict(df[FEATURES]), rtol=1e-9)


def test_model_cache_drops_idle_models_beyond_its_bound(monkeypatch):
    from sklearn.dummy import DummyRegressor

    from duckml.models import cache

    clock = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
    shared = cache.ModelCache()
    monkeypatch.setattr(scoring, "MODELS", shared)
    model = DummyRegressor().fit([[0.0]], [1.0])
    keys = [scoring.add_model(scoring.make_spec(f"m{i}", model, None, f"model {i}"))
            for i in range(cache.MAX_ENTRIES + 3)]
    assert len(shared) == cache.MAX_ENTRIES + 3  # all recently used: none may go yet
    clock[0] += 120
    scoring.get_model(keys[0])  # used again: the oldest entry becomes the newest
    scoring.add_model(scoring.make_spec("new", model, None, "new model"))
    assert len(shared) == cache.MAX_ENTRIES
    assert ("spec", keys[0]) in shared and ("spec", "new") in shared
    assert ("spec", keys[1]) not in shared  # idle and least recently used
    with pytest.raises(duckml.NotFoundError, match="not loaded in this process"):
        scoring.get_model(keys[1])


def test_loaded_models_and_scoring_specs_share_one_cache():
    from duckml.models import cache, loader
    from duckml.scoring import udf

    assert loader.MODELS is udf.MODELS is cache.MODELS
