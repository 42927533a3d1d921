"""Doctests of duckml/ run against a throw-away store, never ./duckml.duckdb (tests/conftest.py does the same
for the test suite)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _doctest_store(request, tmp_path, monkeypatch):
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    from duckml.tracking import fluent
    from duckml.store import store as store_module
    from duckml.tracking import runs as tracking

    monkeypatch.setenv("DUCKML_STORE", str(tmp_path / "doctest.duckdb"))
    monkeypatch.chdir(tmp_path)
    store_module._selected_path = None
    fluent._reset_for_tests()
    yield
    while fluent.active_run() is not None:
        fluent.end_run()
    fluent._reset_for_tests()
    tracking.forget_cached_runs()
    store_module._selected_path = None
