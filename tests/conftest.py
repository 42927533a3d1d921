"""Every test gets its own store in a tmp folder and a process state as fresh as a new interpreter's.

Creating a store runs every schema and SQL definition (about 60 ms); copying a store made once per session
costs about 1 ms, which keeps the fast tier fast. ``store_from_template`` does the same for fixtures that
fill a store with the same content for many tests.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import settings

import duckml

STORE_FILE = "test.duckdb"


class StoreTemplates:
    """Stores built once per session, copied into each test's folder (the database file and artifacts)."""

    def __init__(self, root: Path):
        self.root = root
        self.built: dict[str, object] = {}

    @staticmethod
    def store_path(folder: Path) -> Path:
        """The store file of a copy made into ``folder``."""
        return folder / STORE_FILE

    def copy_into(self, name: str, build: Callable[[Path], object], folder: Path) -> object:
        """Copy the store ``name`` into ``folder``, building it first (through the fluent API) if new.

        ``build(template_folder)`` runs with the template selected as the store (files it logs belong in
        ``template_folder``, which is copied too) and returns what the tests need (ids);
        the same value is returned for every copy. The store must be closed (``reset_state``) around it.
        """
        source = self.root / name
        if name not in self.built:
            source.mkdir()
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("DUCKML_STORE", str(source / STORE_FILE))
                duckml.reset_state()
                duckml.connect(source / STORE_FILE)
                self.built[name] = build(source)
                duckml.flush()
                duckml.reset_state()
        shutil.copytree(source, folder, dirs_exist_ok=True)
        return copy.deepcopy(self.built[name])


@pytest.fixture(scope="session")
def store_templates(tmp_path_factory) -> StoreTemplates:
    return StoreTemplates(tmp_path_factory.mktemp("store-templates"))


@pytest.fixture
def store_from_template(store_templates, tmp_path, fresh_store):
    """``store_from_template(name, build)``: replace this test's store by a copy of a store built once."""
    def replace(name: str, build: Callable[[Path], object]) -> object:
        duckml.reset_state()
        value = store_templates.copy_into(name, build, tmp_path)
        duckml.connect(tmp_path / STORE_FILE)
        return value
    return replace


# Property tests that touch a store (tens of ms an example) leave max_examples to these profiles: the full
# suite explores more, the inner loop (-m "not slow") fewer. Pure ones keep their own, larger counts.
settings.register_profile("thorough", max_examples=30)
settings.register_profile("quick", max_examples=8)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: multi-process, server, browser or benchmark test (deselect with "
                                       "-m 'not slow' for the seconds-long inner loop)")
    inner_loop = "not slow" in (config.getoption("markexpr", "") or "")
    # The inner loop's DuckDB connections run on one thread: an xdist worker is one of N processes on N
    # cores, where a thread per core in each in-memory instance only fights the other workers (-n 2 on 2
    # cores: 45 s -> 36 s), and even one process spends less starting them (64 s -> 57 s). The full suite
    # (CI) keeps DuckDB's default, so multi-threaded scans stay covered.
    if inner_loop or os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("DUCKML_DUCKDB_THREADS", "1")
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("quick" if inner_loop else "thorough"))


@pytest.fixture(autouse=True)
def fresh_store(tmp_path, monkeypatch, store_templates):
    """An empty store file in this test's folder, selected for the fluent API and the CLI (DUCKML_STORE).

    Nothing is opened: a test that never touches the store pays only the copy.
    """
    path = tmp_path / STORE_FILE
    monkeypatch.setenv("DUCKML_STORE", str(path))
    monkeypatch.setenv("DUCKML_LOCK_TIMEOUT", "60")
    duckml.reset_state()
    store_templates.copy_into("empty", lambda folder: None, tmp_path)
    yield path
    while duckml.active_run() is not None:
        duckml.end_run()
    duckml.reset_state(flush=False)  # the folder is thrown away: ingesting what is left would be wasted


@pytest.fixture
def store(fresh_store):
    """A connection to this test's store (``duckml.connect``)."""
    return duckml.connect(fresh_store)
