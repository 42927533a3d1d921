"""Each supported estimator, compiled and run by DuckDB, equals scikit-learn: labels identical, numbers
within 1e-9; NULL/NaN and unseen categories behave as the model does; anything else is refused by name."""

import duckdb
import numpy as np
import pandas as pd
import pytest
from compiler_helpers import assert_same, duckdb_types, run_sql
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                              GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from duckml.compiler import compile_sklearn
from duckml.errors import ModelNotCompilableError
from tiers import slow_case

RNG = np.random.default_rng(7)
N = 1500
X = pd.DataFrame(RNG.normal(size=(N, 5)) * [1, 10, 0.01, 1e4, 1], columns=["a", "b", "c", "d", "e"])
Y = X.a * 2 + (X.b / 10) ** 2 + X.c * 50 + RNG.normal(size=N)
Y_INT = np.digitize(Y, [-1.0, 1.5])           # 3 int classes
Y_STR = np.array(["low", "mid", "high"])[Y_INT]  # 3 text classes
Y_BOOL = (Y > 0.5).to_numpy()

# A few trees each: exactness is per tree and per sum, so more trees add time, not coverage (the slow
# size tests below compile the large ensembles)
REGRESSORS = [LinearRegression(), Ridge(alpha=2.0), Lasso(alpha=0.05), ElasticNet(alpha=0.05),
              DecisionTreeRegressor(max_depth=8, random_state=0),
              RandomForestRegressor(n_estimators=4, max_depth=7, random_state=0),
              ExtraTreesRegressor(n_estimators=4, max_depth=6, random_state=0),
              GradientBoostingRegressor(n_estimators=12, max_depth=3, random_state=0)]
CLASSIFIERS = [LogisticRegression(max_iter=500), DecisionTreeClassifier(max_depth=8, random_state=0),
               RandomForestClassifier(n_estimators=4, max_depth=7, random_state=0),
               ExtraTreesClassifier(n_estimators=4, max_depth=6, random_state=0),
               GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0)]


@pytest.mark.parametrize("model", REGRESSORS, ids=lambda m: type(m).__name__)
def test_regressors_match_sklearn(model):
    assert_same(model.fit(X, Y), X, proba=False)


TARGETS = [(Y_INT, "int"), (Y_STR, "str"), (Y_BOOL, "bool")]
# The inner loop keeps one case per behaviour; the full suite runs the matrix: each classifier once, on the
# targets in turn (every target kind is met), the other 10 pairs are slow
CLASSIFIER_CASES = [pytest.param(model, target, id=f"{type(model).__name__}-{name}",
                                 marks=() if t == m % len(TARGETS) else pytest.mark.slow)
                    for t, (target, name) in enumerate(TARGETS) for m, model in enumerate(CLASSIFIERS)]


@pytest.mark.parametrize("model, target", CLASSIFIER_CASES)
def test_classifiers_match_sklearn_labels_and_probabilities(model, target):
    compiled = assert_same(model.fit(X, target), X)
    assert compiled.prediction_type == {"i": "BIGINT", "U": "VARCHAR", "b": "BOOLEAN"}[np.asarray(target).dtype.kind]


def test_binary_logistic_is_exact_far_from_zero_without_overflow():
    model = LogisticRegression().fit(X[["a"]], Y_BOOL)
    far = pd.DataFrame({"a": [-1e6, -800.0, 0.0, 800.0, 1e6]})
    compiled = assert_same(model, far)
    assert "exp(" in compiled.probabilities[1]


def test_positional_model_on_an_ndarray_uses_f_names():
    model = Ridge().fit(X.to_numpy(), Y)
    frame = X.rename(columns=lambda c: f"f{'abcde'.index(c)}")
    expected = model.predict(X.to_numpy())
    got, _, _ = run_sql(model, frame)
    np.testing.assert_allclose(got.astype(float), expected, rtol=1e-9)


# -- missing values ---------------------------------------------------------------------------------
def _with_nan(frame: pd.DataFrame, share: float = 0.15, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for column in out.columns:
        out.loc[rng.random(len(out)) < share, column] = np.nan
    return out


@pytest.mark.parametrize("model", [DecisionTreeRegressor(max_depth=10, random_state=0),
                                   RandomForestRegressor(n_estimators=6, max_depth=6, random_state=0),
                                   ExtraTreesRegressor(n_estimators=6, max_depth=6, random_state=0)],
                         ids=lambda m: type(m).__name__)
def test_trees_route_missing_values_as_they_learned(model):
    train = _with_nan(X)
    model.fit(train, Y)
    assert_same(model, _with_nan(X, seed=2), proba=False)


@pytest.mark.parametrize("model", [DecisionTreeClassifier(max_depth=10, random_state=0),
                                   # the inner loop keeps one case per behaviour (forests: the regressor
                                   # test above); the full suite runs the matrix
                                   slow_case(RandomForestClassifier(n_estimators=6, max_depth=6, random_state=0))],
                         ids=lambda m: type(m).__name__)
def test_tree_classifiers_route_missing_values(model):
    model.fit(_with_nan(X), Y_STR)
    assert_same(model, _with_nan(X, seed=3))


def test_missing_value_unseen_in_training_follows_the_tree():
    model = DecisionTreeRegressor(max_depth=8, random_state=0).fit(X, Y)  # no NaN at fit time
    assert_same(model, _with_nan(X, seed=4), proba=False)


def test_sql_null_is_nan():
    model = DecisionTreeRegressor(max_depth=6, random_state=0).fit(_with_nan(X), Y)
    probe = _with_nan(X, seed=5).head(200)
    con = duckdb.connect()
    con.register("probe", probe)
    compiled = compile_sklearn(model, duckdb_types(probe))
    # the same rows with NULL instead of NaN
    nulls = con.execute(f"SELECT {compiled.prediction} FROM (SELECT "
                        + ", ".join(f"CASE WHEN isnan({c}) THEN NULL ELSE {c} END AS {c}" for c in probe.columns)
                        + " FROM probe)").fetchall()
    np.testing.assert_allclose([r[0] for r in nulls], model.predict(probe), rtol=1e-12)


@pytest.mark.parametrize("model", [LinearRegression(), GradientBoostingRegressor(n_estimators=5),
                                   LogisticRegression(), GradientBoostingClassifier(n_estimators=5)],
                         ids=lambda m: type(m).__name__)
def test_models_that_refuse_nan_give_null(model):
    model.fit(X, Y if type(model).__name__.endswith("Regressor") or type(model) is LinearRegression else Y_BOOL)
    with pytest.raises(ValueError):
        model.predict(_with_nan(X, seed=6))
    probe = _with_nan(X, seed=6)
    got, _, _ = run_sql(model, probe)
    missing = probe.isna().any(axis=1).to_numpy()
    assert all(g is None for g in got[missing])
    assert got[~missing].tolist() == pytest.approx(model.predict(probe[~missing]).tolist(), rel=1e-9)


# -- the float32 threshold rule -----------------------------------------------------------------------
@pytest.mark.parametrize("model", [DecisionTreeRegressor(max_depth=12, random_state=0),
                                   GradientBoostingRegressor(n_estimators=10, max_depth=4, random_state=0)],
                         ids=lambda m: type(m).__name__)
def test_values_right_at_thresholds_go_where_sklearn_sends_them(model):
    model.fit(X, Y)
    trees = [model.tree_] if hasattr(model, "tree_") else [e.tree_ for e in model.estimators_.ravel()]
    rows = []
    for tree in trees:
        for node in np.flatnonzero(tree.children_left != -1):
            t = float(tree.threshold[node])
            f32 = np.float32(t)
            candidates = {t, float(f32), float(np.nextafter(f32, np.float32(np.inf))),
                          float(np.nextafter(f32, np.float32(-np.inf))), float(np.nextafter(t, np.inf)),
                          float(np.nextafter(t, -np.inf))}
            below = np.float32(t) if float(np.float32(t)) <= t else np.nextafter(np.float32(t), np.float32(-np.inf))
            above = np.nextafter(below, np.float32(np.inf))
            middle = (float(below) + float(above)) / 2  # the double where float32 rounding flips
            candidates |= {middle, float(np.nextafter(middle, np.inf)), float(np.nextafter(middle, -np.inf))}
            for value in candidates:
                row = X.iloc[len(rows) % len(X)].copy()
                row.iloc[int(tree.feature[node])] = value
                rows.append(row)
    probe = pd.DataFrame(rows).reset_index(drop=True)
    assert_same(model, probe, proba=False)


def test_comparing_doubles_without_the_float32_rule_would_be_wrong():
    """The probe above can fail: without the float32 rule some rows go the other way."""
    model = DecisionTreeRegressor(max_depth=12, random_state=0).fit(X, Y)
    tree = model.tree_
    wrong = 0
    for node in np.flatnonzero(tree.children_left != -1):
        t = float(tree.threshold[node])
        below = np.float32(t) if float(np.float32(t)) <= t else np.nextafter(np.float32(t), np.float32(-np.inf))
        middle = (float(below) + float(np.nextafter(below, np.float32(np.inf)))) / 2
        probe = float(np.nextafter(middle, -np.inf))
        wrong += (probe <= t) != (float(np.float32(probe)) <= t)
    assert wrong > 0


# -- preprocessing ------------------------------------------------------------------------------------
CATS = pd.DataFrame({
    "a": X.a, "b": X.b, "c": X.c,
    "color": RNG.choice(["red", "green", "blue", "it's"], size=N).astype(object),
    "size": RNG.choice([1.0, 2.0, 3.0], size=N),
})


def _column_transformer(**one_hot):
    return ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), ["a", "b"]),
        ("mm", MinMaxScaler(clip=True), ["c"]),
        ("cat", OneHotEncoder(**one_hot), ["color", "size"]),
    ], remainder="drop")


ONE_HOTS = [dict(handle_unknown="ignore"), dict(drop="first"), dict(drop="if_binary"),
            dict(handle_unknown="ignore", drop="first"), dict(handle_unknown="error")]
FINALS = [Ridge(), LogisticRegression(max_iter=500), DecisionTreeClassifier(max_depth=6, random_state=0)]
# The inner loop keeps one case per behaviour; the full suite runs the matrix: every encoder setting once and
# every final step at least once (the final index per encoder setting), the other 10 pairs are slow
FAST_FINAL = [2, 0, 0, 2, 1]
PIPELINE_CASES = [pytest.param(one_hot, final, id=f"{type(final).__name__}-{one_hot}",
                               marks=() if f == FAST_FINAL[o] else pytest.mark.slow)
                  for f, final in enumerate(FINALS) for o, one_hot in enumerate(ONE_HOTS)]


@pytest.mark.parametrize("one_hot, final", PIPELINE_CASES)
def test_column_transformer_pipelines(one_hot, final):
    target = Y if type(final) is Ridge else Y_STR
    model = make_pipeline(_column_transformer(**one_hot), final).fit(_with_nan(CATS[["a", "b"]]).join(
        CATS[["c", "color", "size"]]), target)
    probe = _with_nan(CATS[["a", "b"]], seed=9).join(CATS[["c", "color", "size"]])
    assert_same(model, probe, proba=type(final) is not Ridge)


def test_remainder_passthrough_keeps_the_other_columns():
    ct = ColumnTransformer([("s", StandardScaler(), ["a"])], remainder="passthrough")
    model = make_pipeline(ct, Ridge()).fit(X, Y)
    assert_same(model, X, proba=False)


def test_unseen_category_ignored_gives_all_zeros_like_sklearn():
    model = make_pipeline(_column_transformer(handle_unknown="ignore"), Ridge()).fit(CATS, Y)
    probe = CATS.head(50).copy()
    probe.loc[:10, "color"] = "purple"
    probe.loc[11:15, "color"] = None
    sk_probe = probe.copy()
    sk_probe["color"] = sk_probe["color"].where(sk_probe["color"].notna(), np.nan)
    assert_same(model, probe, sk_probe, proba=False)


def test_unseen_category_with_handle_unknown_error_raises_naming_the_value():
    model = make_pipeline(_column_transformer(handle_unknown="error"), Ridge()).fit(CATS, Y)
    probe = CATS.head(20).copy()
    probe.loc[5, "color"] = "purple"
    with pytest.raises(ValueError):
        model.predict(probe)
    with pytest.raises(duckdb.Error, match="purple"):
        run_sql(model, probe)


def test_missing_category_learned_at_fit_time_is_a_category():
    frame = CATS.copy()
    frame.loc[:100, "color"] = np.nan
    model = make_pipeline(ColumnTransformer([("cat", OneHotEncoder(), ["color"])]), Ridge()).fit(frame, Y)
    probe = frame.head(300).copy()
    sql_probe = probe.copy()
    sql_probe["color"] = sql_probe["color"].where(sql_probe["color"].notna(), None)
    assert_same(model, sql_probe, probe, proba=False)


# -- refusals -----------------------------------------------------------------------------------------
def test_unsupported_estimator_is_named():
    model = SVC().fit(X, Y_INT)
    with pytest.raises(ModelNotCompilableError, match="SVC"):
        compile_sklearn(model, duckdb_types(X))


def test_unsupported_step_is_named_with_its_path():
    model = make_pipeline(ColumnTransformer([("logs", FunctionTransformer(np.log1p), ["a"])],
                                            remainder="passthrough"), Ridge()).fit(X.abs(), Y)
    with pytest.raises(ModelNotCompilableError, match=r"transformer 'logs' \(FunctionTransformer\)"):
        compile_sklearn(model, duckdb_types(X))


def test_error_is_a_value_error():
    assert issubclass(ModelNotCompilableError, ValueError)


def test_multi_output_regression_is_refused():
    model = DecisionTreeRegressor(max_depth=3).fit(X, np.c_[Y, Y])
    with pytest.raises(ModelNotCompilableError, match="several targets"):
        compile_sklearn(model, duckdb_types(X))


# -- size limits --------------------------------------------------------------------------------------
@pytest.mark.slow  # a size/resource test: big inputs on purpose
def test_deep_tree_and_many_trees_stay_under_the_expression_depth_limit():
    deep = DecisionTreeRegressor(random_state=0).fit(X, Y)  # grown out: depth ~25
    assert_same(deep, X.head(300), proba=False)
    many = GradientBoostingRegressor(n_estimators=1200, max_depth=1, learning_rate=0.05, random_state=0).fit(X, Y)
    assert_same(many, X.head(300), proba=False)


# -- NaN stored in Parquet (not NULL) -----------------------------------------------------------------
def _parquet_rows(tmp_path, frame, model):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "nan.parquet"
    # arrays from numpy keep NaN as a value (pandas' to_parquet would write NULL)
    pq.write_table(pa.table({c: pa.array(frame[c].to_numpy()) for c in frame.columns}), path)
    con = duckdb.connect()
    types = [(n, t) for n, t, *_ in con.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()]
    compiled = compile_sklearn(model, types)
    assert con.execute(f"SELECT count(*) FROM '{path}' WHERE isnan(a)").fetchone()[0] > 0
    return [r[0] for r in con.execute(f"SELECT {compiled.prediction} FROM '{path}'").fetchall()]


def test_nan_in_parquet_routes_through_trees_like_sklearn(tmp_path):
    model = DecisionTreeRegressor(max_depth=8, random_state=0).fit(_with_nan(X), Y)
    probe = _with_nan(X, seed=11)
    np.testing.assert_allclose(_parquet_rows(tmp_path, probe, model), model.predict(probe), rtol=1e-12)


# the inner loop keeps one case per behaviour (multinomial logistic: the classifier matrix); the full suite
# runs both
@pytest.mark.parametrize("target", [Y_BOOL, slow_case(Y_STR)], ids=["binary", "multinomial"])
def test_nan_in_parquet_gives_no_label_from_a_logistic_model(tmp_path, target):
    model = LogisticRegression(max_iter=500).fit(X, target)
    probe = _with_nan(X, seed=12)
    got = _parquet_rows(tmp_path, probe, model)
    missing = probe.isna().any(axis=1).to_numpy()
    assert all(g is None for g, m in zip(got, missing) if m)
    assert [g for g, m in zip(got, missing) if not m] == model.predict(probe[~missing]).tolist()


def test_nan_in_parquet_is_filled_by_the_imputer(tmp_path):
    model = make_pipeline(SimpleImputer(), MinMaxScaler(clip=True), Ridge()).fit(_with_nan(X), Y)
    probe = _with_nan(X, seed=13)
    np.testing.assert_allclose(_parquet_rows(tmp_path, probe, model), model.predict(probe), rtol=1e-9)
