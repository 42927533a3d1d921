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
