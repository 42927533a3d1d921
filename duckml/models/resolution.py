"""Judge a name found in a model file by what it resolves to, never by how it is spelled.

A skops file names every type and function it needs as ``module.attribute``; loading imports the module
and takes the attribute. A name inside ``scipy`` can therefore be anything ``scipy`` imported:
``scipy._lib._tmpdirs.rmtree`` *is* ``shutil.rmtree``. So a name is auto-trusted only when every way of
reading it (``a.b`` + ``c`` or ``a`` + ``b.c``) reaches an object that

- really lives in scikit-learn, numpy or scipy (its own ``__module__``, not the path used to reach it), and
- is a class of a known data-holding kind (estimator, array, dtype, sparse matrix, tree, kernel, loss,
  distance metric, random generator...), or one of the few pure functions that fitted scikit-learn models
  hold as attributes (``f_classif`` in ``SelectKBest``, ``check_array`` in a gradient-boosting
  preprocessor...), or a numpy/scipy ufunc.

Modules, other functions and every other class are refused. Only modules under scikit-learn, numpy and
scipy are ever imported here, and only after the name passed the spelling checks in ``trust.py`` (no test,
file, config or native-library module is imported to look at it).
"""

from __future__ import annotations

import importlib
import warnings
from functools import lru_cache

TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")

# Classes whose instances only hold data for computation; any subclass (in the trusted packages) qualifies.
_SAFE_BASES = (
    "sklearn.base.BaseEstimator",
    "numpy.ndarray", "numpy.generic", "numpy.dtype",
    "numpy.random.Generator", "numpy.random.BitGenerator", "numpy.random.RandomState",
    "numpy.random.SeedSequence",
    "scipy.sparse._base._spbase",
    "scipy.interpolate._bsplines.BSpline", "scipy.interpolate._interpolate.interp1d",
    "scipy.interpolate._polyint._Interpolator1D", "scipy.interpolate._interpolate.PPoly",
    "sklearn.tree._tree.Tree",
    "sklearn.neighbors._kd_tree.BinaryTree64", "sklearn.neighbors._ball_tree.BinaryTree64",
    "sklearn.neighbors._kd_tree.BinaryTree32", "sklearn.neighbors._ball_tree.BinaryTree32",
    "sklearn.metrics._dist_metrics.DistanceMetric",
    "sklearn.gaussian_process.kernels.Kernel", "sklearn.gaussian_process.kernels.Hyperparameter",
    "sklearn._loss.loss.BaseLoss", "sklearn._loss.link.BaseLink", "sklearn._loss.link.Interval",
    "sklearn.neural_network._stochastic_optimizers.BaseOptimizer",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.cluster._bisect_k_means._BisectingTree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.utils._bunch.Bunch",
    "sklearn.compose._column_transformer.make_column_selector",
    "sklearn.metrics._scorer._BaseScorer",
    "sklearn.model_selection._split.BaseCrossValidator", "sklearn.model_selection._split.BaseShuffleSplit",
    "sklearn.model_selection._split._RepeatedSplits",
)
# ndarray subclasses that map files.
_UNSAFE_CLASSES = ("numpy.memmap", "numpy.recarray")

# Pure functions that fitted scikit-learn estimators keep as attributes or parameter defaults.
_SAFE_FUNCTIONS = (
    "numpy.mean", "numpy.median", "numpy.asarray",
    "scipy._lib.array_api_compat.numpy._aliases.asarray",
    "sklearn.utils.validation.check_array",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.feature_selection._univariate_selection.r_regression",
    "sklearn.feature_selection._univariate_selection.chi2",
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
    "sklearn.feature_selection._mutual_info.mutual_info_regression",
    "sklearn.cluster._kmeans._kmeans_single_lloyd", "sklearn.cluster._kmeans._kmeans_single_elkan",
)


def _lookup(module_name: str, attributes: list[str]):
    """The object at ``module_name`` + ``.attributes``, or None when it does not exist."""
    with warnings.catch_warnings():  # deprecated aliases warn on access; resolving is not using them
        warnings.simplefilter("ignore")
        try:
            obj = importlib.import_module(module_name)
        except Exception:  # noqa: BLE001 - any import failure means "this reading does not resolve"
            return None
        for attribute in attributes:
            try:
                obj = getattr(obj, attribute)
            except Exception:  # noqa: BLE001
                return None
    return obj


def resolutions(name: str) -> list[object]:
    """Every object ``name`` can resolve to, one per split into module and attribute path."""
    parts = name.split(".")
    found = []
    for cut in range(1, len(parts)):
        obj = _lookup(".".join(parts[:cut]), parts[cut:])
        if obj is not None:
            found.append(obj)
    return found


def _resolve_exact(path: str):
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        obj = _lookup(".".join(parts[:cut]), parts[cut:])
        if obj is not None:
            return obj
    return None


@lru_cache(maxsize=1)
def _safe_bases() -> tuple[type, ...]:
    return tuple(obj for obj in map(_resolve_exact, _SAFE_BASES) if isinstance(obj, type))


@lru_cache(maxsize=1)
def _unsafe_classes() -> tuple[type, ...]:
    return tuple(obj for obj in map(_resolve_exact, _UNSAFE_CLASSES) if isinstance(obj, type))


@lru_cache(maxsize=1)
def _safe_function_ids() -> frozenset[int]:
    listed = [obj for obj in map(_resolve_exact, _SAFE_FUNCTIONS) if obj is not None]
    # the metric functions behind scikit-learn's named scorers (what a fitted GridSearchCV's scorer_ holds)
    from sklearn.metrics import get_scorer, get_scorer_names

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scorers = [get_scorer(name) for name in get_scorer_names()]
    listed += [scorer._score_func for scorer in scorers if hasattr(scorer, "_score_func")]
    return frozenset(id(obj) for obj in listed)


def real_name(obj: object) -> str:
    """``module.qualname`` of an object as it declares itself (not the path used to reach it)."""
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str):
        module = type(obj).__module__
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__qualname__
    return f"{module}.{qualname}"


def _lives_in_trusted_package(obj: object) -> bool:
    module = getattr(obj, "__module__", None)
    return isinstance(module, str) and module.split(".")[0] in TRUSTED_PACKAGES


def is_ufunc(obj: object) -> bool:
    """numpy ufuncs and scipy's ufunc wrappers: element-wise arithmetic, nothing else."""
    import numpy as np

    if isinstance(obj, np.ufunc):
        return True
    cls = type(obj)
    return cls.__module__.startswith("scipy.special") and "ufunc" in cls.__name__.lower()


def is_safe_function(obj: object) -> bool:
    """One of the pure functions fitted scikit-learn models hold (compared by identity, not by name)."""
    return id(obj) in _safe_function_ids()


def is_safe_object(obj: object) -> bool:
    """Whether a resolved object may be named by a model file without the caller's explicit trust."""
    if isinstance(obj, type):
        if not _lives_in_trusted_package(obj) or issubclass(obj, _unsafe_classes()):
            return False
        return issubclass(obj, _safe_bases())
    return is_safe_function(obj) or is_ufunc(obj)


def resolves_safely(name: str) -> bool:
    """True when ``name`` resolves to something and every reading of it is a safe object.

    >>> resolves_safely("sklearn.tree._tree.Tree"), resolves_safely("scipy._lib._tmpdirs.rmtree")
    (True, False)
    """
    found = resolutions(name)
    return bool(found) and all(is_safe_object(obj) for obj in found)
