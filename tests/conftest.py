"""Every test gets its own store in a tmp folder, a clean active-run stack and a clean run cache."""

from __future__ import annotations

import pytest

import duckml
from duckml.tracking import fluent
from duckml.store import store as store_module
from duckml.tracking import runs as tracking


def _forget(path) -> None:
    store = store_module._stores.pop(path, None)
    if store is not None:
        store.close()
        if store in store_module._exit_stores:
            store_module._exit_stores.remove(store)


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch):
    """A fresh store, selected for the fluent API and the CLI (through DUCKML_STORE)."""
    path = tmp_path / "test.duckdb"
    monkeypatch.setenv("DUCKML_STORE", str(path))
    monkeypatch.setenv("DUCKML_LOCK_TIMEOUT", "60")
    store_module._selected_path = None
    fluent._reset_for_tests()
    tracking.forget_cached_runs()
    handle = duckml.get_store(path)
    yield handle
    while duckml.active_run() is not None:
        duckml.end_run()
    fluent._reset_for_tests()
    for known in list(store_module._stores):
        _forget(known)
    store_module._selected_path = None
    tracking.forget_cached_runs()
