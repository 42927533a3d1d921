"""Threads of one process share a store's DuckDB connection only one at a time.

DuckDB runs a statement that calls back into Python (an Arrow scan of a registered table, a UDF) by taking
the GIL back now and then. A second thread that entered the same connection meanwhile, holding the GIL,
froze both: ``Store.sql`` parsed its query on the connection outside the store's lock while the
background ingester's Arrow scan ran (a test run hung that way, every thread waiting). The scenario runs in
a child interpreter, as a deadlock would freeze the test process itself.
"""

from __future__ import annotations

import pytest

from tests.store.store_children import run_child

pytestmark = pytest.mark.slow  # a child interpreter

CALLBACK_WHILE_SQL = """
    import threading, time
    import duckml

    store = duckml.connect().store
    store.sql("SELECT 1")
    inside = threading.Event()

    def slow(x: int) -> int:
        inside.set()
        for _ in range(20):
            time.sleep(0.01)  # lets go of the GIL, then needs it back
        return x

    def hold_the_connection():
        with store.read() as con:
            con.create_function("slow_identity", slow, ["BIGINT"], "BIGINT")
            con.execute("SELECT slow_identity(1)").fetchall()

    worker = threading.Thread(target=hold_the_connection, daemon=True)
    worker.start()
    assert inside.wait(30)
    print(store.sql("SELECT 41 + 1 AS answer").fetchall())
    worker.join(30)
    print("worker alive:", worker.is_alive())
"""


def test_store_sql_waits_for_a_statement_another_thread_runs_on_the_connection(tmp_path):
    result = run_child(CALLBACK_WHILE_SQL, tmp_path / "s.duckdb", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[(42,)]", "worker alive: False"]


RESULTS_OF_TWO_THREADS = """
    import threading
    import duckml

    store = duckml.connect().store
    done, errors = [0, 0], []

    def consume(k):
        try:
            for _ in range(150):
                result = store.sql("SELECT range AS x FROM range(20000)")
                assert result.aggregate("sum(x)").fetchall() == [(199990000,)]
                assert result.pl().height == 20000
                done[k] += 1
        except Exception as error:  # reported, not swallowed: the parent asserts on it
            errors.append(repr(error))

    threads = [threading.Thread(target=consume, args=(k,)) for k in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    print(done, errors)
"""


def test_results_of_two_threads_do_not_share_a_connection(tmp_path):
    # they did: both threads' relations ran on one results connection and broke each other's queries
    # ("Attempting to execute an unsuccessful or closed pending query result")
    result = run_child(RESULTS_OF_TWO_THREADS, tmp_path / "s.duckdb", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[150, 150] []"
