"""duckml.predict(..., output="x.parquet") with pass-through columns: the same file content as a hand-written
pyarrow loop, float columns written without a dictionary, and nothing printed to stdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import duckml
from tiers import slow_case

FEATURES = [f"f{i:02d}" for i in range(20)]


def _write_source(path, rows: int, seed: int = 0, row_group: int = 7_000) -> None:
    rng = np.random.default_rng(seed)
    ids = pa.array([None if i % 97 == 0 else f"row-{i:08d}" for i in range(rows)], pa.string())
    columns = {"id": ids, "group": pa.array(rng.integers(0, 5, rows)),
               **{f: rng.normal(size=rows) for f in FEATURES}}
    pq.write_table(pa.table(columns), path, row_group_size=row_group)


def _fit(kind: str):
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(2_000, len(FEATURES))), columns=FEATURES)
    y = X.to_numpy() @ rng.normal(size=len(FEATURES))
    if kind == "logistic":
        return X, LogisticRegression().fit(X, y > 0)
    if kind == "forest":
        return X, RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
    return X, make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y > 0)


def _hand_written(model, source) -> pa.Table:
    """What a user writes by hand: read batches, predict, append the prediction, keep every column."""
    scored = []
    for batch in pq.ParquetFile(source).iter_batches():
        prediction = pa.array(model.predict(batch.select(FEATURES).to_pandas()))
        scored.append(pa.RecordBatch.from_arrays(batch.columns + [prediction],
                                                 names=batch.schema.names + ["prediction"]))
    return pa.Table.from_batches(scored)


# The inner loop keeps one case per behaviour (a pipeline ending in a classifier: frame input, label output;
# the forest's float output is written by the next test); the full suite runs every model kind
@pytest.mark.parametrize("kind", [slow_case("logistic"), slow_case("forest"), "dataframe pipeline"])
def test_output_file_holds_what_a_hand_written_loop_writes(tmp_path, kind):
    source, target = tmp_path / "src.parquet", tmp_path / "out.parquet"
    _write_source(source, 40_000)
    example, model = _fit(kind)
    with duckml.start_run():
        duckml.log_model(model, "model", input_example=example.head(), registered_model_name="m")
    duckml.predict("models:/m/1", str(source), output=str(target))
    written = pq.read_table(target)
    expected = _hand_written(model, source)
    assert written.schema.names == ["id", "group", *FEATURES, "prediction"]
    assert written.num_rows == 40_000
    assert written.equals(expected.cast(written.schema))
    assert duckml.connect().sql("SELECT row_count FROM predictions").fetchall() == [(40_000,)]


def test_float_columns_are_written_plain_and_others_with_a_dictionary(tmp_path):
    source, target = tmp_path / "src.parquet", tmp_path / "out.parquet"
    _write_source(source, 20_000)
    example, model = _fit("forest")
    with duckml.start_run():
        duckml.log_model(model, "model", input_example=example.head(), registered_model_name="m")
    duckml.predict("models:/m/1", str(source), output=str(target))
    meta = pq.ParquetFile(target).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    for i, name in enumerate(names):
        encodings = set(meta.row_group(0).column(i).encodings)
        dictionary = bool(encodings & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"})
        assert dictionary == (name in ("id", "group")), (name, encodings)


@pytest.mark.slow  # a size/resource test: big inputs on purpose
def test_nothing_reaches_stdout_even_when_duckdb_would_show_its_progress_bar(tmp_path, capfd, monkeypatch):
    """DuckDB prints its progress bar to stdout once a query has run ``progress_bar_time`` ms (2,000 by default),
    so whether a given file shows it depends on the machine's speed and load. Every connection made during the
    call is set to show it after 50 ms instead, which every scoring query here outlasts (without duckml's
    setting, this test captures kilobytes of bars), while the one-statement settings take well under it."""
    import duckdb

    from duckml.scoring import prediction

    source, target = tmp_path / "src.parquet", tmp_path / "out.parquet"
    _write_source(source, 300_000, row_group=50_000)
    example, model = _fit("forest")
    with duckml.start_run():
        duckml.log_model(model, "model", input_example=example.head(), registered_model_name="m")
    duckml.flush()
    connect = duckdb.connect

    def eager_progress_bar(*args, **kwargs):
        con = connect(*args, **kwargs)
        con.execute("SET progress_bar_time = 50")
        return con

    monkeypatch.setattr(duckdb, "connect", eager_progress_bar)
    monkeypatch.setattr(prediction, "_SCHEMA_CON", None)  # made again, through the patched connect
    capfd.readouterr()
    duckml.predict("models:/m/1", str(source), output=str(target), workers=1)
    frame = duckml.predict("models:/m/1", str(source))
    out, _ = capfd.readouterr()
    assert out == ""
    assert len(frame) == pq.ParquetFile(target).metadata.num_rows == 300_000
