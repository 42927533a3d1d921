"""Issue 22, item 2: a store whose first process dies while creating it is completed by the next process,
never bricked; a file that holds anything else is still left untouched."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

import duckml
from duckml.store import schema
from store_children import child_env

# What duckml before issue 22 committed on its own before the first migration: a process killed right after
# it left a file that every later process refused.
_OLD_BOOKKEEPING_COLUMNS = ("version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, checksum VARCHAR NOT NULL, "
                            "applied_at TIMESTAMP NOT NULL")
_OLD_BOOKKEEPING_TABLE = f"CREATE TABLE _duckml_migrations ({_OLD_BOOKKEEPING_COLUMNS})"


def _age(path, seconds: float = 3600) -> None:
    long_ago = time.time() - seconds
    os.utime(path, (long_ago, long_ago))


def _log_and_read(path) -> None:
    """What the next process does: open, log, read it back."""
    duckml.reset_state()
    duckml.set_store(path)
    with duckml.start_run() as run:
        duckml.log_metric("loss", 0.5)
    assert duckml.get_run(run.info.run_id).data.metrics == {"loss": 0.5}
    duckml.reset_state()
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS store (READ_ONLY)")
    try:  # the file itself is a complete store: every migration, every definition
        assert schema.check(con, "store", path) == (False, False)
    finally:
        con.close()


def _new_duckdb_file_bytes(tmp_path) -> bytes:
    """The bytes DuckDB writes when it creates a file (three 4 KiB headers, before any data)."""
    fresh = tmp_path / "fresh-headers.duckdb"
    duckdb.connect(str(fresh)).close()
    return fresh.read_bytes()


def test_migrating_never_commits_the_bookkeeping_table_alone(tmp_path):
    """The root cause: the first migration and the table that records it land together or not at all."""
    path = tmp_path / "half.duckdb"
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS store")
    first = schema.migrations()[0]
    broken = schema.Migration(first.version, first.name, "SELECT no_such_function()")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schema, "migrations", lambda: [broken])
        with pytest.raises(duckdb.Error):
            schema.migrate(con, "store")
    assert schema.user_tables(con, "store") == []
    con.close()


def test_a_file_left_holding_only_the_empty_bookkeeping_table_is_completed(tmp_path):
    path = tmp_path / "bricked.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(_OLD_BOOKKEEPING_TABLE)
    _log_and_read(path)


@pytest.mark.parametrize("columns", ["version INTEGER, note VARCHAR", _OLD_BOOKKEEPING_COLUMNS])
def test_a_bookkeeping_table_with_rows_or_other_columns_is_not_taken_for_a_half_created_store(tmp_path, columns):
    path = tmp_path / "theirs.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE _duckml_migrations ({columns})")
        if "note" not in columns:  # ours, but a row of a migration this duckml does not know
            con.execute("INSERT INTO _duckml_migrations VALUES (1, 'theirs', 'x', now()::TIMESTAMP)")
    before = path.read_bytes()
    duckml.reset_state()
    with pytest.raises(duckml.errors.SchemaError):
        duckml.connect(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("size", [4096, 4108, 8192])
@pytest.mark.parametrize("written", ["just now", "an hour ago"])
def test_a_file_with_only_part_of_its_headers_is_recreated(tmp_path, size, written):
    """A creator killed right at creation leaves the first header block(s): nothing of anyone's in it.

    Nobody holds its lock, and DuckDB takes that lock before it writes a byte, so its writer is gone."""
    path = tmp_path / "stillborn.duckdb"
    path.write_bytes(_new_duckdb_file_bytes(tmp_path)[:size])
    if written != "just now":
        _age(path)
    _log_and_read(path)


@pytest.mark.parametrize("content", [b"my notes\n", b"\0" * 4096, b"x" * 100_000])
def test_a_small_file_that_is_not_duckdb_is_still_refused_and_kept(tmp_path, content):
    path = tmp_path / "notes.duckdb"
    path.write_bytes(content)
    _age(path)
    duckml.reset_state()
    with pytest.raises(duckml.errors.SchemaError, match="not a DuckDB database"):
        duckml.connect(path)
    assert path.read_bytes() == content


def test_a_header_only_file_beside_a_write_ahead_log_is_kept(tmp_path):
    """A WAL is not what a killed creator leaves (DuckDB writes it after the headers): someone's data."""
    path = tmp_path / "with-wal.duckdb"
    header = _new_duckdb_file_bytes(tmp_path)[:4096]
    path.write_bytes(header)
    wal = tmp_path / "with-wal.duckdb.wal"
    wal.write_bytes(b"someone's log")
    _age(path)
    duckml.reset_state()
    with pytest.raises(duckml.StoreError):
        duckml.connect(path)
    assert path.read_bytes() == header and wal.read_bytes() == b"someone's log"


# A child that creates the store and SIGKILLs itself at a chosen step of the creation (KILL_AT).
_CREATE_AND_DIE = """
    import os, signal, sys
    import duckml
    from duckml.store import schema

    point = os.environ["KILL_AT"]
    migration_sql = {migration.sql: migration.version for migration in schema.migrations()}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    migrate, store_definitions, create_definitions = schema.migrate, schema.store_definitions, schema.create_definitions

    def migrate_and_die(con, catalog, stop_after=None, rewrite=None):
        def statement(text):  # called on each statement just before it runs
            if point == f"before migration {migration_sql.get(text)}":
                die()
            return text
        return migrate(con, catalog, stop_after, statement)

    def die_before_definitions(con, catalog):
        if point == "before the definitions":
            die()
        return store_definitions(con, catalog)

    def definitions_then_die(con, **options):
        create_definitions(con, **options)
        if point == "before the definitions commit":
            die()

    schema.migrate, schema.store_definitions, schema.create_definitions = (
        migrate_and_die, die_before_definitions, definitions_then_die)
    duckml.connect(sys.argv[1])
    sys.exit(3)  # never reached: the kill point was not met
"""

_LOG_AND_READ = """
    import sys, duckml
    duckml.set_store(sys.argv[1])
    with duckml.start_run() as run:
        duckml.log_metric("loss", 0.25)
    duckml.flush()
    print(duckml.get_run(run.info.run_id).data.metrics["loss"])
"""


def _child(code: str, path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(path)], env=child_env(path, **env),
                          capture_output=True, text=True, timeout=120)


def _next_process_opens_logs_and_reads(path) -> None:
    after = _child(_LOG_AND_READ, path)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == "0.25"
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS store (READ_ONLY)")
    try:
        assert schema.check(con, "store", path) == (False, False)
        assert con.execute("SELECT count(*) FROM store.metrics").fetchone() == (1,)
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [f"before migration {m.version}" for m in schema.migrations()]
                         + ["before the definitions", "before the definitions commit"])
def test_a_process_killed_at_any_step_of_creating_the_store_leaves_one_the_next_completes(tmp_path, kill_at):
    path = tmp_path / "killed.duckdb"
    creator = _child(_CREATE_AND_DIE, path, KILL_AT=kill_at)
    assert creator.returncode == -signal.SIGKILL, creator.stderr
    _next_process_opens_logs_and_reads(path)


@pytest.mark.slow
def test_a_header_only_file_whose_creator_is_alive_is_waited_for_not_removed(tmp_path):
    """While a live process holds the lock of a file that has only its first header, it is still creating
    it: the next process waits, and opens what that process finishes (here: a store with one run in it)."""
    finished = tmp_path / "finished.duckdb"
    _child(_LOG_AND_READ, finished)
    path = tmp_path / "in-progress.duckdb"
    path.write_bytes(finished.read_bytes()[:4096])
    release = tmp_path / "release"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, shutil, time
        with open({str(path)!r}, "r+b") as handle:
            fcntl.lockf(handle, fcntl.LOCK_EX)
            print("locked", flush=True)
            while not os.path.exists({str(release)!r}):
                time.sleep(0.01)
            handle.write(open({str(finished)!r}, "rb").read())  # the creator finishes the file
            handle.flush()
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    opener = subprocess.Popen([sys.executable, "-c", "import sys, duckml; "
                               "print(duckml.connect(sys.argv[1]).sql('SELECT count(*) FROM runs').fetchone()[0])",
                               str(path)], env=child_env(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    time.sleep(1.0)  # the opener is waiting for the lock by now (or about to): either way it must wait
    assert opener.poll() is None
    release.touch()
    assert holder.wait(timeout=60) == 0
    out, err = opener.communicate(timeout=120)
    assert opener.returncode == 0, err
    assert out.strip() == "1"  # the creator's store, not one made anew over it


@pytest.mark.slow
def test_kills_at_random_moments_of_creating_a_store_never_brick_it(tmp_path):
    """The issue's experiment: SIGKILL the first process at random times after its file appears."""
    chooser = random.Random(22)
    for attempt in range(12):
        path = tmp_path / f"random-{attempt}.duckdb"
        creator = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_LOG_AND_READ), str(path)],
                                   env=child_env(path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not path.exists() and creator.poll() is None:
            time.sleep(0.001)
        time.sleep(chooser.uniform(0, 0.25))
        creator.send_signal(signal.SIGKILL)
        creator.wait(timeout=60)
        _next_process_opens_logs_and_reads_again(path)


def _next_process_opens_logs_and_reads_again(path) -> None:
    """As ``_next_process_opens_logs_and_reads``, where the killed process may have logged its own run too."""
    after = _child(_LOG_AND_READ, path)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == "0.25"
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS store (READ_ONLY)")
    try:
        assert schema.check(con, "store", path) == (False, False)
    finally:
        con.close()
