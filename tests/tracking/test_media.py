"""log_image and log_table: MLflow 3's artifact layouts, read back byte for byte and row for row."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import polars as pl
import pytest
from PIL import Image

import duckml
from duckml.errors import InvalidInputError, NotFoundError
from duckml.tracking.artifacts import artifact_local_path
from duckml.tracking.media import image_series, parse_series_path


def _decoded(run_id, path) -> Image.Image:
    return Image.open(io.BytesIO(artifact_local_path(run_id, path).read_bytes()))


def _paths(run_id):
    return [f["path"] for f in duckml.tracking.artifacts.artifact_files(run_id)]


# -- images --------------------------------------------------------------------------------------
@pytest.mark.parametrize("array, mode", [
    (np.arange(12 * 10, dtype=np.uint8).reshape(12, 10), "L"),
    (np.arange(12 * 10 * 3, dtype=np.int64).reshape(12, 10, 3) % 256, "RGB"),
    (np.arange(12 * 10 * 4, dtype=np.uint8).reshape(12, 10, 4), "RGBA"),
    (np.arange(12 * 10, dtype=np.uint8).reshape(12, 10, 1), "L"),
])
def test_an_integer_array_comes_back_as_the_same_pixels(store, array, mode):
    with duckml.start_run() as run:
        duckml.log_image(array, "pics/a.png")
    decoded = _decoded(run.run_id, "pics/a.png")
    assert decoded.format == "PNG" and decoded.mode == mode and decoded.size == (10, 12)
    assert np.array_equal(np.asarray(decoded), array.squeeze().astype(np.uint8))


def test_float_and_bool_arrays_are_scaled_as_mlflow_scales_them(store):
    floats = np.linspace(0, 1, 16).reshape(4, 4)
    with duckml.start_run() as run:
        duckml.log_image(floats, "f.png")
        duckml.log_image(floats > 0.5, "b.png")
        with pytest.warns(UserWarning, match="rescaled"):
            duckml.log_image(floats * 4 - 2, "wide.png")
    assert np.array_equal(np.asarray(_decoded(run.run_id, "f.png")), (floats * 255).astype(np.uint8))
    assert np.array_equal(np.asarray(_decoded(run.run_id, "b.png")), ((floats > 0.5) * 255).astype(np.uint8))
    rescaled = np.asarray(_decoded(run.run_id, "wide.png")).astype(int)
    assert np.abs(rescaled - (floats * 255).astype(int)).max() <= 1  # (x - min) / (max - min) rounds apart


def test_a_pil_image_is_logged_in_the_format_of_its_extension(store):
    picture = Image.new("RGB", (5, 3), (200, 10, 30))
    with duckml.start_run() as run:
        duckml.log_image(picture, "photo.jpg")
        duckml.log_image(picture, "lossless.png")
    assert _decoded(run.run_id, "photo.jpg").format == "JPEG"
    assert _decoded(run.run_id, "lossless.png").getpixel((4, 2)) == (200, 10, 30)


@pytest.mark.parametrize("bad, message", [
    (np.full((3, 3), 300), r"\[0, 255\]"), (np.zeros((3, 3, 2)), "shape"), (np.zeros((3,)), "shape"),
    (np.array([["a"]]), "dtype"), ([[0, 1]], "numpy array or a PIL image"), (np.full((2, 2), np.nan), "finite"),
])
def test_a_bad_image_is_one_clear_error_and_logs_nothing(store, bad, message):
    with duckml.start_run() as run:
        with pytest.raises(InvalidInputError, match=message):
            duckml.log_image(bad, "x.png")
    assert _paths(run.run_id) == []


def test_image_series_follow_mlflows_layout_and_read_back_by_step(store):
    frames = [np.full((300, 150, 3), 40 * step, dtype=np.uint8) for step in range(3)]
    with duckml.start_run() as run:
        for step, frame in enumerate(frames):
            duckml.log_image(frame, key="val/sample", step=step, timestamp=1_700_000_000_000 + step)
        duckml.log_image(frames[0], key="other")
    paths = _paths(run.run_id)
    assert len(paths) == 8 and all(p.startswith("images/") for p in paths)
    pattern = re.compile(r"^images/val#sample%step%(\d)%timestamp%(\d+)%[g-z][0-9a-f-]{35}(%compressed\.webp|\.png)$")
    assert sum(bool(pattern.match(p)) for p in paths) == 6
    assert duckml.get_run(run.run_id).data.tags["mlflow.loggedImages"] == "True"
    series = [p for p in image_series(run.run_id) if p.key == "val/sample"]
    assert [(p.step, p.timestamp) for p in series] == [(s, 1_700_000_000_000 + s) for s in range(3)]
    for point, frame in zip(series, frames):
        assert np.array_equal(np.asarray(_decoded(run.run_id, point.path)), frame)
        thumbnail = _decoded(run.run_id, point.thumbnail)
        assert thumbnail.format == "WEBP" and thumbnail.size == (128, 256)
    other = [p for p in image_series(run.run_id) if p.key == "other"]
    assert other[0].step == 0 and other[0].timestamp > 1_700_000_000_000


@pytest.mark.parametrize("kwargs, message", [
    ({"artifact_file": "a.png", "key": "k"}, "not both"), ({"artifact_file": "a.png", "step": 1}, "not both"),
    ({}, "artifact_file .* or key="), ({"key": "bad%key"}, "may hold only"), ({"key": "k", "step": 1.5}, "integer"),
    ({"artifact_file": "a.unknown"}, "image extension"),
])
def test_bad_image_arguments_are_refused(store, kwargs, message):
    with duckml.start_run():
        with pytest.raises(InvalidInputError, match=message):
            duckml.log_image(np.zeros((2, 2), dtype=np.uint8), **kwargs)


def test_parse_series_path_reads_back_what_log_image_writes():
    assert parse_series_path("images/a#b%step%12%timestamp%99%gfoo.png") == {
        "key": "a/b", "step": 12, "timestamp": 99, "id": "gfoo", "compressed": False}
    assert parse_series_path("images/sub/a%step%1%timestamp%2%g.png") is None
    assert parse_series_path("images/plain.png") is None


# -- tables --------------------------------------------------------------------------------------
def _table(run_id, path):
    return json.loads(artifact_local_path(run_id, path).read_text())


def test_a_table_is_mlflows_split_json_and_appends_on_repeated_calls(store):
    with duckml.start_run() as run:
        duckml.log_table({"question": ["What?", "Why?"], "score": [0.5, float("nan")]}, "eval/results.json")
        duckml.log_table(pl.DataFrame({"score": [0.9], "question": ["How?"], "extra": [True]}), "eval/results.json")
    assert _table(run.run_id, "eval/results.json") == {
        "columns": ["question", "score", "extra"],
        "data": [["What?", 0.5, None], ["Why?", None, None], ["How?", 0.9, True]],
    }
    tag = json.loads(duckml.get_run(run.run_id).data.tags["mlflow.loggedArtifacts"])
    assert tag == [{"path": "eval/results.json", "type": "table"}]
    loaded = duckml.load_table("eval/results.json")
    assert isinstance(loaded, pl.DataFrame)
    assert loaded.columns == ["question", "score", "extra"]
    assert loaded["question"].to_list() == ["What?", "Why?", "How?"]
    assert loaded["score"].to_list() == [0.5, None, 0.9]


def test_a_pandas_frame_is_logged_as_pandas_writes_it(store):
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2], "when": pd.to_datetime(["2024-01-02", "2024-03-04"]), "n": [1.5, None]})
    with duckml.start_run() as run:
        duckml.log_table(frame, "t.json")
    data = _table(run.run_id, "t.json")
    assert data["columns"] == ["a", "when", "n"]
    assert data["data"] == [[1, "2024-01-02T00:00:00", 1.5], [2, "2024-03-04T00:00:00", None]]


def test_load_table_over_runs_with_extra_columns(store):
    duckml.set_experiment("tables")
    ids = []
    for i in range(3):
        with duckml.start_run() as run:
            if i != 1:
                duckml.log_table({"i": [i, i * 10]}, "t.json")
        ids.append(run.run_id)
    everything = duckml.load_table("t.json", extra_columns=["run_id", "run_name"])
    assert sorted(everything["i"].to_list()) == [0, 0, 2, 20]
    assert set(everything["run_id"].to_list()) == {ids[0], ids[2]}
    only = duckml.load_table("t.json", run_ids=[ids[2]], extra_columns=["run_id"])
    assert only.to_dict(as_series=False) == {"i": [2, 20], "run_id": [ids[2], ids[2]]}
    with pytest.raises(NotFoundError, match="t.json"):
        duckml.load_table("t.json", run_ids=[ids[1]])
    with pytest.raises(InvalidInputError, match="not run fields"):
        duckml.load_table("t.json", extra_columns=["colour"])
    duckml.set_experiment("elsewhere")
    with pytest.raises(NotFoundError, match="active experiment"):
        duckml.load_table("t.json")


@pytest.mark.parametrize("data, name, message", [
    ({"a": [1, 2], "b": [1]}, "t.json", "different lengths"), ({"a": [1]}, "t.csv", r"\.json"),
    ([1, 2], "t.json", "dict of columns"),
])
def test_bad_tables_are_refused(store, data, name, message):
    with duckml.start_run() as run:
        with pytest.raises(InvalidInputError, match=message):
            duckml.log_table(data, name)
    assert _paths(run.run_id) == []


def test_a_non_table_file_is_not_overwritten_by_log_table(store):
    with duckml.start_run() as run:
        duckml.log_dict({"not": "a table"}, "t.json")
        with pytest.raises(InvalidInputError, match="not a table"):
            duckml.log_table({"a": [1]}, "t.json")
    assert _table(run.run_id, "t.json") == {"not": "a table"}
