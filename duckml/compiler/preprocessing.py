"""Transformers as SQL: each maps the features it receives to the features scikit-learn would output.

Supported: Pipeline (its transform steps), ColumnTransformer (remainder drop/passthrough), StandardScaler,
MinMaxScaler, SimpleImputer (with add_indicator), OneHotEncoder (handle_unknown ignore/error, drop), and
'passthrough'/'drop'/None steps and identity FunctionTransformers (func=None). The arithmetic is the
transformer's own, in its order, in DOUBLE.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from duckml.compiler.core import Context, Feature, as_null, refuse
from duckml.compiler.emit import number, quote_literal, text_type


def transform(step: Any, features: list[Feature], ctx: Context, where: str) -> list[Feature]:
    """The features ``step.transform`` would produce from ``features``."""
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return features
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler

    kind = type(step)
    if kind is Pipeline:
        for name, inner in step.steps:
            features = transform(inner, features, ctx, f"{where} → step {name!r}" if where else f"step {name!r}")
        return features
    if kind is ColumnTransformer:
        return _column_transformer(step, features, ctx, where)
    if kind is StandardScaler:
        return _standard_scaler(step, _numeric(step, features, where))
    if kind is MinMaxScaler:
        return _min_max_scaler(step, _numeric(step, features, where))
    if kind is SimpleImputer:
        return _simple_imputer(step, features, where)
    if kind is OneHotEncoder:
        return _one_hot(step, features, ctx, where)
    if kind is FunctionTransformer and step.func is None:
        return features  # the identity (ColumnTransformer stores remainder='passthrough' as one)
    raise refuse(step, where, "this transformer is not supported")


def _numeric(step, features: list[Feature], where: str) -> list[Feature]:
    for i, feature in enumerate(features):
        if feature.kind != "num":
            raise refuse(step, where, f"its input {i} is text, which the transformer cannot take")
    return features


def _standard_scaler(step, features: list[Feature]) -> list[Feature]:
    # X -= mean_; X /= scale_ (scale_ is already 1.0 for constant features)
    out = []
    for i, f in enumerate(features):
        sql = f.sql
        if step.mean_ is not None and step.with_mean:
            sql = f"({sql} - {number(step.mean_[i])})"
        if step.scale_ is not None and step.with_std:
            sql = f"({sql} / {number(step.scale_[i])})"
        out.append(Feature(sql, "num", f.nullable, f.nan))
    return out


def _min_max_scaler(step, features: list[Feature]) -> list[Feature]:
    # X *= scale_; X += min_; then np.clip to feature_range when clip=True
    low, high = (number(v) for v in step.feature_range)
    out = []
    for i, f in enumerate(features):
        if step.clip:
            f = as_null(f)  # np.clip keeps NaN; DuckDB would clip it to the top of the range
        sql = f"(({f.sql} * {number(step.scale_[i])}) + {number(step.min_[i])})"
        if step.clip:
            # a CASE, not least/greatest, which skip NULL instead of keeping it
            sql = f"(CASE WHEN {sql} < {low} THEN {low} WHEN {sql} > {high} THEN {high} ELSE {sql} END)"
        out.append(Feature(sql, "num", f.nullable, f.nan))
    return out


def _is_missing_marker(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _simple_imputer(step, features: list[Feature], where: str) -> list[Feature]:
    if not _is_missing_marker(step.missing_values):
        raise refuse(step, where, f"missing_values={step.missing_values!r} (only NaN/None, which SQL sees as "
                                  "NULL, can be matched exactly)")
    features = [as_null(f) for f in features]
    # SQL has one NULL; scikit-learn tells None from NaN in a text column, and DuckDB hands a NULL text
    # value over as None. missing_values=NaN (the default) leaves None as it is there (`x != x` is its
    # missing test), so a NULL text value is neither filled nor flagged: it stays NULL, as in the UDF path.
    fills_text_null = step.missing_values is None
    out = []
    for i, f in enumerate(features):
        statistic = step.statistics_[i]
        if _is_missing_marker(statistic) or (isinstance(statistic, (float, np.floating)) and np.isnan(statistic)):
            if getattr(step, "keep_empty_features", False):
                raise refuse(step, where, f"feature {i} was empty at fit time and keep_empty_features=True")
            continue  # scikit-learn drops features that were all missing at fit time
        if f.kind == "num":
            if isinstance(statistic, str):
                raise refuse(step, where, f"feature {i} is numeric but its fill value is the text {statistic!r}")
            fill = number(statistic)
        else:
            if not isinstance(statistic, str):
                raise refuse(step, where, f"feature {i} is text but its fill value {statistic!r} is not")
            fill = quote_literal(statistic)
            if not fills_text_null:
                out.append(f)
                continue
        out.append(Feature(f"coalesce({f.sql}, {fill})" if f.nullable else f.sql, f.kind, False))
    if step.add_indicator:
        indicator = step.indicator_
        if indicator.features != "missing-only" and indicator.features != "all":
            raise refuse(step, where, f"indicator features={indicator.features!r}")
        for i in indicator.features_:
            f = features[int(i)]
            flagged = f.nullable and (f.kind == "num" or fills_text_null)
            out.append(Feature(f"(CASE WHEN {f.sql} IS NULL THEN 1.0e0 ELSE 0.0e0 END)" if flagged
                               else "0.0e0", "num", False))
    return out


def _category_literal(value, feature: Feature) -> tuple[str, Feature]:
    """(literal, feature to compare): text categories compare as text, numbers as DOUBLE."""
    if isinstance(value, str):
        if feature.kind == "num":
            feature = Feature(f"CAST({feature.sql} AS {text_type()})", "str", feature.nullable)
        return quote_literal(value), feature
    if isinstance(value, (bool, np.bool_)):
        raise ValueError("boolean category")
    if feature.kind == "str":
        raise ValueError(f"numeric category {value!r} for a text column")
    return number(float(value)), feature


def _one_hot(step, features: list[Feature], ctx: Context, where: str) -> list[Feature]:
    if getattr(step, "_infrequent_enabled", False):
        raise refuse(step, where, "infrequent categories (min_frequency/max_categories) are grouped")
    drop = getattr(step, "drop_idx_", None)
    out = []
    for i, (categories, f) in enumerate(zip(step.categories_, features)):
        f = as_null(f)
        missing = [j for j, c in enumerate(categories) if _is_missing_marker(c)]
        if len(missing) > 1:
            raise refuse(step, where, f"feature {i} has both None and NaN as categories")
        present = [j for j in range(len(categories)) if j not in missing]
        literals = {}
        compared = f
        for j in present:
            try:
                literals[j], compared = _category_literal(categories[j], compared)
            except ValueError as e:
                raise refuse(step, where, f"feature {i}: {e}") from None
        x = compared.sql
        dropped = None if drop is None else drop[i]
        for j in range(len(categories)):
            if dropped is not None and j == int(dropped):
                continue
            if j in literals:
                sql = f"(CASE WHEN {x} = {literals[j]} THEN 1.0e0 ELSE 0.0e0 END)"
            else:
                sql = f"(CASE WHEN {x} IS NULL THEN 1.0e0 ELSE 0.0e0 END)" if f.nullable else "0.0e0"
            out.append(Feature(sql, "num", False, onehot=(x, literals.get(j))))
        if step.handle_unknown == "error":
            known = ", ".join(literals[j] for j in present)
            unknown = f"NOT ({x} IN ({known}))" if known else "TRUE"
            if not missing and compared.nullable:
                unknown = f"({x} IS NULL OR {unknown})"
            elif missing:
                unknown = f"({x} IS NOT NULL AND {unknown})"
            shown = f"coalesce(CAST({x} AS {text_type()}), 'NULL')"
            prefix = f"duckml: {where or 'OneHotEncoder'} found the unknown category "
            message = (f"{quote_literal(prefix)} || "
                       f"{shown} || {quote_literal(f' in input feature {i} (handle_unknown=error)')}")
            ctx.check(unknown, message)
    return out


def _column_transformer(step, features: list[Feature], ctx: Context, where: str) -> list[Feature]:
    indices = step._transformer_to_input_indices
    out = []
    for name, transformer, _ in step.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        chosen = [features[int(i)] for i in indices[name]]
        if not chosen:
            continue
        inner_where = f"{where} → transformer {name!r}" if where else f"transformer {name!r}"
        out.extend(transform(transformer, chosen, ctx, inner_where))
    return out
