"""Issue 16 item 5: trust what a name in a model file resolves to, not how it is spelled."""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import pkgutil
import types
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest

import duckml
from duckml.errors import UntrustedModelError
from duckml.models.format import load_model, save_model
from duckml.models.resolution import TRUSTED_PACKAGES, resolutions
from duckml.models.trust import is_auto_trusted

X = np.random.default_rng(0).normal(size=(40, 3))


def _rewrite_schema(folder, edit) -> None:
    """What an attacker does to a legit model folder: edit schema.json in the zip, then fix the digest."""
    path = folder / "model.skops"
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    schema = json.loads(files["schema.json"])
    edit(schema)
    files["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    meta = json.loads((folder / "duckml_model.json").read_text())
    meta["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "duckml_model.json").write_text(json.dumps(meta))


def _find(node, predicate):
    if isinstance(node, dict):
        if predicate(node):
            return node
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find(child, predicate)
        if found is not None:
            return found
    return None


def _craft_rmtree_model(folder, victim) -> None:
    """FunctionTransformer(partial(scipy._lib._tmpdirs.rmtree, victim)): shutil.rmtree under a scipy name."""
    from sklearn.preprocessing import FunctionTransformer

    legit = FunctionTransformer(functools.partial(np.clip, a_min=0.0), validate=False).fit(X)
    save_model(legit, folder)

    def edit(schema):
        partial = _find(schema, lambda n: n.get("__loader__") == "PartialNode")
        func = partial["content"]["func"]
        func["__module__"], func["__class__"] = "scipy._lib._tmpdirs", "rmtree"
        args = partial["content"]["args"]
        args["content"] = [{"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
                            "content": json.dumps(str(victim)), "is_json": True}]
        partial["content"]["kwds"]["content"] = {}

    _rewrite_schema(folder, edit)


def test_rmtree_named_through_scipy_is_refused_and_the_directory_survives(tmp_path):
    victim = tmp_path / "precious"
    (victim / "sub").mkdir(parents=True)
    (victim / "sub" / "data.txt").write_text("keep me")
    _craft_rmtree_model(tmp_path / "m", victim)

    with pytest.raises(UntrustedModelError, match=r"scipy\._lib\._tmpdirs\.rmtree"):
        load_model(tmp_path / "m")
    assert (victim / "sub" / "data.txt").read_text() == "keep me"


def test_rmtree_model_registered_as_champion_is_refused_by_predict(tmp_path):
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "data.txt").write_text("keep me")
    _craft_rmtree_model(tmp_path / "m", victim)
    with duckml.start_run() as run:
        duckml.log_artifacts(str(tmp_path / "m"), "model")
    duckml.register_model(f"runs:/{run.info.run_id}/model", "sales")
    duckml.set_registered_model_alias("sales", "champion", 1)
    pd.DataFrame(X, columns=["x0", "x1", "x2"]).to_parquet(tmp_path / "new.parquet")

    with pytest.raises(UntrustedModelError, match=r"scipy\._lib\._tmpdirs\.rmtree"):
        duckml.predict("models:/sales@champion", str(tmp_path / "new.parquet"))
    assert (victim / "data.txt").read_text() == "keep me"


def test_explicit_trust_of_the_spelling_still_needs_trust_of_the_real_function(tmp_path):
    victim = tmp_path / "precious"
    victim.mkdir()
    _craft_rmtree_model(tmp_path / "m", victim)
    with pytest.raises(UntrustedModelError, match=r"shutil\.rmtree"):
        load_model(tmp_path / "m", trusted=["scipy._lib._tmpdirs.rmtree"])
    assert victim.is_dir()


@pytest.mark.parametrize("func", [np.log1p, np.exp])
def test_function_parameters_need_explicit_trust(tmp_path, func):
    from sklearn.preprocessing import FunctionTransformer

    save_model(FunctionTransformer(func).fit(np.abs(X)), tmp_path / "m")
    name = f"numpy.{func.__name__}"
    with pytest.raises(UntrustedModelError, match=rf"{name}.*parameter 'func'.*trusted=\['{name}'\]"):
        load_model(tmp_path / "m")
    loaded = load_model(tmp_path / "m", trusted=[name])
    assert np.allclose(loaded.transform(np.abs(X)), func(np.abs(X)))


def test_function_inside_kw_args_or_partial_needs_explicit_trust(tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    model = FunctionTransformer(functools.partial(np.clip, a_min=0.0, a_max=1.0)).fit(X)
    save_model(model, tmp_path / "m")
    with pytest.raises(UntrustedModelError, match="numpy.clip"):
        load_model(tmp_path / "m")


def test_default_and_vouched_score_functions_load(tmp_path):
    from sklearn.feature_selection import SelectKBest, chi2

    for i, model in enumerate([SelectKBest(k=2), SelectKBest(chi2, k=2)]):
        model.fit(np.abs(X), (X[:, 0] > 0).astype(int))
        save_model(model, tmp_path / str(i))
        assert np.array_equal(load_model(tmp_path / str(i)).transform(np.abs(X)), model.transform(np.abs(X)))


@pytest.mark.parametrize("name", [
    "scipy._lib._tmpdirs.rmtree", "scipy._lib._ccallback_c.plus1_cython", "numpy.memmap",
    "sklearn.utils.fixes.parse_version", "scipy._lib._tmpdirs.tempdir", "scipy._lib._tmpdirs",
    "numpy.lib._npyio_impl.load", "sklearn.base.clone",
])
def test_names_resolving_to_functions_modules_or_file_types_are_refused(name):
    assert is_auto_trusted(name) is False


# modules that run a command line, build code or exist for tests: importing them is not looking at them
_SKIPPED_SEGMENTS = {"tests", "testing", "_testing", "conftest", "__main__", "f2py", "distutils",
                     "_pyinstaller", "setup", "_build_utils", "__check_build", "experimental"}


def _module_names(package_name: str):
    """Every module below a package, found by walking folders (walk_packages would import each one)."""
    package = importlib.import_module(package_name)
    yield package_name
    for info in pkgutil.iter_modules(package.__path__, package_name + "."):
        if _SKIPPED_SEGMENTS.intersection(info.name.split(".")):
            continue
        if info.ispkg:
            try:
                yield from _module_names(info.name)
            except BaseException:  # noqa: BLE001 - optional dependencies
                continue
        else:
            yield info.name


def _candidate_names():
    """skops' untrusted names for real models plus every public and private attribute of every
    importable module of scikit-learn, numpy and scipy (the surface an attacker can spell)."""
    names = set()
    for package_name in TRUSTED_PACKAGES:
        for module_name in _module_names(package_name):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    module = importlib.import_module(module_name)
                except BaseException:  # noqa: BLE001 - optional dependencies, removed aliases
                    continue
            names.update(f"{module_name}.{attr}" for attr in dir(module) if attr.isidentifier())
    return names


@pytest.mark.slow
def test_scan_no_auto_trusted_name_resolves_to_a_function_or_module_outside_the_packages():
    """The scan of issue 16: 134 trusted names resolved outside sklearn/numpy/scipy before the fix."""
    bad = []
    for name in sorted(_candidate_names()):
        if not is_auto_trusted(name):
            continue
        for obj in resolutions(name):
            if isinstance(obj, types.ModuleType):
                bad.append((name, "module"))
            elif not isinstance(obj, type):
                module = getattr(obj, "__module__", None) or type(obj).__module__
                is_ufunc = isinstance(obj, np.ufunc) or "ufunc" in type(obj).__name__.lower()
                if not is_ufunc and str(module).split(".")[0] not in TRUSTED_PACKAGES:
                    bad.append((name, f"function from {module}"))
            elif obj.__module__.split(".")[0] not in TRUSTED_PACKAGES:
                bad.append((name, f"class from {obj.__module__}"))
    assert not bad, f"{len(bad)} auto-trusted names resolve outside the trusted packages: {bad[:20]}"


def test_sample_of_reexported_foreign_functions_is_refused():
    """The fast tier of the scan: every name in a handful of modules that re-export stdlib helpers."""
    modules = ["scipy._lib._tmpdirs", "scipy._lib._util", "sklearn.utils.fixes", "numpy.lib._utils_impl",
               "sklearn.utils._show_versions", "scipy._lib._ccallback", "sklearn.utils.validation"]
    for module_name in modules:
        module = importlib.import_module(module_name)
        for attr in dir(module):
            obj = getattr(module, attr)
            if isinstance(obj, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType)) and \
                    str(getattr(obj, "__module__", obj.__name__)).split(".")[0] not in TRUSTED_PACKAGES:
                assert not is_auto_trusted(f"{module_name}.{attr}"), f"{module_name}.{attr}"


def test_column_selectors_by_dtype_still_load(tmp_path):
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3, "c": ["x", "y"] * 10})
    y = np.arange(20) % 2
    model = make_pipeline(ColumnTransformer([
        ("num", StandardScaler(), make_column_selector(dtype_include=np.number)),
        ("cat", OneHotEncoder(), make_column_selector(dtype_include=object))]), LogisticRegression()).fit(frame, y)
    save_model(model, tmp_path / "m")
    assert np.array_equal(load_model(tmp_path / "m").predict(frame), model.predict(frame))


def test_search_cv_with_a_named_scorer_and_splitter_loads(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    y = (X[:, 0] > 0).astype(int)
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, scoring="balanced_accuracy",
                          cv=StratifiedKFold(3)).fit(X, y)
    save_model(search, tmp_path / "m")
    assert np.array_equal(load_model(tmp_path / "m").predict(X), search.predict(X))
