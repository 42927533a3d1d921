"""duckml.gc() (duckml/cleanup.py): hard delete of soft-deleted runs and experiments, freeing exactly the unreferenced files."""

from __future__ import annotations

import importlib
import os
import time
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

import duckml
from duckml.store.objects import object_path
from duckml.tracking.artifacts import artifact_local_path
from duckml.tracking.cleanup import GcReport

gc_module = importlib.import_module("duckml.tracking.cleanup")

# `store` is the conftest's fixture: a fresh store in tmp_path, selected for the fluent API.


def object_files(store) -> set[Path]:
    root = Path(store.artifact_root) / "objects"
    return {p for p in root.glob("??/*")} if root.exists() else set()


def referenced_files(store) -> set[Path]:
    with store.read() as con:
        shas = {r[0] for r in con.execute("SELECT sha256 FROM artifacts").fetchall()}
    return {object_path(store.artifact_root, sha) for sha in shas}


def rows_of(store, run_id: str) -> dict[str, int]:
    with store.read() as con:
        return {t: con.execute(f"SELECT count(*) FROM {t} WHERE run_id = ?", [run_id]).fetchone()[0]
                for t in ("runs", "params", "metrics", "tags", "artifacts", "run_inputs")}


@pytest.fixture
def two_runs(store_from_template):
    """Run one: shared.txt + only-one.txt + a dataset; run two: shared.txt + only-two.txt.

    Logged once per session and copied per test; tests ask for it before ``store`` so that their store is
    the copy's.
    """
    return store_from_template("gc-two-runs", _log_two_runs)


def _log_two_runs(folder):
    with duckml.start_run(run_name="one") as one:
        duckml.log_param("lr", 0.1)
        duckml.log_metrics({"rmse": 1.0, "mae": 2.0})
        duckml.set_tag("team", "a")
        duckml.log_text("shared bytes", "shared.txt")
        duckml.log_text("only in run one", "only-one.txt")
        duckml.log_input(pl.DataFrame({"x": [1, 2, 3]}), name="only-one-data")
    with duckml.start_run(run_name="two") as two:
        duckml.log_text("shared bytes", "copy/shared.txt")
        duckml.log_text("only in run two!", "only-two.txt")
    return one.info.run_id, two.info.run_id


def test_gc_with_nothing_deleted_changes_nothing(two_runs, store):
    before = object_files(store)
    report = duckml.gc()
    assert report == GcReport(0, 0, 0, 0, 0)
    assert object_files(store) == before


def test_gc_frees_exactly_the_unreferenced_files(two_runs, store):
    one, two = two_runs
    only_one = artifact_local_path(one, "only-one.txt")
    shared = artifact_local_path(one, "shared.txt")
    assert len(object_files(store)) == 3
    duckml.delete_run(one)
    report = duckml.gc()
    assert report.runs_removed == 1 and report.experiments_removed == 0
    assert report.files_removed == 1 and report.bytes_freed == len("only in run one")
    assert object_files(store) == referenced_files(store) == {shared, artifact_local_path(two, "only-two.txt")}
    assert not only_one.exists()
    # 1 param + 2 metric points + tags + 2 artifacts + 1 run input + 1 run + 1 dataset no run uses any more
    assert report.rows_removed >= 9
    assert set(rows_of(store, one).values()) == {0}
    assert rows_of(store, two)["artifacts"] == 2
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM datasets").fetchone()[0] == 0
    assert Path(duckml.download_artifacts(two, "copy/shared.txt")).read_text() == "shared bytes"


def test_dry_run_reports_the_same_and_changes_nothing(two_runs, store):
    one, _ = two_runs
    duckml.delete_run(one)
    files_before = object_files(store)
    planned = duckml.gc(dry_run=True)
    assert planned.dry_run and "would remove" in str(planned)
    assert object_files(store) == files_before
    assert rows_of(store, one)["runs"] == 1
    done = duckml.gc()
    assert (planned.runs_removed, planned.rows_removed, planned.files_removed, planned.bytes_freed) == \
        (done.runs_removed, done.rows_removed, done.files_removed, done.bytes_freed)
    assert duckml.gc() == GcReport(0, 0, 0, 0, 0)


def test_deleted_experiment_goes_with_its_runs(store):
    duckml.create_experiment("doomed", tags={"owner": "me"})
    with duckml.start_run(experiment_name="doomed") as run:
        duckml.log_text("bye", "bye.txt")
    duckml.delete_experiment("doomed")
    report = duckml.gc()
    assert (report.runs_removed, report.experiments_removed, report.files_removed) == (1, 1, 1)
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM experiments WHERE name = 'doomed'").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM experiment_tags").fetchone()[0] == 0
    assert rows_of(store, run.info.run_id)["runs"] == 0
    duckml.set_experiment("doomed")  # the name is free again


def test_a_run_with_a_registered_model_version_is_kept(two_runs, store):
    one, _ = two_runs
    with store.write() as con:
        con.execute("INSERT INTO model_versions (name, version, run_id, source_uri, created_at) VALUES (?, 1, ?, ?, ?)",
                    ["m", one, f"runs:/{one}/model", datetime(2026, 1, 1)])
    duckml.delete_run(one)
    before = object_files(store)
    report = duckml.gc()
    assert report.runs_kept == (one,) and report.runs_removed == 0 and report.files_removed == 0
    assert "kept 1 deleted run(s)" in str(report)
    assert object_files(store) == before and rows_of(store, one)["artifacts"] == 2


def test_orphans_stale_temps_and_tombstones(two_runs, store):
    objects = Path(store.artifact_root) / "objects"
    orphan = object_path(store.artifact_root, "ab" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"nobody points here")
    stale, fresh = objects / ".tmp-stale", objects / ".tmp-fresh"
    stale.write_bytes(b"crashed logger")
    fresh.write_bytes(b"a logger still writing")
    old = time.time() - gc_module.STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    # an interrupted gc left a referenced object as a tombstone: it must come back
    one, _ = two_runs
    kept = artifact_local_path(one, "only-one.txt")
    tomb = kept.with_name(kept.name + ".gc-0123abcd")
    os.replace(kept, tomb)
    report = duckml.gc()
    assert report.files_removed == 2
    assert report.bytes_freed == len(b"nobody points here") + len(b"crashed logger")
    assert not orphan.exists() and not stale.exists() and fresh.exists()
    assert kept.read_text() == "only in run one" and not tomb.exists()


def test_an_object_reused_during_gc_is_restored(two_runs, store, monkeypatch):
    """The race gc guards against: a logger references an object between gc's two reads."""
    one, two = two_runs
    duckml.delete_run(one)
    only_one = artifact_local_path(one, "only-one.txt")
    real_referenced = gc_module._referenced
    calls = []

    def referenced_with_a_late_logger(store_, ignoring_runs=()):
        calls.append(1)
        if len(calls) == 2:  # after the tombstones were made, another run logs the same bytes
            store_.journal.upsert("artifacts", {"run_id": two, "path": "late.txt", "size": only_one.stat().st_size
                                                if only_one.exists() else 15, "sha256": only_one.name,
                                                "media_type": "text/plain", "created_at": datetime(2026, 1, 1)})
        return real_referenced(store_, ignoring_runs)

    monkeypatch.setattr(gc_module, "_referenced", referenced_with_a_late_logger)
    report = duckml.gc()
    assert report.files_removed == 0 and only_one.exists()
    assert Path(duckml.download_artifacts(two, "late.txt")).read_text() == "only in run one"


def test_duckml_gc_is_callable_in_any_import_order(store):
    import duckml.tracking.cleanup  # noqa: F401  (the module lives under another name, so it cannot hide the function)

    assert isinstance(duckml.gc(dry_run=True), GcReport)


def test_report_str_is_one_line(store):
    text = str(GcReport(1, 0, 7, 2, 48213))
    assert text == "gc removed 1 run(s), 0 experiment(s), 7 row(s) and 2 file(s), freeing 48213 bytes"


def test_min_age_spares_recent_unreferenced_objects(two_runs, store):
    recent = object_path(store.artifact_root, "cd" * 32)
    old = object_path(store.artifact_root, "ef" * 32)
    for path in (recent, old):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"rows still in another machine's journal?")
    an_hour_ago = time.time() - 3700
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert duckml.gc(dry_run=True, min_age_seconds=3600).files_removed == 1
    report = duckml.gc(min_age_seconds=3600)
    assert report.files_removed == 1 and recent.exists() and not old.exists()
    assert duckml.gc().files_removed == 1 and not recent.exists()  # a file store's default: no age guard


def test_a_lake_store_keeps_an_hour_by_default(store, monkeypatch):
    monkeypatch.setattr(type(store.store), "artifact_rows_can_hide", True)
    orphan = object_path(store.artifact_root, "ab" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"just stored by another machine")
    assert duckml.gc().files_removed == 0 and orphan.exists()
    assert duckml.gc(min_age_seconds=0).files_removed == 1


def test_reusing_an_object_refreshes_its_mtime(store):
    with duckml.start_run() as first:
        duckml.log_text("same bytes", "a.txt")
    path = artifact_local_path(first.info.run_id, "a.txt")
    long_ago = time.time() - 10 * 3600
    os.utime(path, (long_ago, long_ago))
    with duckml.start_run():
        duckml.log_text("same bytes", "b.txt")  # the object exists: reused, not rewritten
    assert path.stat().st_mtime > time.time() - 600


def test_cli_gc_min_age(two_runs, store):
    from click.testing import CliRunner

    from duckml.cli import cli

    orphan = object_path(store.artifact_root, "ab" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"x")
    result = CliRunner().invoke(cli, ["gc", "--min-age", "3600"])
    assert result.exit_code == 0 and "0 file(s)" in result.output and orphan.exists()
    result = CliRunner().invoke(cli, ["gc", "--min-age", "-1"])
    assert result.exit_code == 2 and "min-age" in result.output
