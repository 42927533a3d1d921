"""Run compiled SQL over a pandas frame in DuckDB and compare it with scikit-learn."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from duckml.compiler import compile_sklearn


def duckdb_types(frame: pd.DataFrame) -> list[tuple[str, str]]:
    con = duckdb.connect()
    con.register("frame", frame)
    return [(name, kind) for name, kind, *_ in con.execute("DESCRIBE SELECT * FROM frame").fetchall()]


def run_sql(model, frame: pd.DataFrame, proba: bool = False):
    """(predictions, probabilities or None) computed by DuckDB from the compiled expressions."""
    compiled = compile_sklearn(model, duckdb_types(frame))
    con = duckdb.connect()
    con.register("frame", frame)
    columns = [compiled.prediction]
    if proba and compiled.probabilities:
        columns += list(compiled.probabilities)
    rows = con.execute(f"SELECT {', '.join(columns)} FROM frame").fetchall()
    predictions = np.array([r[0] for r in rows], dtype=object)
    probabilities = np.array([r[1:] for r in rows], dtype=float) if proba and compiled.probabilities else None
    return predictions, probabilities, compiled


def assert_same(model, frame: pd.DataFrame, sklearn_frame: pd.DataFrame | None = None, proba: bool = True):
    """SQL equals scikit-learn on every row: labels identical, numbers within 1e-9."""
    sk_input = frame if sklearn_frame is None else sklearn_frame
    expected = model.predict(sk_input)
    got, probabilities, compiled = run_sql(model, frame, proba=proba)
    if compiled.prediction_type == "DOUBLE" and compiled.classes is None:
        np.testing.assert_allclose(got.astype(float), expected.astype(float), rtol=1e-9, atol=1e-9)
    else:
        assert got.tolist() == expected.tolist(), [
            (i, g, e) for i, (g, e) in enumerate(zip(got.tolist(), expected.tolist())) if g != e][:5]
    if probabilities is not None:
        np.testing.assert_allclose(probabilities, model.predict_proba(sk_input), rtol=1e-9, atol=1e-9)
    return compiled
