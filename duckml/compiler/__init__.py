"""Fitted scikit-learn models as DuckDB SQL expressions, exact to scikit-learn's own arithmetic.

A pure leaf package: numpy and scikit-learn in, SQL text out; no store, no registry.

>>> from sklearn.linear_model import LinearRegression
>>> model = LinearRegression().fit([[0.0], [1.0]], [1.0, 3.0])
>>> compiled = compile_sklearn(model, [("x", "DOUBLE")])
>>> compiled.prediction_type
'DOUBLE'

Supported: Pipeline, ColumnTransformer, StandardScaler, MinMaxScaler, SimpleImputer, OneHotEncoder,
LinearRegression, Ridge, Lasso, ElasticNet (and their CV forms), LogisticRegression(CV), DecisionTree*,
ExtraTree*, RandomForest*, ExtraTrees*, GradientBoosting*. Anything else raises ModelNotCompilableError
naming the step; nothing is ever approximated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from duckml.compiler import linear, preprocessing, trees
from duckml.compiler.core import Context, Feature, refuse
from duckml.compiler.emit import (DUCKDB, SPARK, Dialect, array, dialect_named, element, label, label_type,
                                  quote_ident, quote_literal, raise_error, writing)
from duckml.errors import ModelNotCompilableError

__all__ = ["CompiledModel", "compile_sklearn", "ModelNotCompilableError", "node_count", "Dialect", "DUCKDB",
           "SPARK"]

_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT", "BOOLEAN")


@dataclass(frozen=True)
class CompiledModel:
    """SQL expressions over the input columns.

    ``prediction`` equals ``model.predict`` (type ``prediction_type``); for classifiers ``probabilities``
    holds one expression per class, in ``classes`` order, equal to ``predict_proba``.
    """

    prediction: str
    prediction_type: str
    classes: tuple[Any, ...] | None
    probabilities: tuple[str, ...] | None


def _input_feature(column: str, duckdb_type: str) -> Feature:
    t = duckdb_type.upper()
    name = quote_ident(column)
    if t in ("FLOAT", "DOUBLE"):
        # may hold NaN: steps that compare or fill turn it into NULL first (core.as_null)
        return Feature(f"CAST({name} AS DOUBLE)", "num", nan=True)
    if t in _NUMERIC_TYPES or t.startswith("DECIMAL"):
        return Feature(f"CAST({name} AS DOUBLE)", "num")
    if t == "VARCHAR" or t.startswith("ENUM"):
        return Feature(name if t == "VARCHAR" else f"CAST({name} AS VARCHAR)", "str")
    raise ModelNotCompilableError(f"input column {column!r} has type {duckdb_type}, which compiled models do "
                                  "not take (numbers and text only)")


_REGRESSORS = {
    "LinearRegression": linear.regression, "Ridge": linear.regression, "RidgeCV": linear.regression,
    "Lasso": linear.regression, "LassoCV": linear.regression, "ElasticNet": linear.regression,
    "ElasticNetCV": linear.regression,
    "DecisionTreeRegressor": trees.tree_regressor, "ExtraTreeRegressor": trees.tree_regressor,
    "RandomForestRegressor": trees.forest_regressor, "ExtraTreesRegressor": trees.forest_regressor,
    "GradientBoostingRegressor": trees.boosting_regressor,
}
_CLASSIFIERS = {
    "LogisticRegression": linear.logistic, "LogisticRegressionCV": linear.logistic,
    "DecisionTreeClassifier": trees.tree_classifier, "ExtraTreeClassifier": trees.tree_classifier,
    "RandomForestClassifier": trees.forest_classifier, "ExtraTreesClassifier": trees.forest_classifier,
    "GradientBoostingClassifier": trees.boosting_classifier,
}


def _sklearn_class(model: Any, table: dict) -> Any:
    """The handler when ``model`` is exactly a supported scikit-learn class (a subclass may override predict)."""
    kind = type(model)
    handler = table.get(kind.__name__)
    if handler is not None and kind.__module__.startswith("sklearn."):
        return handler
    return None


def _final(model: Any, features: list[Feature], ctx: Context, where: str):
    from sklearn.pipeline import Pipeline

    if type(model) is Pipeline:
        for name, step in model.steps[:-1]:
            features = preprocessing.transform(step, features, ctx,
                                               f"{where} → step {name!r}" if where else f"step {name!r}")
        name, last = model.steps[-1]
        return _final(last, features, ctx, f"{where} → step {name!r}" if where else f"step {name!r}")
    regressor = _sklearn_class(model, _REGRESSORS)
    if regressor is not None:
        return "regressor", regressor(model, features, where), model
    classifier = _sklearn_class(model, _CLASSIFIERS)
    if classifier is not None:
        probas, index = classifier(model, features, where)
        return "classifier", (probas, index), model
    raise refuse(model, where, "this estimator is not supported")


def _guarded(sql: str, ctx: Context) -> str:
    if not ctx.checks:
        return sql
    whens = " ".join(f"WHEN {condition} THEN {raise_error(message)}" for condition, message in ctx.checks)
    return f"(CASE {whens} ELSE {sql} END)"


def compile_sklearn(model: Any, inputs: Sequence[tuple[str, str]], dialect: str | Dialect = DUCKDB) -> CompiledModel:
    """Compile a fitted estimator or pipeline whose inputs, in fitted order, are the SQL columns
    ``inputs`` = [(column name, DuckDB type), ...], into expressions of ``dialect`` (``"duckdb"`` or
    ``"spark"``: one code path, the dialect spells the few forms that differ).

    Raises ModelNotCompilableError naming the class or pipeline step that has no exact SQL form.

    >>> from sklearn.linear_model import LinearRegression
    >>> model = LinearRegression().fit([[0.0], [1.0]], [1.0, 3.0])
    >>> compile_sklearn(model, [("x", "DOUBLE")], dialect="spark").prediction  # doctest: +ELLIPSIS
    'CAST(((CAST(`x` AS DOUBLE) * 1.99...e0) + 1.00...e0) AS DOUBLE)'
    """
    with writing(dialect_named(dialect)) as chosen:
        return _compile(model, inputs, chosen)


def _compile(model: Any, inputs: Sequence[tuple[str, str]], dialect: Dialect) -> CompiledModel:
    features = [_input_feature(column, duckdb_type) for column, duckdb_type in inputs]
    expected = getattr(model, "n_features_in_", None)
    if isinstance(expected, int) and expected != len(features):
        raise ModelNotCompilableError(f"{type(model).__name__} was fitted on {expected} columns, "
                                      f"{len(features)} were given")
    ctx = Context(dialect=dialect)
    kind, result, estimator = _final(model, features, ctx, "")
    if kind == "regressor":
        return CompiledModel(_guarded(f"CAST({result} AS DOUBLE)", ctx), "DOUBLE", None, None)
    probas, index = result
    classes = np.asarray(getattr(model, "classes_", estimator.classes_))
    if classes.ndim != 1:
        raise refuse(estimator, "", "its classes are not one list")
    sql_type = label_type(classes)
    labels = array([label(c, sql_type) for c in classes.tolist()])
    prediction = _guarded(element(labels, f"{index} + 1"), ctx)
    return CompiledModel(prediction, sql_type, tuple(classes.tolist()),
                         tuple(_guarded(f"CAST({p} AS DOUBLE)", ctx) for p in probas))


def node_count(model: Any) -> int:
    """Total tree nodes in a model or pipeline's final estimator (0 for models without trees): the size
    that decides whether SQL or the Python UDF scores faster."""
    from sklearn.pipeline import Pipeline

    while type(model) is Pipeline:
        model = model.steps[-1][1]
    return trees.node_count(model)


# re-exported for the integration layer's SQL building
quote_ident = quote_ident
quote_literal = quote_literal
