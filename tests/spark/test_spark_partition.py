"""The body of ``duckml.spark.predict``'s mapInArrow job, without Spark: how one partition's Arrow batches
are scored (fast tier; tests/spark/test_spark_predict.py runs it on a cluster)."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import duckml
from duckml.scoring import udf
from duckml.spark import scoring


def _batches(seed: int, sizes=(4, 4, 3)) -> list[pa.RecordBatch]:
    rng = np.random.default_rng(seed)
    out, start = [], 0
    for size in sizes:
        out.append(pa.RecordBatch.from_pydict({
            "id": [f"r{i}" for i in range(start, start + size)],
            "a": rng.normal(size=size), "b": rng.normal(size=size),
            "prediction": [0.5] * size,  # a source column the output replaces, as duckml.predict does
        }))
        start += size
    return out


def _shipped(model, name: str):
    frame = {"a": np.arange(10.0), "b": np.arange(10.0) ** 2 % 7}
    import pandas as pd

    frame = pd.DataFrame(frame)
    model.fit(frame, frame["a"] * 2 - frame["b"] > 3 if isinstance(model, LogisticRegression) else frame["a"])
    with duckml.start_run():
        duckml.log_model(model, "model", input_example=frame.head(), registered_model_name=name)
    spec, _, data, shipped = scoring.resolve(f"models:/{name}/1")
    return model, data, shipped


def _inputs(batches):
    return pa.Table.from_batches(batches).select(["a", "b"]).to_pandas()


def test_batches_keep_their_size_and_columns_and_are_scored_on_the_calling_thread(monkeypatch):
    model, data, shipped = _shipped(LinearRegression(), "part_linear")
    threads = []
    real_score = udf.score

    def recording(*args, **kwargs):
        threads.append(threading.current_thread())
        return real_score(*args, **kwargs)

    monkeypatch.setattr(udf, "score", recording)
    batches = _batches(0)
    out = list(scoring.score_partition(iter(batches), shipped, lambda: data, ["a", "b"], False, rows=8))
    # Spark's batches go out as they came, the scoring grouped (4 + 4 rows, then 3)
    assert [b.num_rows for b in out] == [4, 4, 3]
    assert len(threads) == 2 and set(threads) == {threading.current_thread()}
    assert [b.schema.names for b in out] == [["id", "a", "b", "prediction"]] * 3
    for got, source in zip(out, batches):
        # passed through, not copied
        assert got.column(0).buffers()[2].address == source.column(0).buffers()[2].address
    got = pa.Table.from_batches(out)["prediction"].to_numpy()
    np.testing.assert_allclose(got, model.predict(_inputs(batches)), rtol=1e-12)


def test_probabilities_are_one_column_per_class_in_the_incoming_batches():
    model, data, shipped = _shipped(LogisticRegression(), "part_logistic")
    batches = _batches(1)
    out = list(scoring.score_partition(iter(batches), shipped, lambda: data, ["a", "b"], True, rows=5))
    assert [b.num_rows for b in out] == [4, 4, 3]
    assert out[0].schema.names == ["id", "a", "b", "prediction", "proba_False", "proba_True"]
    table = pa.Table.from_batches(out)
    expected = model.predict_proba(_inputs(batches))
    np.testing.assert_allclose(np.column_stack([table["proba_False"], table["proba_True"]]), expected, rtol=1e-12)


def test_empty_partitions_and_empty_batches_give_no_batches():
    _, data, shipped = _shipped(LinearRegression(), "part_empty")
    empty = _batches(2, sizes=(0,))
    assert list(scoring.score_partition(iter([]), shipped, lambda: data, ["a", "b"], False)) == []
    out = list(scoring.score_partition(iter(empty + _batches(3, sizes=(2,))), shipped, lambda: data, ["a", "b"],
                                       False))
    assert [b.num_rows for b in out] == [2]


def test_a_regressor_asked_for_probabilities_is_the_error_duckml_predict_gives():
    _, data, shipped = _shipped(LinearRegression(), "part_error")
    with pytest.raises(duckml.errors.InvalidInputError, match="predict_proba"):
        list(scoring.score_partition(iter(_batches(4)), shipped, lambda: data, ["a", "b"], True))
