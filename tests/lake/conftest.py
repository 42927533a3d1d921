"""Lake tests run against a real PostgreSQL: `.ci/postgres-start`'s (DUCKML_TEST_PG), else a private one.

Every test gets its own database, shared data folder and machine-local journal folder under tmp_path.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pgcluster import PgCluster  # noqa: E402

from duckml.store.lake_extensions import lake_extensions_available  # noqa: E402


@pytest.fixture(scope="session")
def pg_cluster():
    if not lake_extensions_available():
        pytest.skip('the ducklake/postgres extension wheels are not installed: pip install "duckml[lake]"')
    cluster = PgCluster.from_environment()
    if cluster is not None:
        yield cluster
        return
    try:
        cluster = PgCluster.start_private()
    except RuntimeError as error:
        pytest.skip(f"no PostgreSQL for the lake tests: DUCKML_TEST_PG is unset and a private cluster "
                    f"cannot be started ({error}); run .ci/postgres-start")
    try:
        yield cluster
    finally:
        cluster.close()


class Lake:
    """One lake for one test: its spec, shared data folder, and a way to make machines."""

    def __init__(self, cluster: PgCluster, conninfo: str, root: Path):
        self.cluster = cluster
        self.conninfo = conninfo
        self.spec = f"ducklake:postgres:{conninfo}"
        self.root = root
        self.data_path = root / "shared"

    def machine_env(self, name: str) -> dict:
        """The environment of a simulated machine: its own HOME and journal, the shared lake."""
        home = self.root / "machines" / name
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUCKML_")}
        env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), DUCKML_STORE=self.spec,
                   DUCKML_DATA_PATH=str(self.data_path), DUCKML_LOCK_TIMEOUT="120",
                   PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]), str(Path(__file__).parent)]))
        return env


@pytest.fixture
def lake(pg_cluster, tmp_path, monkeypatch):
    """A fresh lake selected for this process (as machine "local")."""
    conninfo = pg_cluster.create_database("t" + uuid.uuid4().hex[:12])
    made = Lake(pg_cluster, conninfo, tmp_path)
    local = tmp_path / "machines" / "local"
    monkeypatch.setenv("XDG_CACHE_HOME", str(local / ".cache"))
    monkeypatch.setenv("DUCKML_STORE", made.spec)
    monkeypatch.setenv("DUCKML_DATA_PATH", str(made.data_path))
    monkeypatch.delenv("DUCKML_JOURNAL_DIR", raising=False)
    return made
