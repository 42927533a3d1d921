"""Issue 16, item 10: while another program holds the DuckDB file read-write, set_experiment, start_run,
logging and end_run all succeed (the journal keeps everything), and it all lands once the file is free."""

from __future__ import annotations

import os

import duckdb
import pytest

import duckml
from duckml.errors import ParamConflictError, RunStateError, StoreLockedError
from duckml.store import Store, experiment_names, journal
from duckml.tracking.runs import experiment_id_for
from store_children import run_child, start_child


# -- the cache of experiment names ------------------------------------------------------------
def test_the_name_cache_round_trips_and_survives_damage(tmp_path):
    tmp_path = tmp_path / "journal"
    rows = [("42", "imported", "active", None), ("7", "gone", "deleted", None), ("8", "gone", "active", None)]
    experiment_names.remember(tmp_path, rows)
    assert experiment_names.lookup_name(tmp_path, "imported")["id"] == "42"
    assert experiment_names.lookup_name(tmp_path, "gone")["id"] == "7"  # the first row of a name wins
    assert experiment_names.lookup_id(tmp_path, "42")[0] == "imported"
    assert experiment_names.lookup_name(tmp_path, "unknown") is None
    (tmp_path / experiment_names.CACHE_FILE).write_bytes(b'{"format": 1, "experiments": {"x": [tor')
    assert experiment_names.read_cache(tmp_path) == {}  # a torn or foreign file is an empty cache
    (tmp_path / experiment_names.CACHE_FILE).write_bytes(b"\xff\xfe garbage")
    assert experiment_names.read_cache(tmp_path) == {}
    (tmp_path / experiment_names.CACHE_FILE).write_text('[1, 2]')
    assert experiment_names.read_cache(tmp_path) == {}


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "read-only journal folder")

    folder = tmp_path / "journal"
    monkeypatch.setattr(os, "replace", refuse)
    experiment_names.remember(folder, [("1", "a", "active", None)])
    assert experiment_names.read_cache(folder) == {}
    assert not list(folder.iterdir())  # no temporary file left behind


def test_aliases_name_only_experiments_stored_under_another_id():
    assert experiment_names.aliases([("42", "imported"), (experiment_id_for("native"), "native"),
                                     ("0", "Default")]) == {experiment_id_for("imported"): "42"}


# -- a busy file, simulated: every attach is refused as when another program holds the file --------------
def _busy(monkeypatch):
    def refused(self, read_only, timeout=None):
        raise StoreLockedError(f"store {self.path} was held by process 1 (simulated)")

    monkeypatch.setattr(Store, "_attach", refused)


def _prepare(store):
    """An existing and a deleted experiment that duckml has seen, and one imported under its own id that it
    has not (written by another tool): the cache knows the first two only."""
    existing = duckml.set_experiment("existing").experiment_id
    with duckml.start_run():
        duckml.log_metric("before", 1.0)
    duckml.set_experiment("gone")
    duckml.delete_experiment("gone")  # the cache learns its stage at once
    duckml.flush()
    duckml.reset_state()
    with duckdb.connect(str(store.path)) as con:  # another tool, as `duckml import mlflow` keeps MLflow's ids
        con.execute("INSERT INTO experiments VALUES ('42', 'imported', 'active', now(), now())")
    return existing


def _log_a_run(**start):
    with duckml.start_run(**start) as run:
        duckml.log_param("p", 1)
        duckml.log_metric("m", 2.0, step=1)
        duckml.set_tag("t", "v")
    return run.info.run_id


def test_start_run_and_logging_need_no_file_and_land_once_it_is_free(store, monkeypatch):
    existing = _prepare(store)
    with monkeypatch.context() as patch:
        _busy(patch)
        with pytest.raises(StoreLockedError):  # the simulation holds: reads do need the file
            duckml.search_runs()
        assert duckml.set_experiment("existing").experiment_id == existing  # from the cache
        in_existing = _log_a_run()
        with pytest.raises(RunStateError, match="deleted"):  # the cache knows its stage
            duckml.set_experiment("gone")
        new = duckml.set_experiment("brand-new")
        assert new.experiment_id == experiment_id_for("brand-new")
        in_new = _log_a_run()
        in_imported = _log_a_run(experiment_name="imported")  # the cache missed it: derived id for now
        by_id = _log_a_run(experiment_id=existing)
        duckml.set_experiment("Default")
        in_default = _log_a_run()
        duckml.set_experiment("imported")  # this process keeps the derived id as its active experiment
    # the file is free: readers see it all at once (the overlay moves "imported" onto the stored id)
    runs = duckml.search_runs(experiment_names=["imported"])
    assert runs["run_id"].to_list() == [in_imported]
    duckml.flush()
    later = _log_a_run()  # journaled under the derived id after the merge was ingested: moved too
    duckml.flush()
    duckml.reset_state()
    with duckdb.connect(str(store.path), read_only=True) as con:  # a plain duckdb client
        placed = dict(con.execute("SELECT run_id, experiment_id FROM runs").fetchall())
        names = con.execute("SELECT name, count(*) FROM experiments GROUP BY name ORDER BY name").fetchall()
        points = con.execute("SELECT count(*), count(DISTINCT run_id) FROM metrics WHERE key = 'm'").fetchone()
        params = con.execute("SELECT count(*) FROM params").fetchone()[0]
        statuses = {r[0] for r in con.execute("SELECT status FROM runs").fetchall()}
    assert placed[in_existing] == placed[by_id] == existing
    assert placed[in_new] == experiment_id_for("brand-new")
    assert placed[in_imported] == placed[later] == "42"
    assert placed[in_default] == "0"
    assert dict(names) == {"Default": 1, "brand-new": 1, "existing": 1, "gone": 1, "imported": 1}
    assert points == (6, 6) and params == 6
    assert statuses == {"FINISHED"}


def test_an_unknown_experiment_id_is_not_guessed_while_the_file_is_busy(store, monkeypatch):
    _prepare(store)
    with monkeypatch.context() as patch:
        _busy(patch)
        with pytest.raises(StoreLockedError):  # it cannot be checked: no run may go to a missing experiment
            duckml.start_run(experiment_id="no-such-id")


def test_logging_to_a_run_of_another_process_while_the_file_is_busy(store, monkeypatch):
    _prepare(store)
    other = journal.JournalWriter(store.store.journal_dir)  # a live process that created a run
    run_id = "ab" * 16
    other.write_event("i", "runs", {"run_id": run_id, "experiment_id": "0", "run_name": "driver",
                                    "status": "RUNNING", "start_time": 1_700_000_000_000_000, "end_time": None,
                                    "lifecycle_stage": "active", "parent_run_id": None})
    other.write_event("i", "params", {"run_id": run_id, "key": "p", "value": "1"})
    with monkeypatch.context() as patch:
        _busy(patch)
        duckml.log_metric("m", 3.0, step=1, run_id=run_id)  # the journal knows the run
        with pytest.raises(ParamConflictError):  # and its params: immutability still holds
            duckml.log_param("p", 2, run_id=run_id)
        with duckml.start_run(run_id=run_id) as resumed:
            assert resumed.info.run_name == "driver"
            duckml.log_metric("resumed", 1.0)
        with pytest.raises(StoreLockedError):  # a run the journal does not hold cannot be checked
            duckml.log_metric("m", 1.0, run_id="cd" * 16)
    duckml.flush()
    run = duckml.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params == {"p": "1"}
    assert run.data.metrics == {"m": 3.0, "resumed": 1.0}
    other.close()


# -- a real second program ------------------------------------------------------------------------
@pytest.mark.slow
def test_runs_start_and_end_while_a_plain_duckdb_client_holds_the_file(store, tmp_path, monkeypatch):
    existing = _prepare(store)
    monkeypatch.setenv("DUCKML_LOCK_TIMEOUT", "5")
    held, done = tmp_path / "held", tmp_path / "done"
    holder = start_child(f"""
        import duckdb, os, time
        con = duckdb.connect({str(store.path)!r})  # read-write: DuckDB refuses every other process
        open({str(held)!r}, "w").close()
        while not os.path.exists({str(done)!r}):
            time.sleep(0.01)
        con.close()
        """, store.path)
    try:
        while not held.exists():
            assert holder.poll() is None, holder.stderr.read()
        # another duckml process, fresh (its store never opened), creates the same new name meanwhile
        other = run_child("""
            import duckml
            duckml.set_experiment("shared-new")
            with duckml.start_run() as run:
                duckml.log_param("p", 1)
                duckml.log_metric("m", 2.0, step=1)
            print(run.info.run_id)
            """, store.path, DUCKML_LOCK_TIMEOUT=600, DUCKML_EXIT_LOCK_TIMEOUT=1)
        # its exit flush gives up after 1 s, not the 600 s lock timeout (run_child fails after 120 s): the
        # journal keeps the run, and stderr says so
        assert other.returncode == 0, other.stderr
        assert "Traceback" not in other.stderr
        assert "stays in the journal" in other.stderr or "stays in the\njournal" in other.stderr, other.stderr
        other_run = other.stdout.split()[-1]
        duckml.log_metric("by_id", 3.0, run_id=other_run)  # a run of another process, from the journal
        with duckml.start_run(run_id=other_run):
            duckml.log_metric("resumed", 1.0)
        assert duckml.set_experiment("existing").experiment_id == existing
        in_existing = _log_a_run()
        duckml.set_experiment("shared-new")
        in_shared = _log_a_run()
        in_imported = _log_a_run(experiment_name="imported")
        in_default = _log_a_run(experiment_name="Default")
        assert holder.poll() is None  # all of it while the file was held
    finally:
        done.touch()
        holder.wait(timeout=60)
    duckml.flush()
    duckml.reset_state()
    with duckdb.connect(str(store.path), read_only=True) as con:
        placed = dict(con.execute("SELECT run_id, experiment_id FROM runs").fetchall())
        names = dict(con.execute("SELECT name, count(*) FROM experiments GROUP BY name").fetchall())
        per_run = con.execute("SELECT run_id, count(*) FROM metrics WHERE key = 'm' GROUP BY run_id").fetchall()
        params = con.execute("SELECT count(*) FROM params").fetchone()[0]
    assert placed[in_existing] == existing
    assert placed[in_shared] == placed[other_run] == experiment_id_for("shared-new")
    assert placed[in_imported] == "42"
    assert placed[in_default] == "0"
    assert names["shared-new"] == names["imported"] == names["existing"] == 1
    assert sorted(count for _, count in per_run) == [1] * 5  # every point exactly once
    assert params == 5
    assert duckml.get_run(other_run).data.metrics == {"m": 2.0, "by_id": 3.0, "resumed": 1.0}


def test_the_exit_wait_is_bounded_and_checked(monkeypatch):
    from duckml.errors import InvalidInputError
    from duckml.store.settings import exit_lock_timeout

    monkeypatch.setenv("DUCKML_LOCK_TIMEOUT", "60")
    monkeypatch.delenv("DUCKML_EXIT_LOCK_TIMEOUT", raising=False)
    assert exit_lock_timeout() == 5
    monkeypatch.setenv("DUCKML_EXIT_LOCK_TIMEOUT", "120")
    assert exit_lock_timeout() == 60  # never longer than the lock timeout
    monkeypatch.setenv("DUCKML_EXIT_LOCK_TIMEOUT", "soon")
    with pytest.raises(InvalidInputError, match="DUCKML_EXIT_LOCK_TIMEOUT"):
        exit_lock_timeout()
