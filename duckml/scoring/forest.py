"""Tree models scored faster than scikit-learn's own loop, with exactly its predictions.

scikit-learn walks a tree one row at a time and takes a branch at every node; on real inputs the CPU
mispredicts about half of those branches, and that is most of a forest's scoring time (~44 ns per row and
tree at depth 6, 2 GHz). Here the child is picked by index, ``children[2 * node + (x > threshold)]``, so there
is no branch to mispredict, and eight rows walk side by side so that their memory loads overlap. The walk
is compiled by numba (LLVM, shipped in its wheel: no C compiler on the machine). Measured on one core: 2.4x
scikit-learn at depth 6, 2x for fully grown trees (``benchmarks/bench_predict.py``, docs/predict.md).

The result is scikit-learn's, bit for bit, because everything but the walk is done as scikit-learn does it:
- the input is cast to float32 as ``check_array`` casts it, and compared with the float64 thresholds;
- a forest adds its trees' leaf values (or class fractions) in tree order into float64 zeros and divides by
  the number of trees; a classifier's label is ``classes_.take(argmax)``;
- any input the walk would not treat exactly as scikit-learn (NaN or infinity, which scikit-learn routes by
  ``missing_go_to_left`` or refuses; integers beyond 2**24, which float32 rounds; strings; sparse matrices;
  a column count that does not fit) is handed to scikit-learn itself, which scores it or raises its error.
Only the exact estimator classes below qualify (a subclass may predict otherwise), alone or as the last
step of a Pipeline (whose other steps transform as ``Pipeline.predict`` would).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

# below this many (row, tree) pairs scikit-learn's own loop is used: a tiny call should not pay numba's
# import and first compile (~0.5 s once per process; later processes load it from numba's cache)
MIN_WORK = 20_000
TREES_PER_PASS = 32  # leaf indices are kept for this many trees at a time: (32 x rows) int32
_EXACT_INT = 2**24  # every integer up to this magnitude is exact in float32
_LANES = 8

_KERNEL: dict[str, Any] = {}
_KERNEL_LOCK = threading.Lock()


_SUPPORTED_NAMES = {"RandomForestRegressor", "RandomForestClassifier", "ExtraTreesRegressor", "ExtraTreesClassifier",
                    "DecisionTreeRegressor", "DecisionTreeClassifier", "ExtraTreeRegressor", "ExtraTreeClassifier"}


def _supported(model: Any) -> bool:
    """The exact estimator classes of the module's docstring (by name first: other models import nothing)."""
    return type(model).__name__ in _SUPPORTED_NAMES and type(model) in _supported_classes()


def _supported_classes() -> tuple[type, ...]:
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor

    return (RandomForestRegressor, RandomForestClassifier, ExtraTreesRegressor, ExtraTreesClassifier,
            DecisionTreeRegressor, DecisionTreeClassifier, ExtraTreeRegressor, ExtraTreeClassifier)


def enabled() -> bool:
    """False when ``DUCKML_FAST_TREES=0`` (scikit-learn scores every tree model) or numba is missing."""
    if os.environ.get("DUCKML_FAST_TREES", "1").strip() in ("0", "false", "no", "off"):
        return False
    return _kernel() is not None


def fast_trees(model: Any) -> FastTrees | None:
    """A FastTrees for a tree model (or a Pipeline ending in one), None for any other model.

    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from sklearn.linear_model import LinearRegression
    >>> forest = RandomForestRegressor(n_estimators=3, random_state=0).fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
    >>> fast_trees(forest).trees, fast_trees(LinearRegression()) is None
    (3, True)
    """
    head, final = None, model
    steps = getattr(model, "steps", None)
    if steps is not None and type(model).__name__ == "Pipeline" and type(model).__module__.startswith("sklearn"):
        head, final = (model[:-1] if len(steps) > 1 else None), steps[-1][1]
    if not _supported(final) or getattr(final, "n_outputs_", None) != 1:
        return None
    return FastTrees(head, final)


class FastTrees:
    """A fitted tree model's ``predict`` / ``predict_proba`` on the fast walk.

    :meth:`score` returns None for an input the walk does not take (see the module's docstring); the
    caller then asks scikit-learn. The node tables are built on the first scoring call, once.
    """

    def __init__(self, head: Any, final: Any):
        self.head = head
        self.final = final
        self.forest = hasattr(final, "estimators_")
        self.trees = len(final.estimators_) if self.forest else 1
        self.classifier = hasattr(final, "classes_")
        self._tables: tuple | None = None
        self._lock = threading.Lock()

    def score(self, X: Any, proba: bool) -> np.ndarray | None:
        """``predict(X)`` (or ``predict_proba``) as scikit-learn returns it, or None: let scikit-learn do it.

        >>> from sklearn.ensemble import RandomForestClassifier
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(5000, 3))
        >>> forest = RandomForestClassifier(n_estimators=8, random_state=0).fit(X, X[:, 0] > 0)
        >>> fast = FastTrees(None, forest)
        >>> bool((fast.score(X, proba=True) == forest.predict_proba(X)).all()) if enabled() else True
        True
        """
        if proba and not self.classifier:
            return None
        rows = getattr(X, "shape", (0,))[0]
        if rows * self.trees < MIN_WORK or not enabled():
            return None
        if self.head is not None:
            X = self.head.transform(X)
            fallback = self.final.predict_proba if proba else self.final.predict
        else:
            fallback = None
        matrix = _float32_matrix(X, self.final.n_features_in_)
        if matrix is None:
            return fallback(X) if fallback is not None else None  # the transform is not done twice
        summed = self._accumulate(matrix)
        if proba:
            return summed
        if self.classifier:
            return self.final.classes_.take(np.argmax(summed, axis=1), axis=0)
        return summed

    def _accumulate(self, matrix: np.ndarray) -> np.ndarray:
        feature, threshold, children, roots, depths, values = self.tables()
        rows = matrix.shape[0]
        if not self.forest:  # one tree: its leaf's value itself, as DecisionTree*.predict returns it
            leaves = np.empty((1, rows), dtype=np.int32)
            _kernel()["walk"](matrix, feature, threshold, children, roots, depths, leaves)
            return values[leaves[0]]
        table = values.reshape(len(values), -1)  # a regressor's values as one column
        out = np.zeros((rows, table.shape[1]), dtype=np.float64)
        leaves = np.empty((min(TREES_PER_PASS, self.trees), rows), dtype=np.int32)
        for start in range(0, self.trees, TREES_PER_PASS):
            count = min(TREES_PER_PASS, self.trees - start)
            _kernel()["walk"](matrix, feature, threshold, children, roots[start:start + count],
                              depths[start:start + count], leaves)
            _kernel()["add"](leaves, count, table, out)
        out /= self.trees
        return out if values.ndim > 1 else out[:, 0]

    def tables(self) -> tuple:
        """(feature, threshold, children, roots, depths, values) of every tree, node ids global."""
        with self._lock:
            if self._tables is None:
                self._tables = _node_tables(self.final.estimators_ if self.forest else [self.final],
                                            self.classifier)
            return self._tables


def _node_tables(estimators: list, classifier: bool) -> tuple:
    features, thresholds, children, values, roots, depths = [], [], [], [], [], []
    offset = 0
    for estimator in estimators:
        tree = estimator.tree_
        count = tree.node_count
        leaf = tree.children_left == -1
        own = np.arange(count)
        pairs = np.empty(2 * count, dtype=np.int64)
        # a leaf's children are itself, behind a threshold no finite input passes: a walk may overrun a leaf
        pairs[0::2] = np.where(leaf, own, tree.children_left) + offset
        pairs[1::2] = np.where(leaf, own, tree.children_right) + offset
        features.append(np.where(leaf, 0, tree.feature))
        thresholds.append(np.where(leaf, np.inf, tree.threshold))
        children.append(pairs)
        if classifier:
            values.append(tree.value[:, 0, :estimator.n_classes_])
        else:
            values.append(tree.value[:, 0, 0])
        roots.append(offset)
        depths.append(tree.max_depth)
        offset += count
    if offset >= 2**31 // 2:
        raise ValueError(f"a tree model of {offset:,} nodes is too large for the fast walk")
    return (np.concatenate(features).astype(np.int32), np.concatenate(thresholds).astype(np.float64),
            np.concatenate(children).astype(np.int32), np.asarray(roots, dtype=np.int32),
            np.asarray(depths, dtype=np.int32), np.ascontiguousarray(np.concatenate(values), dtype=np.float64))


def _float32_matrix(X: Any, features: int) -> np.ndarray | None:
    """X as C-ordered float32 when that cast is the one scikit-learn makes and every value is finite."""
    if getattr(X, "dtypes", None) is not None:  # a DataFrame: column by column
        columns = [X.iloc[:, i].to_numpy() for i in range(X.shape[1])]
    elif isinstance(X, np.ndarray) and X.ndim == 2:
        columns = [X]
    else:
        return None
    if X.shape[1] != features or not all(_casts_exactly(values) for values in columns):
        return None
    matrix = np.empty((X.shape[0], features), dtype=np.float32)
    with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf, refused below
        if len(columns) == 1 and columns[0].ndim == 2:
            matrix[:] = columns[0]
        else:
            for i, values in enumerate(columns):
                matrix[:, i] = values
    return matrix if np.isfinite(matrix).all() else None


def _casts_exactly(values: np.ndarray) -> bool:
    """Numbers whose float32 cast cannot depend on the route taken (not text, nor pd.NA in an object column)."""
    kind = values.dtype.kind
    if kind in "iu":  # every integer up to 2**24 is exact in float32
        return not values.size or (values.min() >= -_EXACT_INT and values.max() <= _EXACT_INT)
    return kind in "fb"


def _kernel() -> dict[str, Any] | None:
    """The compiled walk and leaf sum ({"walk": …, "add": …}), or None when numba is not installed."""
    if "walk" in _KERNEL:
        return _KERNEL
    if _KERNEL.get("missing"):
        return None
    with _KERNEL_LOCK:
        if "walk" not in _KERNEL and not _KERNEL.get("missing"):
            try:
                import numba
            except ImportError:
                _KERNEL["missing"] = True
                return None
            _KERNEL["add"] = numba.njit(nogil=True, cache=True)(_add_leaves)
            _KERNEL["walk"] = numba.njit(nogil=True, cache=True)(_walk)
    return _KERNEL


def _walk(X, feature, threshold, children, roots, depths, leaves):  # pragma: no cover - compiled by numba
    """leaves[t, i] = the leaf row i reaches in tree t. Eight rows walk together (their loads overlap);
    a group stops when none of its rows moved, since a leaf's children are itself."""
    rows = X.shape[0]
    lanes = np.empty(_LANES, dtype=np.int32)
    for t in range(roots.shape[0]):
        root = roots[t]
        for start in range(0, rows, _LANES):
            width = min(_LANES, rows - start)
            for k in range(width):
                lanes[k] = root
            for _ in range(depths[t]):
                moved = 0
                for k in range(width):
                    node = lanes[k]
                    child = children[2 * node + (X[start + k, feature[node]] > threshold[node])]
                    moved |= child != node
                    lanes[k] = child
                if moved == 0:
                    break
            for k in range(width):
                leaves[t, start + k] = lanes[k]


def _add_leaves(leaves, count, values, out):  # pragma: no cover - compiled by numba
    """out[i] += values[leaves[t, i]] for t = 0 .. count-1: each row's sum in tree order, as scikit-learn's
    forests add their trees' predictions one tree at a time (the same float64 additions, the same result)."""
    for t in range(count):  # tree by tree: every row still gets its trees in order
        for i in range(out.shape[0]):
            leaf = leaves[t, i]
            for c in range(out.shape[1]):
                out[i, c] += values[leaf, c]
