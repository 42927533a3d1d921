"""Decision trees, random forests / extra trees and gradient boosting as nested SQL CASE expressions.

Exactness rules (measured, see DUCKDB_FACTS "Compiling scikit-learn models to SQL"):
- scikit-learn casts X to float32 and tests ``x32 <= threshold``; each test is written as ``x <= c`` on the
  double with ``c`` = :func:`emit.float32_cut` (the same rows go left, with no CAST per test).
- A missing value (NULL) goes where the tree's ``missing_go_to_left`` says (trees and forests); a model
  that refuses NaN (gradient boosting) gives NULL.
- Sums follow scikit-learn's order: a forest adds tree by tree from zero and divides by the tree count,
  boosting (which refuses NaN) adds ``learning_rate * leaf`` (one product, precomputed here as numpy computes it) to the
  initial raw score, stage by stage.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from duckml.compiler.core import Feature, as_null_all, refuse
from duckml.compiler.emit import array, element, float32_cut, number, ordered_sum
from duckml.compiler.linear import argmax_index, softmax, stable_sigmoid


def tree_case(tree: Any, features: list[Feature], leaf: Callable[[int], str], missing: bool,
              where: str, model: Any) -> str:
    """One fitted ``tree_`` as a CASE expression; ``leaf(node)`` gives each leaf's SQL."""
    features = as_null_all(features)
    left, right = tree.children_left, tree.children_right
    feature, threshold = tree.feature, tree.threshold
    go_left = getattr(tree, "missing_go_to_left", None)

    def node(i: int) -> str:
        if left[i] == -1:
            return leaf(i)
        f = features[int(feature[i])]
        if f.kind != "num":
            raise refuse(model, where, f"it splits on text feature {int(feature[i])}; encode it first")
        test = f"{f.sql} <= {number(float32_cut(threshold[i]))}"
        if missing and f.nullable and go_left is not None and go_left[i]:
            test = f"({test} OR {f.sql} IS NULL)"
        return f"(CASE WHEN {test} THEN {node(int(left[i]))} ELSE {node(int(right[i]))} END)"

    return node(0)


def _single_output(model, tree, where: str) -> None:
    if tree.n_outputs != 1:
        raise refuse(model, where, "it predicts several targets; one prediction column holds one")


def _allows_nan(model) -> bool:
    try:
        return bool(model.__sklearn_tags__().input_tags.allow_nan)
    except AttributeError:
        return False


def null_if_missing(sql: str, features: list[Feature]) -> str:
    """NULL when any nullable feature is NULL (used by the trees or not): scikit-learn refuses such a row
    for a model that refuses NaN, and SQL gives NULL."""
    nullable = [f.sql for f in as_null_all(features) if f.nullable]
    if not nullable:
        return sql
    return f"(CASE WHEN {' OR '.join(f'{s} IS NULL' for s in nullable)} THEN NULL ELSE {sql} END)"


def _class_probabilities(tree, n_classes: int) -> np.ndarray:
    """Leaf class probabilities exactly as DecisionTreeClassifier.predict_proba computes them."""
    values = np.array(tree.value[:, 0, :n_classes], dtype=np.float64)
    normalizer = values.sum(axis=1)
    normalizer[normalizer == 0.0] = 1.0
    return values / normalizer[:, None]


# -- single trees ------------------------------------------------------------------------------------
def tree_regressor(model: Any, features: list[Feature], where: str) -> str:
    tree = model.tree_
    _single_output(model, tree, where)
    missing = _allows_nan(model)
    sql = tree_case(tree, features, lambda i: number(tree.value[i, 0, 0]), missing, where, model)
    return sql if missing else null_if_missing(sql, features)


def tree_classifier(model: Any, features: list[Feature], where: str) -> tuple[list[str], str]:
    """(probability per class, 0-based predicted class index)."""
    tree = model.tree_
    _single_output(model, tree, where)
    n_classes = len(model.classes_)
    missing = _allows_nan(model)
    proba = _class_probabilities(tree, n_classes)
    # predict takes the argmax of the raw leaf values (before normalising), first maximum on ties
    winners = np.argmax(tree.value[:, 0, :n_classes], axis=1)
    index = tree_case(tree, features, lambda i: str(int(winners[i])), missing, where, model)
    probas = [tree_case(tree, features, lambda i, k=k: number(proba[i, k]), missing, where, model)
              for k in range(n_classes)]
    if not missing:
        index = null_if_missing(index, features)
        probas = [null_if_missing(p, features) for p in probas]
    return probas, index


# -- forests -----------------------------------------------------------------------------------------
def forest_regressor(model: Any, features: list[Feature], where: str) -> str:
    trees = [e.tree_ for e in model.estimators_]
    for t in trees:
        _single_output(model, t, where)
    missing = _allows_nan(model.estimators_[0])
    cases = [tree_case(t, features, lambda i, t=t: number(t.value[i, 0, 0]), missing, where, model) for t in trees]
    sql = f"({ordered_sum(cases)} / {number(float(len(trees)))})"
    return sql if missing else null_if_missing(sql, features)


def forest_classifier(model: Any, features: list[Feature], where: str) -> tuple[list[str], str]:
    n_classes = len(model.classes_)
    trees = [e.tree_ for e in model.estimators_]
    for t in trees:
        _single_output(model, t, where)
    missing = _allows_nan(model.estimators_[0])
    # Each tree is written once, as its leaf's position; every class looks its probability up in a list,
    # so a K-class forest costs one traversal per tree, not K.
    positions = []
    lookups: list[list[str]] = [[] for _ in range(n_classes)]
    for t in trees:
        leaves = [i for i in range(t.node_count) if t.children_left[i] == -1]
        ordinal = {node: n + 1 for n, node in enumerate(leaves)}
        proba = _class_probabilities(t, n_classes)
        positions.append(tree_case(t, features, lambda i, o=ordinal: str(o[i]), missing, where, model))
        for k in range(n_classes):
            lookups[k].append(array([number(proba[i, k]) for i in leaves]))
    count = number(float(len(trees)))
    probas = [f"({ordered_sum([element(lookups[k][j], positions[j]) for j in range(len(trees))])} / {count})"
              for k in range(n_classes)]
    if not missing:
        probas = [null_if_missing(p, features) for p in probas]
    return probas, argmax_index(probas)


# -- gradient boosting -------------------------------------------------------------------------------
def _initial_raw(model: Any, where: str) -> np.ndarray:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    init = model.init_
    if isinstance(init, str) and init == "zero":
        return np.zeros(model.n_trees_per_iteration_)
    if type(init) not in (DummyRegressor, DummyClassifier):
        raise refuse(model, where, f"its init estimator {type(init).__name__} is not a constant")
    # a constant model: its raw score for any row is the raw score for a row of zeros
    return np.asarray(model._raw_predict_init(np.zeros((1, model.n_features_in_), dtype=np.float32)))[0]


def _boosted_scores(model: Any, features: list[Feature], where: str) -> list[str]:
    initial = _initial_raw(model, where)
    rate = float(model.learning_rate)
    scores = []
    for k in range(model.estimators_.shape[1]):
        terms = [number(initial[k])]
        for stage in range(model.estimators_.shape[0]):
            t = model.estimators_[stage, k].tree_
            terms.append(tree_case(t, features, lambda i, t=t: number(rate * float(t.value[i, 0, 0])),
                                   False, where, model))
        scores.append(ordered_sum(terms))
    if not _allows_nan(model):  # GradientBoosting refuses NaN in predict (its trees would send it right)
        scores = [null_if_missing(s, features) for s in scores]
    return scores


def boosting_regressor(model: Any, features: list[Feature], where: str) -> str:
    return _boosted_scores(model, features, where)[0]


def boosting_classifier(model: Any, features: list[Feature], where: str) -> tuple[list[str], str]:
    scores = _boosted_scores(model, features, where)
    if len(scores) == 1:
        p1 = stable_sigmoid(scores[0])
        return [f"(1.0e0 - {p1})", p1], f"(CASE WHEN {scores[0]} >= 0.0e0 THEN 1 WHEN {scores[0]} < 0.0e0 THEN 0 END)"
    return softmax(scores), argmax_index(scores)


def node_count(model: Any) -> int:
    """Total tree nodes of a tree model (what SQL's cost follows); 0 for anything else."""
    if hasattr(model, "tree_"):
        return int(model.tree_.node_count)
    estimators = getattr(model, "estimators_", None)
    if estimators is None:
        return 0
    return int(sum(e.tree_.node_count for e in np.ravel(estimators) if hasattr(e, "tree_")))
