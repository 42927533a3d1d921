"""The fast tree walk (duckml.scoring.forest) returns scikit-learn's predictions bit for bit, and hands every
input it does not take exactly (NaN, infinity, big integers, strings) back to scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from duckml.scoring import forest

pytestmark = pytest.mark.skipif(not forest.enabled(), reason="numba is not installed")


@pytest.fixture(autouse=True)
def every_call_walks(monkeypatch):
    monkeypatch.setattr(forest, "MIN_WORK", 0)


REGRESSORS = [RandomForestRegressor, ExtraTreesRegressor, DecisionTreeRegressor]
CLASSIFIERS = [RandomForestClassifier, ExtraTreesClassifier, DecisionTreeClassifier]


def _fit(cls, X, y, trees, depth, seed):
    params = {"max_depth": depth, "random_state": seed}
    if "Forest" in cls.__name__ or "Trees" in cls.__name__:
        params["n_estimators"] = trees
    return cls(**params).fit(X, y)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), trees=st.integers(1, 40), depth=st.one_of(st.none(), st.integers(1, 12)),
       family=st.sampled_from(REGRESSORS + CLASSIFIERS), classes=st.integers(2, 4), grid=st.booleans())
def test_walk_equals_scikit_learn(seed, trees, depth, family, classes, grid):
    rng = np.random.default_rng(seed)
    # a coarse grid puts many inputs exactly on the float32 values next to the thresholds
    X = rng.integers(-4, 5, size=(300, 5)).astype(float) / 2 if grid else rng.normal(size=(300, 5))
    if family in CLASSIFIERS:
        y = np.array(["a", "b", "c", "d"])[: classes][(X[:, 0] + rng.normal(size=300) > 0).astype(int) % classes]
    else:
        y = X[:, 0] * 3 + X[:, 1] ** 2 + rng.normal(size=300)
    model = _fit(family, X, y, trees, depth, seed)
    fast = forest.fast_trees(model)
    scored = rng.normal(size=(257, 5)) if not grid else rng.integers(-5, 6, size=(257, 5)) / 2
    np.testing.assert_array_equal(fast.score(scored, proba=False), model.predict(scored))
    if family in CLASSIFIERS:
        got = fast.score(scored, proba=True)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, model.predict_proba(scored))


@pytest.fixture(scope="module")
def frame_forest():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=500), "n": rng.integers(0, 50, 500), "flag": rng.random(500) > 0.5})
    y = X["x"] + X["n"] / 10 + X["flag"]
    return X, RandomForestRegressor(n_estimators=12, random_state=0).fit(X, y)


def test_data_frames_with_integer_and_boolean_columns(frame_forest):
    X, model = frame_forest
    got = forest.fast_trees(model).score(X, proba=False)
    np.testing.assert_array_equal(got, model.predict(X))


@pytest.mark.parametrize("change", ["nan", "inf", "huge_float", "big_int", "string", "missing_column"])
def test_inputs_the_walk_refuses_go_back_to_scikit_learn(frame_forest, change):
    X, model = frame_forest
    X = X.copy()
    if change == "nan":
        X.loc[3, "x"] = np.nan
    elif change == "inf":
        X.loc[3, "x"] = np.inf
    elif change == "huge_float":  # finite in float64, infinite once cast to float32
        X.loc[3, "x"] = 1e300
    elif change == "big_int":  # float32 rounds it: scikit-learn's own cast decides
        X["n"] = X["n"] + 2**25 + 1
    elif change == "string":
        X["n"] = X["n"].astype(str)
    else:
        X = X.drop(columns="flag")
    assert forest.fast_trees(model).score(X, proba=False) is None


def test_nan_in_a_forest_fitted_without_nan_scores_as_scikit_learn_through_predict(tmp_path):
    import duckdb

    import duckml
    from duckml.scoring import udf

    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 3))
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, X[:, 0])
    spec = udf.make_spec("nan-forest", model, None, "a forest")
    udf.add_model(spec)
    X[5, 1] = np.nan
    source = pd.DataFrame(X, columns=["f0", "f1", "f2"])
    with duckdb.connect() as con:
        udf.register_udfs(con)
        con.register("src", source)
        got = con.execute("SELECT _duckml_predict_double('nan-forest', {'f0': f0, 'f1': f1, 'f2': f2}) FROM src"
                          ).fetchnumpy()
    expected = model.predict(X)  # scikit-learn routes the NaN row by missing_go_to_left
    np.testing.assert_array_equal(next(iter(got.values())), expected)
    assert duckml  # imported for the store-free scoring path above


def test_pipeline_transforms_once_then_walks():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 4)) * 100
    pipe = Pipeline([("scale", StandardScaler()), ("rf", RandomForestClassifier(n_estimators=9, random_state=0))])
    pipe.fit(X, X[:, 0] > 0)
    fast = forest.fast_trees(pipe)
    assert fast is not None and fast.head is not None
    np.testing.assert_array_equal(fast.score(X, proba=False), pipe.predict(X))
    np.testing.assert_array_equal(fast.score(X, proba=True), pipe.predict_proba(X))
    X[0, 0] = np.nan  # the scaler keeps NaN: the forest's own predict routes the transformed row
    np.testing.assert_array_equal(fast.score(X, proba=False), pipe.predict(X))


def test_other_models_and_subclasses_are_not_taken():
    class MyForest(RandomForestRegressor):
        pass

    X = np.arange(20.0).reshape(10, 2)
    assert forest.fast_trees(LogisticRegression().fit(X, np.arange(10) % 2)) is None
    assert forest.fast_trees(MyForest(n_estimators=2).fit(X, np.arange(10.0))) is None
    two_outputs = RandomForestRegressor(n_estimators=2).fit(X, np.c_[np.arange(10.0), np.arange(10.0)])
    assert forest.fast_trees(two_outputs) is None


def test_switched_off_by_environment(monkeypatch, frame_forest):
    X, model = frame_forest
    monkeypatch.setenv("DUCKML_FAST_TREES", "0")
    assert forest.fast_trees(model).score(X, proba=False) is None


def test_duckml_predict_walks_a_forest_and_matches_scikit_learn(tmp_path, monkeypatch):
    import duckml

    rng = np.random.default_rng(4)
    train = pd.DataFrame(rng.normal(size=(3000, 4)), columns=list("abcd"))
    model = RandomForestClassifier(n_estimators=15, max_depth=8, random_state=0).fit(train, train["a"] > 0)
    duckml.set_store(tmp_path / "store.duckdb")
    with duckml.start_run():
        duckml.log_model(model, "model", input_example=train.head(), registered_model_name="walked")
    source = tmp_path / "week.parquet"
    scored_rows = pd.DataFrame(rng.normal(size=(5000, 4)), columns=list("abcd"))
    scored_rows.to_parquet(source)
    walked = {"calls": 0}
    original = forest.FastTrees._accumulate

    def counting(self, matrix):
        walked["calls"] += 1
        return original(self, matrix)

    monkeypatch.setattr(forest.FastTrees, "_accumulate", counting)
    got = duckml.predict("models:/walked/1", str(source)).to_pandas()
    assert walked["calls"] > 0
    np.testing.assert_array_equal(got["prediction"].to_numpy(), model.predict(scored_rows))


def test_a_pipeline_with_text_and_nulls_logged_without_an_example_scores_as_scikit_learn(tmp_path, monkeypatch):
    """As a user meets it: a one-hot text column (the forest sees a sparse matrix: scikit-learn scores it), a
    model logged with no input example, and a source with NULLs in a number column and in the text column."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    import duckml

    rng = np.random.default_rng(5)
    train = pd.DataFrame({"x": rng.normal(size=3000), "y": rng.normal(size=3000),
                          "city": rng.choice(["oslo", "rome", "lima"], 3000)})
    target = train["x"] * 2 + (train["city"] == "rome")
    walked = []
    original = forest.FastTrees._accumulate
    monkeypatch.setattr(forest.FastTrees, "_accumulate", lambda self, m: walked.append(1) or original(self, m))
    for dense in (False, True):
        walked.clear()
        prep = ColumnTransformer([("num", SimpleImputer(), ["x", "y"]),
                                  ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=not dense), ["city"])],
                                 sparse_threshold=0.0 if dense else 1.0)
        model = Pipeline([("prep", prep), ("rf", RandomForestRegressor(n_estimators=12, random_state=0))])
        model.fit(train, target)
        duckml.set_store(tmp_path / f"store{dense}.duckdb")
        with duckml.start_run():
            duckml.log_model(model, "model", registered_model_name="mixed")
        week = pd.DataFrame({"x": rng.normal(size=4000), "y": rng.normal(size=4000),
                             "city": rng.choice(["oslo", "rome", "lima", "kyiv"], 4000)})
        week.loc[::7, "x"] = np.nan
        week.loc[::11, "city"] = None
        source = tmp_path / f"week{dense}.parquet"
        week.to_parquet(source)
        got = duckml.predict("models:/mixed/1", str(source)).to_pandas()
        np.testing.assert_array_equal(got["prediction"].to_numpy(), model.predict(week))
        assert bool(walked) == dense  # a sparse one-hot matrix goes to scikit-learn, a dense one is walked
