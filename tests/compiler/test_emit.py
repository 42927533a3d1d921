"""Literals, float32 cuts and summation order: the arithmetic the compiler's exactness rests on."""

import math

import duckdb
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from duckml.compiler.emit import balanced_sum, float32_cut, number, ordered_sum

CON = duckdb.connect()


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=True))
def test_every_double_literal_parses_to_the_same_bits(value):
    got, kind = CON.execute(f"SELECT {number(value)}, typeof({number(value)})").fetchone()
    assert kind == "DOUBLE"
    assert math.copysign(1, got) == math.copysign(1, value) and (got == value)


def test_negative_literals_survive_subtraction():
    assert CON.execute(f"SELECT 1.0e0 - {number(-2.5)}").fetchone()[0] == 3.5


@settings(max_examples=500, deadline=None)
@given(st.floats(min_value=-3e38, max_value=3e38, allow_nan=False), st.integers(-3, 3))
def test_float32_cut_sends_the_same_rows_left_as_sklearn(threshold, step):
    cut = float32_cut(threshold)
    # the doubles right at the cut, and a few float32 neighbours of the threshold
    x = cut
    for _ in range(abs(step)):
        x = float(np.nextafter(x, math.inf if step > 0 else -math.inf))
    for probe in (x, float(np.float32(threshold)), threshold):
        assert (float(np.float32(probe)) <= threshold) == (probe <= cut)


def test_float32_cut_at_a_midpoint_between_two_float32():
    low = np.float32(0.1)
    high = np.nextafter(low, np.float32(1))
    midpoint = (float(low) + float(high)) / 2  # how sklearn builds a threshold
    cut = float32_cut(midpoint)
    assert float(np.float32(cut)) <= midpoint and float(np.float32(np.nextafter(cut, 1.0))) > midpoint


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=-1e12, max_value=1e12), min_size=2, max_size=400))
def test_ordered_sum_adds_left_to_right(values):
    expected = 0.0
    for v in values:
        expected += v
    got = CON.execute(f"SELECT {ordered_sum([number(v) for v in values])}").fetchone()[0]
    assert got == expected


def test_balanced_sum_stays_under_the_expression_depth_limit():
    terms = [number(1.0)] * 5000
    assert CON.execute(f"SELECT {balanced_sum(terms)}").fetchone()[0] == 5000.0
    assert CON.execute(f"SELECT {ordered_sum(terms)}").fetchone()[0] == 5000.0


def _spark_linear_models():
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    numeric = [f"x{i}" for i in range(6)]
    frame = pd.DataFrame(rng.normal(size=(200, 6)), columns=numeric)
    frame["city"] = rng.choice(["oslo", "rome", "lima"], 200)
    classify = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame[numeric], frame["x0"] > 0)
    regress = make_pipeline(ColumnTransformer([("num", StandardScaler(), numeric),
                                               ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])]),
                            Ridge()).fit(frame, frame["x1"])
    return numeric, [(classify, [(c, "DOUBLE") for c in numeric]),
                     (regress, [(c, "DOUBLE") for c in numeric] + [("city", "VARCHAR")])]


def test_spark_linear_models_read_each_numeric_input_once():
    # Catalyst does not share a subexpression between the branches of a CASE: each repetition of a scaled
    # input (a NULL guard, a label test) is computed again for every row
    from duckml.compiler import compile_sklearn

    numeric, models = _spark_linear_models()
    for model, inputs in models:
        prediction = compile_sklearn(model, inputs, dialect="spark").prediction
        assert [prediction.count(f"`{c}`") for c in numeric] == [1] * len(numeric), prediction
