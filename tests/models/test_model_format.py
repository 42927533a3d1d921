"""model_format / model_trust: skops round trips, signatures, and refusal of tampered or hostile files."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import textwrap
import zipfile

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duckml.errors import InvalidInputError, UntrustedModelError
from duckml.models.format import (
    EXAMPLE_ROWS,
    _json_safe,
    infer_signature,
    load_model,
    read_metadata,
    save_model,
)
from duckml.models.trust import is_auto_trusted, split_untrusted

RNG = np.random.default_rng(0)
X_NUM = RNG.normal(size=(120, 3))
Y_CLS = (X_NUM[:, 0] + X_NUM[:, 1] > 0).astype(int)
Y_REG = X_NUM @ np.array([1.0, -2.0, 0.5])
FRAME = pd.DataFrame({"x": X_NUM[:, 0], "y": X_NUM[:, 1], "city": RNG.choice(["oslo", "rome", "lima"], 120)})


def _estimators():
    from sklearn import ensemble, linear_model, neighbors, svm
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pipeline = Pipeline([
        ("prep", ColumnTransformer([("num", StandardScaler(), ["x", "y"]),
                                    ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])])),
        ("clf", linear_model.LogisticRegression()),
    ])
    return {
        "linear_regression": (linear_model.LinearRegression(), X_NUM, Y_REG),
        "logistic_regression": (linear_model.LogisticRegression(), X_NUM, Y_CLS),
        "random_forest_classifier": (ensemble.RandomForestClassifier(10, random_state=0), X_NUM, Y_CLS),
        "random_forest_regressor": (ensemble.RandomForestRegressor(10, random_state=0), X_NUM, Y_REG),
        "gradient_boosting_classifier": (ensemble.GradientBoostingClassifier(n_estimators=10), X_NUM, Y_CLS),
        "gradient_boosting_regressor": (ensemble.GradientBoostingRegressor(n_estimators=10), X_NUM, Y_REG),
        "hist_gradient_boosting": (ensemble.HistGradientBoostingClassifier(max_iter=10), X_NUM, Y_CLS),
        "knn": (neighbors.KNeighborsClassifier(), X_NUM, Y_CLS),
        "svc": (svm.SVC(), X_NUM, Y_CLS),
        "pipeline_column_transformer": (pipeline, FRAME, Y_CLS),
    }


ESTIMATORS = list(_estimators())


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_round_trip_gives_identical_predictions(tmp_path, kind):
    model, X, y = _estimators()[kind]
    model.fit(X, y)
    meta = save_model(model, tmp_path / "m", input_example=X[:5])
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(model)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert meta.sha256 == hashlib.sha256((tmp_path / "m" / "model.skops").read_bytes()).hexdigest()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_more_estimator_kinds_load_without_options(tmp_path):
    """Every type skops refuses by default in these shows up somewhere in scikit-learn: trees, KD trees,
    distance metrics, kernels, losses, score functions, BSplines, partials, optimizers."""
    from sklearn import calibration, cluster, ensemble, feature_selection, gaussian_process, linear_model
    from sklearn import neural_network, preprocessing
    from sklearn.pipeline import make_pipeline

    X_pos = np.abs(X_NUM)
    cases = [
        (make_pipeline(feature_selection.SelectKBest(k=2), linear_model.LogisticRegression()), X_NUM, Y_CLS),
        (calibration.CalibratedClassifierCV(linear_model.LogisticRegression(), cv=2), X_NUM, Y_CLS),
        (gaussian_process.GaussianProcessRegressor(), X_NUM[:30], Y_REG[:30]),
        (neural_network.MLPClassifier(max_iter=20, random_state=0), X_NUM, Y_CLS),
        (linear_model.TweedieRegressor(power=1.5, link="identity"), X_pos, np.abs(Y_REG)),
        (ensemble.AdaBoostClassifier(n_estimators=5), X_NUM, Y_CLS),
        (ensemble.IsolationForest(n_estimators=5, random_state=0), X_NUM, None),
        (cluster.BisectingKMeans(n_clusters=3, random_state=0), X_NUM, None),
        (make_pipeline(preprocessing.SplineTransformer(), linear_model.Ridge()), X_NUM, Y_REG),
        (ensemble.HistGradientBoostingClassifier(max_iter=5, categorical_features=[3]),
         np.c_[X_NUM, RNG.integers(0, 4, 120)], Y_CLS),
    ]
    for i, (model, X, y) in enumerate(cases):
        model.fit(X, y) if y is not None else model.fit(X)
        save_model(model, tmp_path / str(i))
        loaded = load_model(tmp_path / str(i))
        assert np.array_equal(loaded.predict(X), model.predict(X)), type(model).__name__


def test_metadata_records_class_params_versions_and_example(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(7, max_depth=3, random_state=0).fit(X_NUM, Y_CLS)
    save_model(model, tmp_path / "m", input_example=X_NUM[:50])
    meta = read_metadata(tmp_path / "m")
    raw = json.loads((tmp_path / "m" / "duckml_model.json").read_text())
    assert raw["flavor"] == "sklearn" and raw["format"] == "skops"
    assert meta.model_class == "sklearn.ensemble._forest.RandomForestClassifier"
    assert meta.params["n_estimators"] == 7 and meta.params["max_depth"] == 3
    assert meta.sklearn_version and meta.python_version
    example = json.loads((tmp_path / "m" / meta.input_example_file).read_text())
    assert example["columns"] == ["f0", "f1", "f2"] and len(example["data"]) == EXAMPLE_ROWS
    assert not any(name.endswith(".pkl") or name.endswith(".pickle") for name in os.listdir(tmp_path / "m"))


@pytest.mark.parametrize("convert", [lambda f: f, pl.from_pandas, lambda f: pa.Table.from_pandas(f)],
                         ids=["pandas", "polars", "arrow"])
def test_signature_from_frames(convert):
    model = _estimators()["pipeline_column_transformer"][0].fit(FRAME, Y_CLS)
    sig = infer_signature(model, convert(FRAME.head(3)))
    assert sig["inputs"] == [{"name": "x", "type": "double"}, {"name": "y", "type": "double"},
                             {"name": "city", "type": "string"}]
    assert sig["task"] == "classification" and sig["classes"] == [0, 1] and sig["positional"] is False
    assert sig["outputs"] == [{"name": "prediction", "type": "int64"}]


def test_signature_from_numpy_and_from_feature_names():
    from sklearn.linear_model import LinearRegression

    plain = LinearRegression().fit(X_NUM, Y_REG)
    sig = infer_signature(plain, X_NUM[:2])
    assert [c["name"] for c in sig["inputs"]] == ["f0", "f1", "f2"] and sig["positional"] is True
    assert sig["task"] == "regression" and sig["classes"] is None
    named = LinearRegression().fit(pd.DataFrame(X_NUM, columns=["a", "b", "c"]), Y_REG)
    sig = infer_signature(named)
    assert [c["name"] for c in sig["inputs"]] == ["a", "b", "c"] and sig["positional"] is False
    assert sig["outputs"][0]["type"] == "double"


def test_explicit_signature_is_kept_and_checked(tmp_path):
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(X_NUM, Y_REG)
    sig = {"inputs": [{"name": "a", "type": "double"}], "task": "regression"}
    assert save_model(model, tmp_path / "m", signature=sig).signature["inputs"] == sig["inputs"]
    with pytest.raises(InvalidInputError, match="signature"):
        save_model(model, tmp_path / "n", signature={"columns": []})


def test_save_refuses_non_empty_folder_and_non_estimators(tmp_path):
    from sklearn.linear_model import LinearRegression

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "other.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="not empty"):
        save_model(LinearRegression().fit(X_NUM, Y_REG), tmp_path / "m")
    with pytest.raises(InvalidInputError, match="get_params"):
        save_model(object(), tmp_path / "n")


# -- refusing files -------------------------------------------------------------------------------------
def _rehash(folder) -> None:
    """What an attacker with write access does: rewrite the recorded digest to match the new file."""
    meta = json.loads((folder / "duckml_model.json").read_text())
    meta["sha256"] = hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()
    (folder / "duckml_model.json").write_text(json.dumps(meta))


def test_tampered_model_file_is_refused(tmp_path):
    from sklearn.linear_model import LinearRegression

    save_model(LinearRegression().fit(X_NUM, Y_REG), tmp_path / "m")
    path = tmp_path / "m" / "model.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(UntrustedModelError, match=r"model\.skops has sha256 .* modified after saving"):
        load_model(tmp_path / "m")


def test_metadata_cannot_point_outside_the_folder(tmp_path):
    from sklearn.linear_model import LinearRegression

    save_model(LinearRegression().fit(X_NUM, Y_REG), tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "duckml_model.json").read_text())
    meta["model_file"] = "../../etc/passwd"
    (tmp_path / "m" / "duckml_model.json").write_text(json.dumps(meta))
    with pytest.raises(UntrustedModelError, match="not a plain file name"):
        load_model(tmp_path / "m")


EVIL_MODULE = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")

class Payload:
    def __setstate__(self, state):
        pathlib.Path({marker!r}).write_text("constructed")
"""


def test_custom_class_is_refused_without_importing_it(tmp_path, monkeypatch):
    from sklearn.preprocessing import FunctionTransformer

    marker = tmp_path / "marker"
    (tmp_path / "evil_duckml_payload.py").write_text(textwrap.dedent(EVIL_MODULE.format(marker=str(marker))))
    monkeypatch.syspath_prepend(str(tmp_path))
    import evil_duckml_payload

    model = FunctionTransformer(kw_args={"payload": evil_duckml_payload.Payload()}).fit(X_NUM)
    save_model(model, tmp_path / "m")
    marker.unlink()
    monkeypatch.delitem(sys.modules, "evil_duckml_payload")
    with pytest.raises(UntrustedModelError, match="evil_duckml_payload.Payload") as info:
        load_model(tmp_path / "m")
    assert "trusted=['evil_duckml_payload.Payload']" in str(info.value)
    assert not marker.exists(), "loading must neither import nor construct an untrusted type"
    assert load_model(tmp_path / "m", trusted=["evil_duckml_payload.Payload"]) is not None  # explicit trust works


@pytest.mark.parametrize("func, name", [(os.system, "system"), (np.load, "numpy.load"), (eval, "builtins.eval")])
def test_dangerous_functions_are_refused(tmp_path, func, name):
    from sklearn.preprocessing import FunctionTransformer

    save_model(FunctionTransformer(func=func, kw_args={"command": "touch pwned"}), tmp_path / "m")
    with pytest.raises(UntrustedModelError, match=name):
        load_model(tmp_path / "m")


def test_crafted_schema_naming_os_system_is_refused(tmp_path):
    from sklearn.linear_model import LinearRegression

    save_model(LinearRegression().fit(X_NUM, Y_REG), tmp_path / "m")
    path = tmp_path / "m" / "model.skops"
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    schema = json.loads(files["schema.json"])
    schema["content"]["content"]["fit_intercept"] = {
        "__class__": "system", "__module__": "os", "__loader__": "FunctionNode", "__id__": 999}
    files["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
    _rehash(tmp_path / "m")
    with pytest.raises(UntrustedModelError, match="os.system"):
        load_model(tmp_path / "m")


def _corrupt_and_load(tmp_path, model, corrupt):
    corrupt(model)
    save_model(model, tmp_path / "m")
    with pytest.raises(UntrustedModelError, match="crafted or damaged"):
        load_model(tmp_path / "m")


def test_tree_with_out_of_range_child_is_refused(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    def corrupt(m):
        m.estimators_[2].tree_.children_left[0] = 10**6

    _corrupt_and_load(tmp_path, RandomForestClassifier(3, random_state=0).fit(X_NUM, Y_CLS), corrupt)


def test_tree_splitting_on_missing_feature_is_refused(tmp_path):
    from sklearn.tree import DecisionTreeRegressor

    def corrupt(m):
        m.tree_.feature[0] = 50

    _corrupt_and_load(tmp_path, DecisionTreeRegressor(max_depth=3).fit(X_NUM, Y_REG), corrupt)


def test_tree_under_estimator_without_feature_count_is_refused(tmp_path):
    from sklearn.tree import DecisionTreeRegressor

    def corrupt(m):
        del m.n_features_in_

    _corrupt_and_load(tmp_path, DecisionTreeRegressor(max_depth=3).fit(X_NUM, Y_REG), corrupt)


def test_hist_gradient_boosting_with_bad_node_is_refused(tmp_path):
    from sklearn.ensemble import HistGradientBoostingRegressor

    def corrupt(m):
        nodes = m._predictors[1][0].nodes
        inner = np.flatnonzero(nodes["is_leaf"] == 0)[0]
        nodes["right"][inner] = 10**6

    _corrupt_and_load(tmp_path, HistGradientBoostingRegressor(max_iter=3).fit(X_NUM, Y_REG), corrupt)


def test_kd_tree_with_bad_index_is_refused(tmp_path):
    from sklearn.neighbors import KNeighborsRegressor

    model = KNeighborsRegressor(algorithm="kd_tree").fit(X_NUM, Y_REG)
    state = list(model._tree.__getstate__())
    state[1] = state[1].copy()
    state[1][0] = 10**6
    model._tree.__setstate__(tuple(state))
    _corrupt_and_load(tmp_path, model, lambda m: None)


# -- the trust policy ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("sklearn.tree._tree.Tree", True),
    ("sklearn.neighbors._kd_tree.KDTree", True),
    ("numpy.dtype", True),
    ("scipy.sparse._csr.csr_matrix", True),
    ("collections.OrderedDict", True),
    ("numpy.load", False),
    ("numpy.lib._npyio_impl.savetxt", False),
    ("numpy.ctypeslib.load_library", False),
    ("scipy.io.loadmat", False),
    ("sklearn.datasets.dump_svmlight_file", False),
    ("sklearn.utils._testing.assert_run_python_script_without_output", False),
    ("sklearn.tests.test_base.T", False),
    ("builtins.eval", False),
    ("posix.system", False),
    ("sklearnx.Evil", False),
])
def test_auto_trust_policy(name, expected):
    assert is_auto_trusted(name) is expected


@given(st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,8}(\.[A-Za-z_][A-Za-z0-9_]{0,8}){1,3}", fullmatch=True),
                max_size=5))
@settings(max_examples=40, deadline=None)
def test_names_outside_sklearn_numpy_scipy_are_refused_unless_trusted(names):
    foreign = [n for n in names if n.split(".")[0] not in ("sklearn", "numpy", "scipy")]
    accepted, refused = split_untrusted(foreign, None)
    assert accepted == [] and refused == sorted(set(foreign))
    accepted, refused = split_untrusted(foreign, foreign)
    assert refused == []


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                    max_leaves=10))
@settings(max_examples=100, deadline=None)
def test_params_always_become_strict_json(value):
    json.dumps(_json_safe(value), allow_nan=False)
