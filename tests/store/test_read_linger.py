"""A burst of reads keeps the file attached read-only for a moment; writers are never kept out for long."""

from __future__ import annotations

import multiprocessing
import time

import duckdb
import pytest

import duckml
from duckml.errors import InvalidInputError
from duckml.store.store import Store


def _read_write_open_works(path) -> bool:
    try:
        duckdb.connect(str(path)).close()
    except duckdb.Error:
        return False
    return True


@pytest.fixture(autouse=True)
def long_linger(store):
    """A linger window of a second: reads of a burst stay within it even on a loaded machine (the default
    50 ms is a scheduler-sized window that a busy CI box can miss)."""
    store.store.read_linger = 1.0


def _burst(store: Store, n: int = 3) -> None:
    for _ in range(n):
        store.sql("SELECT count(*) FROM runs").fetchall()


def test_an_isolated_read_lets_go_at_once(store):
    store.sql("SELECT 1").fetchall()
    assert not store.store.is_lingering()
    assert _read_write_open_works(store.path)


def test_a_burst_lingers_until_released(store):
    _burst(store)
    assert store.store.is_lingering()
    store.release()
    assert not store.store.is_lingering()
    assert _read_write_open_works(store.path)


def test_the_releaser_lets_go_after_the_linger_window(store):
    _burst(store)
    assert store.store.is_lingering()
    # the burst needed the long window to be sure to linger; the releaser only needs some window to wait
    # out, and a short one spares the test a second's sleep
    store.store.read_linger = 0.1
    deadline = time.monotonic() + 15
    while store.store.is_lingering() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not store.store.is_lingering()
    assert _read_write_open_works(store.path)


def test_reads_during_a_burst_see_new_journal_data(store):
    duckml.set_experiment("linger")
    with duckml.start_run() as run:
        duckml.log_metric("loss", 1.0, step=0)
        _burst(store)
        assert store.store.is_lingering()
        duckml.log_metric("loss", 0.5, step=1)  # journal only: the file stays attached read-only
        points = store.sql("SELECT count(*) FROM metrics WHERE run_id = ?", [run.info.run_id]).fetchone()[0]
        assert points == 2
        frame = duckml.search_runs(filter_string="metrics.loss < 0.7")
        assert frame["run_id"].to_list() == [run.info.run_id]
    # end_run wrote to the file (letting go of the read attachment first); reads now come straight from it
    _burst(store)
    assert store.sql("SELECT count(*) FROM metrics").fetchone()[0] == 2
    assert duckml.search_runs(filter_string="metrics.loss < 0.7")["run_id"].to_list() == [run.info.run_id]


def test_own_writes_are_not_blocked_by_own_lingering_read(store):
    _burst(store)
    store.sql("CREATE TABLE scratch AS SELECT 1 AS x")
    assert store.sql("SELECT x FROM scratch").fetchall() == [(1,)]


@pytest.mark.parametrize("value", ["soon", "-1", "20000"])
def test_bad_linger_setting_is_named(monkeypatch, tmp_path, value):
    monkeypatch.setenv("DUCKML_READ_LINGER_MS", value)
    with pytest.raises(InvalidInputError, match="DUCKML_READ_LINGER_MS"):
        Store(tmp_path / "s.duckdb")


def test_linger_can_be_turned_off(monkeypatch, tmp_path):
    monkeypatch.setenv("DUCKML_READ_LINGER_MS", "0")
    quiet = Store(tmp_path / "quiet.duckdb")
    quiet.create()
    _burst(quiet)
    assert not quiet.is_lingering()


def _poll_reads(path: str, seconds: float, started, reads) -> None:
    store = duckml.connect(path)
    started.set()
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        store.sql("SELECT count(*) FROM runs").fetchall()
        n += 1
    reads.value = n


@pytest.mark.slow
def test_a_polling_reader_process_does_not_keep_a_writer_out(store, monkeypatch):
    """A reader reading in a tight loop lingers all the time; the writer announces itself and gets in."""
    ctx = multiprocessing.get_context("spawn")
    started, reads = ctx.Event(), ctx.Value("q", 0)
    reader = ctx.Process(target=_poll_reads, args=(str(store.path), 4.0, started, reads))
    store.flush()  # the schema exists before the reader starts
    reader.start()
    try:
        assert started.wait(60)
        time.sleep(0.3)
        monkeypatch.setenv("DUCKML_LOCK_TIMEOUT", "10")
        waits = []
        for i in range(5):
            with duckml.start_run(run_name=f"r{i}"):
                duckml.log_metric("m", float(i))
            start = time.monotonic()
            duckml.flush()  # a read-write attach of the file, while the reader keeps reading
            waits.append(time.monotonic() - start)
    finally:
        reader.join(timeout=60)
    assert reads.value > 10
    assert len(duckml.search_runs()) == 5
    assert max(waits) < 10  # no StoreLockedError; the typical wait is a few ms (see the benchmarks)
