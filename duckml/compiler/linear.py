"""Linear models as SQL: regression (LinearRegression, Ridge, Lasso, ElasticNet and their CV forms) and
LogisticRegression (binary and multinomial; probabilities, and labels in their own type)."""

from __future__ import annotations

from typing import Any

import numpy as np

from duckml.compiler.core import Feature, refuse
from duckml.compiler.emit import balanced_sum, current, inner_product, number, positive_index


def decision(coef: np.ndarray, intercept: float, features: list[Feature]) -> str:
    """``X @ coef + intercept`` for one row of coefficients.

    A zero coefficient is skipped only where its feature can never be NULL, so a NULL input still gives a
    NULL score (scikit-learn refuses NaN in a linear model). The one-hot columns of one encoded feature are
    weighed by one CASE (x·c is c or 0 for x in {0, 1}; only the order of additions differs, by ulps)."""
    terms = []
    groups: dict[str, list[str]] = {}
    products: list[tuple[Feature, float]] = []
    for c, f in zip(coef, features):
        if c == 0.0 and not f.nullable:
            continue
        if f.onehot is not None:
            compared, literal = f.onehot
            if compared not in groups:
                groups[compared] = []
                terms.append(compared)  # a placeholder keeping the group's place among the terms
            test = f"{compared} IS NULL" if literal is None else f"{compared} = {literal}"
            groups[compared].append(f"WHEN {test} THEN {number(c)}")
            continue
        products.append((f, c))
    terms = [f"(CASE {' '.join(groups[t])} ELSE 0.0e0 END)" if t in groups else t for t in terms]
    if products:
        terms.insert(0, _dot(products))
    return f"({balanced_sum(terms)} + {number(intercept)})" if terms else number(intercept)


def _dot(products: list[tuple[Feature, float]]) -> str:
    """The sum of feature × coefficient. In DuckDB several at once are one ``list_inner_product`` (NaN and inf
    pass as in numpy): 2M rows of a 20-feature model score in about half the time of the chain of ``*`` and
    ``+`` (bench_compile). It refuses a NULL element, so a row with a NULL feature gets NULL before it."""
    if len(products) == 1:
        f, c = products[0]
        return f"({f.sql} * {number(c)})"
    dot = inner_product([f.sql for f, _ in products], [number(c) for _, c in products])
    nullable = [f.sql for f, _ in products if f.nullable]
    if not nullable or current().inner_product_keeps_null:
        return dot
    return f"(CASE WHEN {' OR '.join(f'{sql} IS NULL' for sql in nullable)} THEN NULL ELSE {dot} END)"


def _check_numeric(model, features: list[Feature], where: str) -> None:
    if any(f.kind != "num" for f in features):
        raise refuse(model, where, "it receives text features; encode them first (OneHotEncoder)")
    if model.coef_.shape[-1] != len(features):
        raise refuse(model, where, f"it has {model.coef_.shape[-1]} coefficients for {len(features)} features")


def regression(model: Any, features: list[Feature], where: str) -> str:
    _check_numeric(model, features, where)
    coef = np.asarray(model.coef_, dtype=np.float64)
    if coef.ndim == 2 and coef.shape[0] != 1:
        raise refuse(model, where, "it predicts several targets; one prediction column holds one")
    intercept = np.ravel(model.intercept_)
    return decision(coef.ravel(), float(intercept[0]) if intercept.size else 0.0, features)


def stable_sigmoid(z: str) -> str:
    """1 / (1 + exp(-z)) that never overflows in ``exp``: for z < 0, exp(z) / (1 + exp(z))."""
    return (f"(CASE WHEN {z} >= 0.0e0 THEN 1.0e0 / (1.0e0 + exp(-({z}))) "
            f"ELSE exp({z}) / (1.0e0 + exp({z})) END)")


def softmax(scores: list[str]) -> list[str]:
    """exp(s_k - max) / sum_j exp(s_j - max), as scikit-learn's softmax computes it."""
    top = f"greatest({', '.join(scores)})"
    exps = [f"exp({s} - {top})" for s in scores]
    total = "(" + " + ".join(exps) + ")"  # numpy sums a short row left to right
    return [f"({e} / {total})" for e in exps]


def argmax_index(scores: list[str]) -> str:
    """0-based index of the first largest score (numpy.argmax)."""
    if len(scores) == 2:
        return f"(CASE WHEN {scores[1]} > {scores[0]} THEN 1 WHEN {scores[1]} <= {scores[0]} THEN 0 END)"
    whens = [f"WHEN {scores[0]} IS NULL OR isnan({scores[0]}) THEN NULL"]
    for i in range(len(scores) - 1):
        # the first i that is >= every later score is the first maximum (see the tests)
        condition = " AND ".join(f"{scores[i]} >= {scores[j]}" for j in range(i + 1, len(scores)))
        whens.append(f"WHEN {condition} THEN {i}")
    return f"(CASE {' '.join(whens)} ELSE {len(scores) - 1} END)"


def logistic(model: Any, features: list[Feature], where: str) -> tuple[list[str], str]:
    """(probability expression per class, expression of the predicted class's 0-based index).

    Binary: p1 = expit(z), p0 = 1 - p1, label index z > 0. Multinomial: softmax, first argmax of the scores.
    A NULL input gives NULL everywhere."""
    _check_numeric(model, features, where)
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64).ravel()
    classes = np.asarray(model.classes_)
    if len(classes) <= 2:
        if coef.shape[0] != 1:
            raise refuse(model, where, "binary with more than one coefficient row")
        z = decision(coef[0], intercept[0], features)
        p1 = stable_sigmoid(z)
        return [f"(1.0e0 - {p1})", p1], positive_index(z)
    scores = [decision(coef[k], intercept[k], features) for k in range(coef.shape[0])]
    return softmax(scores), argmax_index(scores)
