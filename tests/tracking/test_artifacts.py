"""Artifacts: round trips, content-addressed dedupe, path-escape refusals, symlinks, listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import duckml
from duckml.tracking import artifacts
from duckml.store.objects import CHUNK
from duckml.tracking.artifacts import FileInfo, artifact_local_path, normalize_artifact_path
from duckml.errors import InvalidInputError, NotFoundError, RunStateError, UnsafePathError


# `store` is the conftest's fixture: a fresh store in tmp_path, selected for the fluent API.


def objects(store) -> list[Path]:
    root = Path(store.artifact_root) / "objects"
    return sorted(p for p in root.glob("??/*")) if root.exists() else []


def artifact_rows(store, run_id=None):
    with store.read() as con:
        return con.execute("SELECT run_id, path, size, sha256, media_type FROM artifacts "
                           "WHERE ? IS NULL OR run_id = ? ORDER BY path", [run_id, run_id]).fetchall()


def read_back(run_id, path, tmp_path) -> bytes:
    return Path(duckml.download_artifacts(run_id, path, tmp_path / "dl")).read_bytes()


# -- round trips ---------------------------------------------------------------------------------
def test_text_round_trip(store, tmp_path):
    with duckml.start_run() as run:
        duckml.log_text("héllo\nwörld ✓", "notes/summary.txt")
    assert read_back(run.info.run_id, "notes/summary.txt", tmp_path).decode() == "héllo\nwörld ✓"
    assert artifact_rows(store)[0][4] == "text/plain"


def test_dict_json_round_trip(store, tmp_path):
    data = {"lr": 0.1, "layers": [1, 2, 3], "name": "ünï"}
    with duckml.start_run() as run:
        duckml.log_dict(data, "config.json")
    assert json.loads(read_back(run.info.run_id, "config.json", tmp_path)) == data


@pytest.mark.parametrize("name", ["config.yaml", "config.yml"])
def test_dict_yaml_round_trip(store, tmp_path, name):
    yaml = pytest.importorskip("yaml")
    data = {"lr": 0.1, "layers": [1, 2], "nested": {"a": "b"}}
    with duckml.start_run() as run:
        duckml.log_dict(data, name)
    text = read_back(run.info.run_id, name, tmp_path).decode()
    assert not text.lstrip().startswith("{")  # real YAML, not JSON
    assert yaml.safe_load(text) == data
    assert artifact_rows(store)[0][4] == "application/yaml"


def test_binary_round_trip_larger_than_a_chunk(store, tmp_path):
    payload = os.urandom(CHUNK * 2 + 12345)
    source = tmp_path / "blob.bin"
    source.write_bytes(payload)
    with duckml.start_run() as run:
        duckml.log_artifact(source, artifact_path="data")
    assert read_back(run.info.run_id, "data/blob.bin", tmp_path) == payload
    [(_, path, size, sha, _)] = artifact_rows(store)
    assert (path, size) == ("data/blob.bin", len(payload))
    assert artifact_local_path(run.info.run_id, "data/blob.bin").name == sha
    assert not list((Path(store.artifact_root) / "objects").glob(".tmp-*"))


def make_tree(root: Path) -> dict[str, bytes]:
    files = {"a.txt": b"alpha", "sub/b.bin": os.urandom(100), "sub/deeper/c.csv": b"x,y\n1,2\n", "empty.txt": b""}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def test_directory_round_trip(store, tmp_path):
    files = make_tree(tmp_path / "src")
    with duckml.start_run() as run:
        duckml.log_artifacts(tmp_path / "src", artifact_path="reports")
    rid = run.info.run_id
    assert duckml.list_artifacts(rid) == [FileInfo("reports", True, None)]
    assert duckml.list_artifacts(rid, "reports") == [
        FileInfo("reports/a.txt", False, 5), FileInfo("reports/empty.txt", False, 0),
        FileInfo("reports/sub", True, None)]
    assert duckml.list_artifacts(rid, "reports/a.txt") == []  # a file lists nothing, as in MLflow
    out = Path(duckml.download_artifacts(rid, "reports", tmp_path / "dl"))
    assert out == tmp_path / "dl" / "reports"
    got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == files
    whole = Path(duckml.download_artifacts(rid, dst_path=tmp_path / "all"))
    assert (whole / "reports" / "sub" / "deeper" / "c.csv").read_bytes() == files["sub/deeper/c.csv"]


def test_download_to_a_fresh_temp_folder_by_default(store):
    with duckml.start_run() as run:
        duckml.log_text("x", "a.txt")
    assert Path(duckml.download_artifacts(run.info.run_id, "a.txt")).read_text() == "x"


def test_log_figure_png(store, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with duckml.start_run() as run:
        duckml.log_figure(fig, "plots/line.png")
        duckml.log_figure(fig, "plots/line.svg")
    plt.close(fig)
    assert read_back(run.info.run_id, "plots/line.png", tmp_path).startswith(b"\x89PNG")
    assert b"<svg" in read_back(run.info.run_id, "plots/line.svg", tmp_path)
    with pytest.raises(InvalidInputError, match="no extension"):
        duckml.log_figure(fig, "plots/line", run_id=run.info.run_id)
    with pytest.raises(InvalidInputError, match="matplotlib figure"):
        duckml.log_figure(object(), "plots/x.png", run_id=run.info.run_id)


def test_relogging_a_path_replaces_it(store, tmp_path):
    with duckml.start_run() as run:
        duckml.log_text("one", "a.txt")
        duckml.log_text("two", "a.txt")
    assert read_back(run.info.run_id, "a.txt", tmp_path) == b"two"
    assert len(artifact_rows(store)) == 1


def test_explicit_run_id_and_run_checks(store):
    with duckml.start_run() as run:
        pass
    rid = run.info.run_id
    duckml.log_text("later", "late.txt", run_id=rid)
    assert [r[1] for r in artifact_rows(store)] == ["late.txt"]
    with pytest.raises(NotFoundError):
        duckml.log_text("x", "x.txt", run_id="no-such-run")
    duckml.delete_run(rid)
    with pytest.raises(RunStateError, match="deleted"):
        duckml.log_text("x", "x.txt", run_id=rid)


def test_file_and_folder_may_not_share_a_name(store):
    with duckml.start_run() as run:
        duckml.log_text("x", "a/b.txt")
        with pytest.raises(InvalidInputError, match="already a folder"):
            duckml.log_text("y", "a")
        with pytest.raises(InvalidInputError, match="already a file"):
            duckml.log_text("y", "a/b.txt/c.txt")
    assert [r[1] for r in artifact_rows(store, run.info.run_id)] == ["a/b.txt"]


def test_missing_things_are_not_found(store, tmp_path):
    with duckml.start_run() as run:
        duckml.log_text("x", "a.txt")
        with pytest.raises(NotFoundError):
            duckml.log_artifact(tmp_path / "nope.txt")
        with pytest.raises(NotFoundError):
            duckml.log_artifacts(tmp_path / "nope")
    with pytest.raises(NotFoundError):
        duckml.download_artifacts(run.info.run_id, "b.txt", tmp_path / "dl")
    with pytest.raises(NotFoundError):
        artifact_local_path(run.info.run_id, "b.txt")


# -- dedupe --------------------------------------------------------------------------------------
def test_identical_content_is_stored_once(store, tmp_path):
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(5000))
    with duckml.start_run() as one:
        duckml.log_artifact(src)
        duckml.log_text("same", "x/same.txt")
        duckml.log_text("same", "y/same-again.txt")
    with duckml.start_run() as two:
        duckml.log_artifact(src, artifact_path="copy")
    assert len(artifact_rows(store)) == 4
    assert len(objects(store)) == 2
    assert artifact_local_path(one.info.run_id, "model.bin") == artifact_local_path(two.info.run_id, "copy/model.bin")


# -- unsafe paths --------------------------------------------------------------------------------
UNSAFE = ["../x.txt", "a/../../x.txt", "a/..", "..", "/etc/passwd", "//server/share/x", "C:x.txt", "c:/x.txt",
          "a\\..\\..\\x.txt", "..\\x.txt", "a\x00b.txt", "a\nb.txt"]


@pytest.mark.parametrize("bad", UNSAFE)
def test_unsafe_paths_are_refused(bad):
    with pytest.raises(UnsafePathError):
        normalize_artifact_path(bad)


def test_every_public_function_refuses_unsafe_paths_before_writing(store, tmp_path):
    (tmp_path / "f.txt").write_text("x")
    make_tree(tmp_path / "d")
    with duckml.start_run() as run:
        duckml.log_text("fine", "kept.txt")
        rows_before, objects_before = artifact_rows(store), objects(store)
        for bad in UNSAFE:
            attempts = [
                lambda: duckml.log_text("evil", bad), lambda: duckml.log_dict({"a": 1}, bad),
                lambda: duckml.log_artifact(tmp_path / "f.txt", artifact_path=bad),
                lambda: duckml.log_artifacts(tmp_path / "d", artifact_path=bad),
                lambda: duckml.download_artifacts(run.info.run_id, bad, tmp_path / "dl"),
                lambda: duckml.list_artifacts(run.info.run_id, bad),
            ]
            for attempt in attempts:
                with pytest.raises(UnsafePathError):
                    attempt()
    assert artifact_rows(store) == rows_before and objects(store) == objects_before
    assert not (tmp_path / "dl").exists()


def test_empty_file_name_is_invalid(store):
    with duckml.start_run():
        with pytest.raises(InvalidInputError):
            duckml.log_text("x", "")
        with pytest.raises(InvalidInputError):
            duckml.log_text("x", "./")


def test_backslash_in_a_logged_file_name_is_refused(store, tmp_path):
    make_tree(tmp_path / "d")
    (tmp_path / "d" / "evil\\..\\x.txt").write_text("x")
    with duckml.start_run():
        with pytest.raises(UnsafePathError):
            duckml.log_artifacts(tmp_path / "d")
    assert artifact_rows(store) == [] and objects(store) == []


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_symlink_leaving_the_logged_folder_is_refused(store, tmp_path, kind):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    make_tree(tmp_path / "d")
    target = outside / "secret.txt" if kind == "file" else outside
    os.symlink(target, tmp_path / "d" / "sub" / "link")
    with duckml.start_run():
        with pytest.raises(UnsafePathError, match="outside the logged folder"):
            duckml.log_artifacts(tmp_path / "d")
    assert artifact_rows(store) == [] and objects(store) == []


def test_symlinks_inside_the_logged_folder_are_followed_once(store, tmp_path):
    make_tree(tmp_path / "d")
    os.symlink(tmp_path / "d" / "a.txt", tmp_path / "d" / "alias.txt")
    os.symlink(tmp_path / "d", tmp_path / "d" / "sub" / "loop")  # a loop must not recurse forever
    with duckml.start_run() as run:
        duckml.log_artifacts(tmp_path / "d")
    paths = [r[1] for r in artifact_rows(store, run.info.run_id)]
    assert "alias.txt" in paths and not any("loop" in p for p in paths)


def test_download_refuses_a_destination_symlink_leading_outside(store, tmp_path):
    with duckml.start_run() as run:
        duckml.log_text("x", "sub/a.txt")
    dest, elsewhere = tmp_path / "dest", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, dest / "sub")
    with pytest.raises(UnsafePathError):
        duckml.download_artifacts(run.info.run_id, "sub", dest)
    assert list(elsewhere.iterdir()) == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab./\\:\x00 C")), max_size=12))
def test_normalized_paths_never_leave_the_base(text):
    try:
        clean = normalize_artifact_path(text)
    except InvalidInputError:
        return
    base = "/base/run"
    joined = os.path.normpath(os.path.join(base, clean))
    assert joined == base or joined.startswith(base + "/")
    assert ".." not in clean.split("/") and "\\" not in clean and not clean.startswith("/")
    assert normalize_artifact_path(clean) == clean


def test_import_duckml_does_not_import_matplotlib():
    code = ("import sys, duckml, duckml.tracking.artifacts, duckml.tracking.datasets, duckml.tracking.cleanup; "
            "duckml.log_text; duckml.log_input; duckml.gc; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
