"""What kind of column each model input is (text or number), read from the fitted model itself.

A compiled model is plain SQL over the source's columns, so each input's type must be known when it is
compiled, and a guess is a wrong answer or a failed query later (a text column cast to DOUBLE). The
fitted model knows what it was given: the first step that reads a column tells its kind, e.g. an
OneHotEncoder's categories (strings or numbers), a SimpleImputer's fill values, and any scaler or final
estimator (numbers only). A column no step reads (dropped) has no kind; one read as text and as a number
by two steps is refused.

>>> import pandas as pd
>>> from sklearn.compose import make_column_transformer
>>> from sklearn.linear_model import Ridge
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import OneHotEncoder
>>> frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "store": ["a", "b", "a"], "note": ["", "", ""]})
>>> model = make_pipeline(make_column_transformer((OneHotEncoder(), ["store"]), ("passthrough", ["x"])),
...                       Ridge()).fit(frame, [1.0, 2.0, 3.0])
>>> input_kinds(model, 3)
['num', 'str', None]
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from duckml.errors import ModelNotCompilableError

TEXT, NUMBER = "str", "num"


class _Kinds:
    """Each input's kind as the steps reading it say; a slot is the input index a feature still is
    unchanged (None once a step has computed it)."""

    def __init__(self, count: int):
        self.kinds: list[str | None] = [None] * count
        self.conflicts: dict[int, set[str]] = {}

    def read(self, slot: int | None, kind: str | None) -> None:
        if slot is None or kind is None:
            return
        seen = self.kinds[slot]
        if seen is None:
            self.kinds[slot] = kind
        elif seen != kind:
            self.conflicts.setdefault(slot, {seen}).add(kind)


def _value_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return TEXT
    if isinstance(value, (bool, np.bool_)):
        return None  # no SQL form is compiled for booleans anyway
    if isinstance(value, (numbers.Real, np.number)) and not (isinstance(value, float) and np.isnan(value)):
        return NUMBER
    return None  # None / NaN: the missing marker says nothing about the column


def _values_kind(values) -> str | None:
    """TEXT or NUMBER when every non-missing value agrees, else None."""
    array = np.asarray(values)
    if array.dtype.kind in "iuf":
        return NUMBER
    if array.dtype.kind in "US":
        return TEXT
    kinds = {_value_kind(v) for v in array.tolist()} - {None}
    return kinds.pop() if len(kinds) == 1 else None


def _walk(step: Any, slots: list[int | None], kinds: _Kinds) -> list[int | None]:
    """The slots of ``step``'s output, after recording what it says about the inputs it reads."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler

    if step is None or (isinstance(step, str) and step == "passthrough"):
        return slots
    kind = type(step)
    if kind is Pipeline:
        for _, inner in step.steps:
            slots = _walk(inner, slots, kinds)
        return slots
    if kind is ColumnTransformer:
        indices = step._transformer_to_input_indices
        out: list[int | None] = []
        for name, transformer, _ in step.transformers_:
            if isinstance(transformer, str) and transformer == "drop":
                continue
            out.extend(_walk(transformer, [slots[int(i)] for i in indices[name]], kinds))
        return out
    if kind is FunctionTransformer and step.func is None:
        return slots
    if kind in (StandardScaler, MinMaxScaler):
        for slot in slots:
            kinds.read(slot, NUMBER)
        return [None] * len(slots)
    if kind is SimpleImputer:
        statistics = np.asarray(step.statistics_)
        # one dtype for all its columns unless it was fitted on an object matrix: then each fill value speaks
        whole = _values_kind(statistics) if statistics.dtype.kind != "O" else None
        for i, slot in enumerate(slots):
            kinds.read(slot, whole or (_value_kind(statistics[i]) if i < len(statistics) else None))
        return [None] * len(slots)
    if kind is OneHotEncoder:
        for slot, categories in zip(slots, step.categories_):
            kinds.read(slot, _values_kind(categories))
        return [None] * sum(len(c) for c in step.categories_)
    # a final estimator (or a step the compiler will refuse by name): scikit-learn gives it numbers
    for slot in slots:
        kinds.read(slot, NUMBER)
    return [None] * len(slots)


def input_kinds(model: Any, count: int) -> list[str | None]:
    """For each of the ``count`` inputs of ``model`` in fitted order: "str", "num", or None when no step
    reads it. Raises ModelNotCompilableError naming an input that steps read both as text and as a number."""
    kinds = _Kinds(count)
    _walk(model, list(range(count)), kinds)
    if kinds.conflicts:
        slot, seen = next(iter(sorted(kinds.conflicts.items())))
        raise ModelNotCompilableError(f"input {slot} is read both as text and as a number by the model's steps; "
                                      "its SQL type is unknown")
    return kinds.kinds
