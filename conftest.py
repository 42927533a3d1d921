"""Doctests of duckml/ run against a throw-away store, never ./duckml.duckdb (tests/conftest.py does the same
for the test suite)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _doctest_store(request, tmp_path, monkeypatch):
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    import duckml

    monkeypatch.setenv("DUCKML_STORE", str(tmp_path / "doctest.duckdb"))
    monkeypatch.chdir(tmp_path)
    duckml.reset_state()
    yield
    while duckml.active_run() is not None:
        duckml.end_run()
    duckml.reset_state()
