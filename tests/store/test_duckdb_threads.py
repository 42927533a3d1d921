"""$DUCKML_DUCKDB_THREADS: the DuckDB threads of every connection duckml opens."""

from __future__ import annotations

import pytest

import duckml
from duckml.errors import InvalidInputError
from duckml.store.handles import duckdb_threads, quiet_connection


def _threads(con) -> int:
    return con.execute("SELECT current_setting('threads')").fetchone()[0]


def test_every_connection_of_the_store_starts_with_the_threads_asked_for(monkeypatch, fresh_store):
    monkeypatch.setenv("DUCKML_DUCKDB_THREADS", "1")
    con = duckml.connect(fresh_store)
    assert con.sql("SELECT current_setting('threads') AS t").fetchone() == (1,)
    with con.store.read() as inside:
        assert _threads(inside) == 1


def test_a_temporary_cap_returns_to_the_configured_threads_not_to_duckdb_s_default(monkeypatch):
    monkeypatch.setenv("DUCKML_DUCKDB_THREADS", "1")
    con = quiet_connection()
    with duckdb_threads(con, 3):
        assert _threads(con) == 3
    assert _threads(con) == 1


def test_unset_leaves_duckdb_s_default(monkeypatch):
    monkeypatch.delenv("DUCKML_DUCKDB_THREADS", raising=False)
    import duckdb

    assert _threads(quiet_connection()) == _threads(duckdb.connect())


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_a_bad_value_is_named(monkeypatch, text):
    monkeypatch.setenv("DUCKML_DUCKDB_THREADS", text)
    with pytest.raises(InvalidInputError, match="DUCKML_DUCKDB_THREADS"):
        quiet_connection()
