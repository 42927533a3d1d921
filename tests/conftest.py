"""Every test gets its own store in a tmp folder and a process state as fresh as a new interpreter's."""

from __future__ import annotations

import pytest

import duckml


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: multi-process, server, browser or benchmark test (deselect with "
                                       "-m 'not slow' for the seconds-long inner loop)")


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch):
    """A fresh store, selected for the fluent API and the CLI (through DUCKML_STORE)."""
    path = tmp_path / "test.duckdb"
    monkeypatch.setenv("DUCKML_STORE", str(path))
    monkeypatch.setenv("DUCKML_LOCK_TIMEOUT", "60")
    duckml.reset_state()
    handle = duckml.connect(path)
    yield handle
    while duckml.active_run() is not None:
        duckml.end_run()
    duckml.reset_state()
