"""Datasets: digests (equal for equal data, different for changed data), schema, row counts, lineage."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import duckml
from duckml.tracking.datasets import compute_digest, describe_dataset, get_dataset_runs, get_run_inputs
from duckml.errors import InvalidInputError, NotFoundError

# `store` is the conftest's fixture: a fresh store in tmp_path, selected for the fluent API.

FRAME = pl.DataFrame({"x": [1, 2, 3, None], "name": ["a", "b", None, "d"], "y": [0.5, 1.5, 2.5, 3.5]})


def digest(data) -> str:
    return compute_digest(data)


def test_describe_and_compute_agree(tmp_path):
    FRAME.write_parquet(tmp_path / "f.parquet")
    for data in (FRAME, tmp_path / "f.parquet"):
        assert describe_dataset(data).digest == compute_digest(data)


# -- in-memory digests ---------------------------------------------------------------------------
def test_equal_frames_have_equal_digests():
    assert digest(FRAME) == digest(FRAME.clone()) == digest(pl.DataFrame(FRAME.to_dict(as_series=False)))


def test_digest_ignores_chunking():
    pieces = pl.concat([FRAME[:1], FRAME[1:3], FRAME[3:]], rechunk=False)
    assert pieces.n_chunks() == 3
    assert digest(pieces) == digest(FRAME)
    table = FRAME.to_arrow()
    rechunked = pa.Table.from_batches(table.to_batches(max_chunksize=1))
    assert digest(rechunked) == digest(table) == digest(FRAME)


def test_polars_arrow_and_pandas_agree_when_types_agree():
    pd = pytest.importorskip("pandas")
    frame = pl.DataFrame({"x": [1, 2, 3], "name": ["a", "b", "c"]})
    assert digest(frame) == digest(frame.to_arrow()) == digest(pd.DataFrame({"x": [1, 2, 3], "name": ["a", "b", "c"]}))
    assert describe_dataset(frame.to_pandas()).source_type == "pandas"


def test_string_and_dictionary_kinds_are_canonical():
    plain = pa.table({"s": pa.array(["a", "b", "a"], pa.string())})
    large = pa.table({"s": pa.array(["a", "b", "a"], pa.large_string())})
    dictionary = pa.table({"s": pa.array(["a", "b", "a"]).dictionary_encode()})
    assert digest(plain) == digest(large) == digest(dictionary)


@pytest.mark.parametrize("changed", [
    FRAME.with_columns(pl.when(pl.col("x") == 2).then(20).otherwise(pl.col("x")).alias("x")),  # one value
    FRAME.with_columns(pl.col("x").fill_null(0)),  # a null becomes a value
    FRAME.rename({"y": "z"}),  # a column name
    FRAME.with_columns(pl.col("y").cast(pl.Float32)),  # a type
    FRAME[:3],  # a row fewer
    FRAME.reverse(),  # row order
    FRAME.select("name", "x", "y"),  # column order
])
def test_changed_data_changes_the_digest(changed):
    assert digest(changed) != digest(FRAME)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)), min_size=1, max_size=40),
       texts=st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=40, max_size=40),
       split=st.integers(0, 40), data=st.data())
def test_digest_properties(values, texts, split, data):
    frame = pl.DataFrame({"v": pl.Series(values, dtype=pl.Int64), "t": pl.Series(texts[:len(values)], dtype=pl.String)})
    split = min(split, len(values))
    chunked = pl.concat([frame[:split], frame[split:]], rechunk=False)
    assert digest(chunked) == digest(frame)
    i = data.draw(st.integers(0, len(values) - 1))
    other = data.draw(st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)).filter(lambda v: v != values[i]))
    changed = values.copy()
    changed[i] = other
    frame2 = frame.with_columns(pl.Series("v", changed, dtype=pl.Int64))
    assert digest(frame2) != digest(frame)


def test_big_frame_spans_several_windows():
    frame = pl.DataFrame({"i": range(200_000), "s": [str(i % 97) for i in range(200_000)]})
    pieces = pl.concat([frame[:70_001], frame[70_001:]], rechunk=False)
    assert digest(pieces) == digest(frame)
    assert digest(frame.with_columns(pl.when(pl.col("i") == 150_000).then(-1).otherwise(pl.col("i")).alias("i"))) \
        != digest(frame)


def test_schema_and_row_count_of_a_frame():
    ds = describe_dataset(FRAME, name="train")
    assert ds.name == "train" and ds.source == "in-memory" and ds.source_type == "polars" and ds.row_count == 4
    assert json.loads(ds.schema) == [{"name": "x", "type": "BIGINT"}, {"name": "name", "type": "VARCHAR"},
                                     {"name": "y", "type": "DOUBLE"}]


# -- file digests --------------------------------------------------------------------------------
def test_parquet_digest_is_stable_for_equal_files_and_changes_with_data(tmp_path):
    FRAME.write_parquet(tmp_path / "train.parquet")
    FRAME.write_parquet(tmp_path / "again.parquet")
    shutil.copy(tmp_path / "train.parquet", tmp_path / "copy.parquet")
    FRAME.with_columns(pl.col("y") * 2).write_parquet(tmp_path / "changed.parquet")
    base = describe_dataset(tmp_path / "train.parquet")
    assert base.digest == digest(tmp_path / "again.parquet") == digest(str(tmp_path / "copy.parquet"))
    assert base.digest != digest(tmp_path / "changed.parquet")
    assert (base.name, base.source_type, base.row_count) == ("train", "parquet", 4)
    assert base.source == str(tmp_path / "train.parquet")
    assert [c["name"] for c in json.loads(base.schema)] == ["x", "name", "y"]
    # a file and a frame of the same rows are identified differently (documented)
    assert base.digest != digest(FRAME)


def test_parquet_glob(tmp_path):
    folder = tmp_path / "train_parts"
    folder.mkdir()
    for i in range(3):
        FRAME.with_columns(pl.col("y") + i).write_parquet(folder / f"part-{i}.parquet")
    ds = describe_dataset(str(folder / "*.parquet"))
    assert (ds.name, ds.row_count, ds.source) == ("train_parts", 12, str(folder / "*.parquet"))
    FRAME.write_parquet(folder / "part-3.parquet")
    assert describe_dataset(str(folder / "*.parquet")).digest != ds.digest


def test_csv_digest(tmp_path):
    FRAME.write_csv(tmp_path / "train.csv")
    shutil.copy(tmp_path / "train.csv", tmp_path / "copy.csv")
    FRAME.with_columns(pl.col("y") + 1).write_csv(tmp_path / "changed.csv")
    ds = describe_dataset(tmp_path / "train.csv")
    assert (ds.name, ds.source_type, ds.row_count) == ("train", "csv", 4)
    assert ds.digest == digest(tmp_path / "copy.csv") != digest(tmp_path / "changed.csv")


@pytest.mark.parametrize("make, error", [
    (lambda p: p / "missing.parquet", NotFoundError),
    (lambda p: str(p / "nothing-*.parquet"), NotFoundError),
    (lambda p: p, InvalidInputError),  # a folder
    (lambda p: (p / "notes.json").write_text("{}") and p / "notes.json", InvalidInputError),
    (lambda p: (p / "fake.parquet").write_bytes(b"not parquet at all") and p / "fake.parquet", InvalidInputError),
    (lambda p: FRAME.lazy(), InvalidInputError),
    (lambda p: [1, 2, 3], InvalidInputError),
])
def test_bad_inputs(tmp_path, make, error):
    with pytest.raises(error):
        describe_dataset(make(tmp_path))


def test_mixed_kinds_in_a_glob_are_refused(tmp_path):
    FRAME.write_parquet(tmp_path / "a.parquet")
    FRAME.write_csv(tmp_path / "b.csv")
    with pytest.raises(InvalidInputError, match="all Parquet"):
        describe_dataset(str(tmp_path / "*"))


# -- logging and lineage -------------------------------------------------------------------------
def test_same_dataset_from_two_runs_is_one_row(store, tmp_path):
    FRAME.write_parquet(tmp_path / "train.parquet")
    with duckml.start_run(run_name="a") as a:
        duckml.log_input(str(tmp_path / "train.parquet"))
        duckml.log_input(FRAME[:2], name="holdout", context="validation")
    with duckml.start_run(run_name="b") as b:
        duckml.log_input(tmp_path / "train.parquet")
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM datasets").fetchone()[0] == 2
        assert con.execute("SELECT count(*) FROM run_inputs").fetchone()[0] == 3
    inputs = get_run_inputs(a.info.run_id)
    assert sorted(zip(inputs["name"], inputs["context"])) == [("holdout", "validation"), ("train", "training")]
    assert get_run_inputs(b.info.run_id)["row_count"].to_list() == [4]


def test_lineage_queries(store, tmp_path):
    FRAME.write_parquet(tmp_path / "train_v1.parquet")
    FRAME.with_columns(pl.col("y") * 10).write_parquet(tmp_path / "train_v2.parquet")
    runs = {}
    for version in ("v1", "v2", "v1"):
        with duckml.start_run(run_name=f"rf-{version}-{len(runs)}") as run:
            duckml.log_input(tmp_path / f"train_{version}.parquet", name="train")
        runs[run.info.run_id] = version
    v1 = describe_dataset(tmp_path / "train_v1.parquet", name="train")
    by_digest = get_dataset_runs(v1.digest)
    assert set(by_digest["run_id"]) == {r for r, v in runs.items() if v == "v1"}
    assert set(get_dataset_runs(v1.digest[:12])["run_id"]) == set(by_digest["run_id"])
    assert set(get_dataset_runs(v1.dataset_id)["run_id"]) == set(by_digest["run_id"])
    assert set(get_dataset_runs("train")["run_id"]) == set(runs)
    assert get_dataset_runs("nope").height == 0
    # deleted runs leave the lineage view, as they leave runs_overview
    gone = next(iter(runs))
    duckml.delete_run(gone)
    assert gone not in set(get_dataset_runs("train")["run_id"])
    overview = store.sql("SELECT name, digest, run_count, contexts FROM datasets_overview ORDER BY run_count").pl()
    assert overview["run_count"].to_list() == [1, 1] and overview["contexts"].to_list() == [["training"]] * 2
    # plain SQL: which datasets did this run use
    rid = next(r for r in runs if r != gone)
    rows = store.sql("SELECT dataset_name, context FROM dataset_lineage WHERE run_id = ?", [rid]).fetchall()
    assert rows == [("train", "training")]


def test_log_input_checks(store):
    with duckml.start_run() as run:
        with pytest.raises(InvalidInputError):
            duckml.log_input(FRAME, context="")
        with pytest.raises(InvalidInputError):
            duckml.log_input(FRAME, name="  ")
    assert get_run_inputs(run.info.run_id).height == 0
    with pytest.raises(NotFoundError):
        duckml.log_input(FRAME, run_id="no-such-run")
    ds = duckml.log_input(FRAME, run_id=run.info.run_id)
    assert ds.name == "dataset" and get_run_inputs(run.info.run_id)["dataset_id"].to_list() == [ds.dataset_id]
