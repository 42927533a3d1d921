"""Issue 16, item 8: a team member who may only read the journal folder can still read the store.

Tests run as root, for whom ``chmod`` forbids nothing, so the read-only folder is made by refusing, with
EROFS as a read-only mount does, every call that would write under it: opening with a write flag,
creating, renaming, removing.
"""

from __future__ import annotations

import errno
import os
import struct
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

import duckml
from duckml.cli import cli
from duckml.store import journal

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@contextmanager
def read_only_folder(monkeypatch, folder: Path):
    """Every write under ``folder`` fails with EROFS; returns the list of refused calls."""
    root = os.path.realpath(folder)
    refused: list[str] = []

    def inside(path) -> bool:
        if isinstance(path, int):
            return False
        full = os.path.realpath(os.fsdecode(path))
        return full == root or full.startswith(root + os.sep)

    def refuse(name, path):
        refused.append(f"{name} {path}")
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    real_open = os.open

    def fake_open(path, flags, *args, **kwargs):
        if flags & _WRITE_FLAGS and inside(path):
            refuse("open", path)
        return real_open(path, flags, *args, **kwargs)

    def guard(name):
        real = getattr(os, name)

        def fake(path, *args, **kwargs):
            if inside(path) or (args and isinstance(args[0], (str, os.PathLike)) and inside(args[0])):
                refuse(name, path)
            return real(path, *args, **kwargs)
        return fake

    with monkeypatch.context() as patch:
        patch.setattr(os, "open", fake_open)
        for name in ("unlink", "remove", "rename", "replace", "mkdir", "rmdir", "utime"):
            patch.setattr(os, name, guard(name))
        yield refused


def _store_with_pending_segments(store):
    """A run in the file, plus records of writers that are gone: a checksummed segment and a legacy one
    (written before checksums, with the ``.lock`` file the old reader opened read-write)."""
    with duckml.start_run(run_name="shared") as run:
        duckml.log_param("p", 1)
        duckml.log_metric("m", 1.0)
    duckml.flush()
    duckml.reset_state()  # the reader's own process: no journal segment of its own
    run_id = run.info.run_id
    journal_dir = store.store.journal_dir
    writer = journal.JournalWriter(journal_dir)
    writer.write_event("u", "tags", {"run_id": run_id, "key": "team", "value": "forecast"})
    writer.write_metric(run_id, "m", 0.5, 1, 1_700_000_000_000_000)
    writer.close()
    legacy = "00000000000000000001-otherhost-1-abcdef01"
    (journal_dir / f"{legacy}.events").write_text(
        f'[1,"s","_duckml_series",{{"series_id":0,"run_id":"{run_id}","key":"old"}}]\n')
    (journal_dir / f"{legacy}.metrics").write_bytes(
        b"".join(struct.pack("<IIdqq", 0, 0, 7.0, i, 1_700_000_000_000_000 + i) for i in range(3)))
    (journal_dir / f"{legacy}.lock").write_bytes(b"")
    return run_id, journal_dir


def test_readers_read_a_read_only_journal_folder(store, monkeypatch):
    run_id, journal_dir = _store_with_pending_segments(store)
    with read_only_folder(monkeypatch, journal_dir) as refused:
        with pytest.raises(OSError):  # the folder really refuses writes, the old O_RDWR open included
            os.close(os.open(journal_dir / "00000000000000000001-otherhost-1-abcdef01.lock", os.O_RDWR))
        refused.clear()

        runs = duckml.search_runs()
        assert runs["run_id"].to_list() == [run_id]
        run = duckml.get_run(run_id)
        assert run.data.tags["team"] == "forecast"  # from the pending segment, through the live views
        assert run.data.metrics == {"m": 0.5, "old": 7.0}
        assert run.data.params == {"p": "1"}
        assert len(duckml.get_metric_history(run_id, "old")) == 3

        for args in (["runs", "list"], ["runs", "show", run_id], ["experiments", "list"]):
            result = CliRunner().invoke(cli, args, catch_exceptions=False)
            assert result.exit_code == 0, (args, result.output)
            assert "Errno" not in result.output and "Traceback" not in result.output
        assert "shared" in CliRunner().invoke(cli, ["runs", "list"]).output
    assert refused == []  # reading tried no write at all


def test_a_read_only_journal_folder_keeps_its_records_for_a_writer(store, monkeypatch):
    run_id, journal_dir = _store_with_pending_segments(store)
    with read_only_folder(monkeypatch, journal_dir):
        duckml.search_runs()
    duckml.reset_state()
    duckml.flush()  # someone allowed to write ingests later: nothing was lost or half-removed
    assert store.sql("SELECT count(*) FROM metrics WHERE run_id = ?", [run_id]).fetchone()[0] == 1 + 1 + 3
    assert store.sql("SELECT value FROM tags WHERE key = 'team'").fetchone() == ("forecast",)


@contextmanager
def read_only_mount(folder: Path):
    """``folder`` bind-mounted read-only onto itself (root only; skips where mounting is not permitted)."""
    import subprocess

    def run(*args):
        return subprocess.run(args, capture_output=True, text=True)

    if run("mount", "--bind", str(folder), str(folder)).returncode != 0:
        pytest.skip("bind mounts are not permitted here")
    try:
        remount = run("mount", "-o", "remount,ro,bind", str(folder))
        if remount.returncode != 0:
            pytest.skip(f"a read-only remount is not permitted here: {remount.stderr.strip()}")
        yield
    finally:
        run("umount", str(folder))


@pytest.mark.slow
def test_readers_read_a_journal_folder_on_a_read_only_mount(store):
    run_id, journal_dir = _store_with_pending_segments(store)
    with read_only_mount(journal_dir):
        with pytest.raises(OSError) as refused:
            (journal_dir / "probe").touch()
        assert refused.value.errno == errno.EROFS
        run = duckml.get_run(run_id)
        assert run.data.tags["team"] == "forecast" and run.data.metrics == {"m": 0.5, "old": 7.0}
        assert duckml.search_runs()["run_id"].to_list() == [run_id]
        result = CliRunner().invoke(cli, ["runs", "list"], catch_exceptions=False)
        assert result.exit_code == 0 and "shared" in result.output, result.output
        assert "Errno" not in result.output
        duckml.reset_state()  # nothing of ours to flush, and nothing written under the folder
    assert sorted(p.name for p in journal_dir.iterdir() if p.suffix == ".events")  # the segments are all there
