"""Property: random pipelines fitted on random data predict the same in SQL as in scikit-learn."""

import warnings

import numpy as np
import pandas as pd
from compiler_helpers import assert_same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
                              RandomForestClassifier)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

FINALS = {
    "linear": lambda seed: LinearRegression(), "ridge": lambda seed: Ridge(alpha=0.5),
    "lasso": lambda seed: Lasso(alpha=0.01), "enet": lambda seed: ElasticNet(alpha=0.01),
    "tree_r": lambda seed: DecisionTreeRegressor(max_depth=6, random_state=seed),
    "extra_r": lambda seed: ExtraTreesRegressor(n_estimators=4, max_depth=5, random_state=seed),
    "gb_r": lambda seed: GradientBoostingRegressor(n_estimators=8, max_depth=3, random_state=seed),
    "logistic": lambda seed: LogisticRegression(max_iter=300),
    "tree_c": lambda seed: DecisionTreeClassifier(max_depth=6, random_state=seed),
    "forest_c": lambda seed: RandomForestClassifier(n_estimators=5, max_depth=5, random_state=seed),
    "gb_c": lambda seed: GradientBoostingClassifier(n_estimators=6, max_depth=2, random_state=seed),
}
CLASSIFIERS = {"logistic", "tree_c", "forest_c", "gb_c"}


@st.composite
def problems(draw):
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(40, 300))
    n_num = draw(st.integers(1, 4))
    n_cat = draw(st.integers(0, 2))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) * scale + draw(st.floats(-5, 5)) for i in range(n_num)})
    for i in range(n_cat):
        levels = [f"c{j}" for j in range(draw(st.integers(2, 4)))]
        frame[f"k{i}"] = rng.choice(levels, size=n).astype(object)
    missing = draw(st.floats(0, 0.2))
    for i in range(n_num):  # missing numbers only where an imputer will fill them
        frame.loc[rng.random(n) < missing, f"x{i}"] = np.nan
    final = draw(st.sampled_from(sorted(FINALS)))
    n_classes = draw(st.integers(2, 4))
    signal = np.nan_to_num(frame[[f"x{i}" for i in range(n_num)]].to_numpy()).sum(axis=1) / scale
    if final in CLASSIFIERS:
        target = np.array([f"class{j}" for j in range(n_classes)])[
            np.digitize(signal, np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1]))]
    else:
        target = signal + rng.normal(size=n)
    numeric = [draw(st.sampled_from(["standard", "minmax", "none"]))]
    numeric_steps = [SimpleImputer(strategy=draw(st.sampled_from(["mean", "median", "most_frequent"])))]
    numeric_steps += {"standard": [StandardScaler()], "minmax": [MinMaxScaler(clip=draw(st.booleans()))],
                      "none": []}[numeric[0]]
    parts = [("num", make_pipeline(*numeric_steps), [f"x{i}" for i in range(n_num)])]
    if n_cat:
        drop = draw(st.sampled_from([None, "first", "if_binary"]))
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore" if drop is None else "error", drop=drop),
                      [f"k{i}" for i in range(n_cat)]))
    model = make_pipeline(ColumnTransformer(parts), FINALS[final](seed))
    return model, frame, target, final in CLASSIFIERS


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_random_pipelines_predict_the_same_in_sql(problem):
    model, frame, target, classifier = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(frame, target)
    assert_same(model, frame, proba=classifier)


@st.composite
def scored_inputs(draw, frame: pd.DataFrame, model):
    """Rows a user scores from Parquet: numbers as floats or as integers, text with unseen values and NULLs
    where the encoder ignores unknowns, NULL numbers (imputed) or none."""
    rows = frame.copy()
    numbers = [c for c in rows if c.startswith("x")]
    texts = [c for c in rows if c.startswith("k")]
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    if draw(st.sampled_from(["float", "integer"])) == "integer":
        for c in numbers:
            rows[c] = np.round(rows[c].fillna(0.0)).astype(np.int64)
    ignores = all(getattr(step, "handle_unknown", "ignore") == "ignore"
                  for _, step, _ in model[0].transformers_ if not isinstance(step, str))
    if texts and ignores and draw(st.booleans()):
        for c in texts:
            rows.loc[rng.random(len(rows)) < 0.15, c] = "unseen"
            rows.loc[rng.random(len(rows)) < 0.15, c] = None
    return rows


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.data(), st.booleans())
def test_compiled_macro_with_types_from_the_model_or_signature_equals_sklearn(problem, data, signed):
    """Estimator × input type × signature: the stored macro, compiled with the types the model (and the
    signature, when logged with an example) knows, scores a Parquet file as model.predict scores its rows."""
    import tempfile
    from pathlib import Path

    import duckdb

    from duckml.compiler.macro import table_macro
    from duckml.models.format import infer_signature

    model, frame, target, classifier = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(frame, target)
    rows = data.draw(scored_inputs(frame, model))
    definition = table_macro("scored", model, infer_signature(model, frame.head(5) if signed else None))
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "rows.parquet")
        rows.to_parquet(path)
        con = duckdb.connect()
        con.execute(definition.statement)
        got = [r[0] for r in con.execute("SELECT prediction FROM scored(?)", [path]).fetchall()]
    expected = model.predict(rows)
    if classifier:
        assert got == expected.tolist()
    else:
        np.testing.assert_allclose(np.array(got, dtype=float), expected.astype(float), rtol=1e-9, atol=1e-9)
