"""Which types a stored model may contain, and structural checks on the ones skops cannot vouch for.

skops refuses every type it does not know, including scikit-learn's own tree storage: a fitted
RandomForest does not load without options. duckml trusts the types of scikit-learn, numpy and scipy
(everything a fitted estimator or pipeline is made of), except the parts of those libraries that read or
write files, load native code, or exist for testing. A trusted *type* is not yet a safe *object*: a
``sklearn.tree._tree.Tree`` whose node indices point outside its arrays makes ``predict`` read out of
bounds (skops' reason for distrusting it), so :func:`check_loaded_model` checks every tree, hist-gradient
boosting predictor, KD/Ball tree and sparse matrix of a loaded model before anyone can call it.

Nothing here imports a module named in a file: the decision is made on the names alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from duckml.errors import UntrustedModelError

_TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")

# Plain data types skops does not trust by default but which hold no behaviour.
_TRUSTED_EXACT = frozenset({
    "builtins.slice", "builtins.complex", "builtins.frozenset", "builtins.bytes", "builtins.bytearray",
    "builtins.range", "builtins.NoneType", "collections.OrderedDict", "collections.defaultdict",
    "collections.deque", "collections.Counter",
    # skops audits the wrapped function and arguments of a partial on their own
    "functools.partial",
})

# Parts of the trusted packages that touch files, the network, native libraries or global config, or
# run code for tests: a fitted model never needs them, and a hostile file could point a
# FunctionTransformer or a metric at them.
_DENIED_PREFIXES = (
    "numpy.testing", "numpy.f2py", "numpy.distutils", "numpy.ctypeslib", "numpy.lib.npyio",
    "numpy.lib._npyio_impl", "numpy.lib.format", "numpy.lib._format_impl", "numpy.lib._datasource",
    "numpy.lib.utils", "numpy.lib._utils_impl", "numpy._pytesttester", "numpy.__config__", "numpy._core.records",
    "numpy.rec", "numpy.DataSource", "numpy.memmap", "numpy._core.memmap",
    "scipy.io", "scipy.datasets", "scipy.misc", "scipy._lib._testutils", "scipy._lib._ccallback",
    "scipy.LowLevelCallable", "scipy.__config__", "scipy.weave",
    "sklearn.datasets", "sklearn.utils._testing", "sklearn.utils.estimator_checks", "sklearn.utils._show_versions",
    "sklearn.show_versions", "sklearn.tree._export", "sklearn.tree.export_graphviz", "sklearn.externals",
    "sklearn._build_utils", "sklearn.__check_build", "sklearn._config", "sklearn.set_config",
    "sklearn.config_context", "sklearn.utils._mocking", "sklearn.utils.discovery", "sklearn.utils.parallel",
    "sklearn.utils._joblib", "sklearn.experimental",
)
# Names refused wherever they live (numpy.load is really numpy.lib._npyio_impl.load, etc.).
_DENIED_NAMES = frozenset({
    "load", "loads", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromfile",
    "tofile", "fromregex", "open", "dump", "dumps", "load_npz", "save_npz", "load_library", "loadmat",
    "savemat", "mmread", "mmwrite", "urlopen", "show_config", "show_runtime", "info", "source", "lookfor",
    "test", "system", "exec", "eval", "compile", "__import__", "getattr", "setattr", "__reduce__",
})
_DENIED_SEGMENTS = frozenset({"tests", "testing", "conftest", "_testing"})


def is_auto_trusted(type_name: str) -> bool:
    """Whether duckml trusts a type or function name found in a skops file without being told.

    >>> is_auto_trusted("sklearn.tree._tree.Tree"), is_auto_trusted("numpy.load"), is_auto_trusted("posix.system")
    (True, False, False)
    """
    if type_name in _TRUSTED_EXACT:
        return True
    parts = type_name.split(".")
    if len(parts) < 2 or parts[0] not in _TRUSTED_PACKAGES or not all(p.isidentifier() for p in parts):
        return False
    if any(type_name == p or type_name.startswith(p + ".") for p in _DENIED_PREFIXES):
        return False
    return not (_DENIED_NAMES.intersection(parts) or _DENIED_SEGMENTS.intersection(parts))


def split_untrusted(names: Iterable[str], trusted: Iterable[str] | None) -> tuple[list[str], list[str]]:
    """Split the untrusted names skops reports into (accepted, refused), given the caller's extra trust."""
    extra = set(trusted or ())
    accepted, refused = [], []
    for name in sorted(set(names)):
        (accepted if name in extra or is_auto_trusted(name) else refused).append(name)
    return accepted, refused


# -- structural checks after loading -------------------------------------------------------------------
class _Context:
    """What the nearest enclosing estimator says about its input, for the nodes below it."""

    __slots__ = ("n_features", "categorical")

    def __init__(self, n_features=None, categorical=None):
        self.n_features = n_features
        self.categorical = categorical


def check_loaded_model(model, *, source: str) -> None:
    """Walk a freshly loaded object graph and refuse index-carrying objects that do not hold together.

    Raises UntrustedModelError naming ``source`` and the object; never calls a model method.
    """
    import numpy as np

    stack = [(model, _Context())]
    seen: set[int] = set()
    while stack:
        obj, ctx = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend((item, ctx) for item in obj.ravel().tolist())
            continue
        if isinstance(obj, dict):
            stack.extend((v, ctx) for v in obj.values())
            continue
        if isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend((v, ctx) for v in obj)
            continue
        _check_one(obj, ctx, source)
        attrs = getattr(obj, "__dict__", None)
        if attrs:
            ctx = _context_of(obj)
            stack.extend((v, ctx) for v in attrs.values())


def _context_of(obj) -> _Context:
    """An object's own ``n_features_in_``, never its parent's: sklearn checks X against the attribute of
    the estimator that owns the tree, so a tree under an owner without it could be fed any width."""
    import numpy as np

    n_features = obj.__dict__.get("n_features_in_")
    if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)):
        return _Context(None, None)
    mapper = obj.__dict__.get("_bin_mapper")
    return _Context(int(n_features), getattr(mapper, "is_categorical_", None))


def _refuse(source: str, what: str) -> None:
    raise UntrustedModelError(f"model file {source} holds {what}; the file was crafted or damaged, and "
                              "loading it could crash the process or read foreign memory. It was not loaded")


def _check_one(obj, ctx: _Context, source: str) -> None:
    cls = type(obj)
    qualname = f"{cls.__module__}.{cls.__qualname__}"
    if qualname == "sklearn.tree._tree.Tree":
        _check_tree(obj, ctx, source)
    elif qualname == "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor":
        _check_tree_predictor(obj, ctx, source)
    elif qualname in ("sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree",
                      "sklearn.neighbors._kd_tree.KDTree64", "sklearn.neighbors._ball_tree.BallTree64",
                      "sklearn.neighbors._kd_tree.KDTree32", "sklearn.neighbors._ball_tree.BallTree32"):
        _check_binary_tree(obj, source)
    elif cls.__module__.startswith("scipy.sparse") and hasattr(obj, "check_format"):
        try:
            obj.check_format(full_check=True)
        except (ValueError, TypeError, IndexError) as e:
            _refuse(source, f"a sparse matrix with inconsistent indices ({e})")


def _children_ok(left, right, is_leaf, n: int) -> bool:
    """Every inner node's children come after it (so walks end) and inside the array."""
    import numpy as np

    index = np.arange(n)
    inner = ~is_leaf
    return bool(np.all((left[inner] > index[inner]) & (left[inner] < n)
                       & (right[inner] > index[inner]) & (right[inner] < n)))


def _check_tree(tree, ctx: _Context, source: str) -> None:
    import numpy as np

    n = int(tree.node_count)
    left, right, feature = (np.asarray(a) for a in (tree.children_left, tree.children_right, tree.feature))
    if ctx.n_features is None or tree.n_features != ctx.n_features:
        _refuse(source, f"a decision tree for {tree.n_features} features inside an estimator declaring "
                        f"n_features_in_={ctx.n_features}")
    if not (left.shape == right.shape == feature.shape == (n,)):
        _refuse(source, f"a decision tree whose node arrays do not have node_count={n} entries")
    is_leaf = left == -1
    if not np.array_equal(is_leaf, right == -1) or not _children_ok(left, right, is_leaf, n):
        _refuse(source, "a decision tree whose child indices point outside the tree or backwards")
    inner_features = feature[~is_leaf]
    if inner_features.size and (inner_features.min() < 0 or inner_features.max() >= tree.n_features):
        _refuse(source, f"a decision tree splitting on a feature outside 0..{tree.n_features - 1}")
    if np.asarray(tree.value).shape[0] != n:
        _refuse(source, "a decision tree whose value array does not match its node count")


def _check_tree_predictor(predictor, ctx: _Context, source: str) -> None:
    import numpy as np

    nodes = predictor.nodes
    n = len(nodes)
    if n == 0 or ctx.n_features is None:
        _refuse(source, "a gradient-boosting tree with no nodes or outside an estimator declaring n_features_in_")
    is_leaf = nodes["is_leaf"].astype(bool)
    left, right = nodes["left"].astype(np.int64), nodes["right"].astype(np.int64)
    if not _children_ok(left, right, is_leaf, n):
        _refuse(source, "a gradient-boosting tree whose child indices point outside the tree or backwards")
    inner = nodes[~is_leaf]
    features = inner["feature_idx"].astype(np.int64)
    if features.size and (features.min() < 0 or features.max() >= ctx.n_features):
        _refuse(source, f"a gradient-boosting tree splitting on a feature outside 0..{ctx.n_features - 1}")
    cat = inner[inner["is_categorical"].astype(bool)]
    if cat.size:
        mask = ctx.categorical
        bitsets = [np.asarray(predictor.raw_left_cat_bitsets), np.asarray(predictor.binned_left_cat_bitsets)]
        ok = mask is not None and np.asarray(mask).shape == (ctx.n_features,)
        ok = ok and bool(np.all(np.asarray(mask)[cat["feature_idx"].astype(np.int64)]))
        ok = ok and all(b.ndim == 2 and b.shape[1] == 8 and cat["bitset_idx"].max() < b.shape[0] for b in bitsets)
        if not ok:
            _refuse(source, "a gradient-boosting tree with categorical splits that do not match its bitsets")


def _check_binary_tree(tree, source: str) -> None:
    import numpy as np

    state = tree.__getstate__()
    data, idx_array, node_data, node_bounds, n_nodes, metric, weights = (
        np.asarray(state[0]), np.asarray(state[1]), np.asarray(state[2]), np.asarray(state[3]),
        int(state[6]), state[11], state[12])
    if data.ndim != 2:
        _refuse(source, "a neighbors tree whose data is not a matrix")
    n, d = data.shape
    shape_ok = (idx_array.shape == (n,) and node_data.shape == (n_nodes,) and n_nodes >= 1
                and node_bounds.ndim == 3 and node_bounds.shape[1:] == (n_nodes, d)
                and (weights is None or np.asarray(weights).shape == (n,)))
    if not shape_ok:
        _refuse(source, "a neighbors tree whose arrays disagree in size")
    if idx_array.size and (idx_array.min() < 0 or idx_array.max() >= n):
        _refuse(source, "a neighbors tree whose index array points outside its data")
    start, end = node_data["idx_start"], node_data["idx_end"]
    inner = np.flatnonzero(node_data["is_leaf"] == 0)
    if np.any(start < 0) or np.any(end > n) or np.any(start > end) or np.any(2 * inner + 2 >= n_nodes):
        _refuse(source, "a neighbors tree whose nodes point outside its data or node array")
    mat = np.asarray(metric.__getstate__()[2]) if hasattr(metric, "__getstate__") else None
    if type(metric).__name__.startswith("MahalanobisDistance") and (mat is None or mat.shape != (d, d)):
        _refuse(source, f"a Mahalanobis metric whose matrix is not {d}x{d}")
