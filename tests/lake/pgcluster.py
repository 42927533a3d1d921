"""A throw-away PostgreSQL for the lake tests: the one `.ci/postgres-start` made, or a private one.

`DUCKML_TEST_PG` (a libpq conninfo) names a running server; `DUCKML_TEST_PGDATA` its data folder, which
lets the tests stop and start it. Without them, a private cluster is made in a temp folder when the
PostgreSQL binaries exist and we may run them (as root the server runs as the `postgres` OS user).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bindir() -> Path | None:
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in Path(p).parent.name.split(".") if x.isdigit()])
    return Path(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def conninfo_field(conninfo: str, field: str) -> str | None:
    for part in conninfo.split():
        key, _, value = part.partition("=")
        if key == field:
            return value
    return None


class PgCluster:
    """A PostgreSQL server the tests may create databases on, and stop and start when it knows its data dir."""

    def __init__(self, conninfo: str, pgdata: str | None = None, owned_base: str | None = None):
        self.conninfo = conninfo
        self.pgdata = pgdata
        self.owned_base = owned_base
        self.bindir = _bindir()
        self.port = conninfo_field(conninfo, "port") or "5432"
        self.host = conninfo_field(conninfo, "host") or "127.0.0.1"
        self.user = conninfo_field(conninfo, "user") or "postgres"

    @property
    def can_restart(self) -> bool:
        return self.pgdata is not None and self.bindir is not None

    def _as_owner(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _pg_ctl(self, *args: str) -> None:
        log = str(Path(self.pgdata).parent / "server.log")
        subprocess.run([*self._as_owner(), str(self.bindir / "pg_ctl"), "-D", self.pgdata, "-l", log, "-w",
                        "-t", "60", "-m", "fast", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # the server keeps any pipe open

    def stop(self) -> None:
        self._pg_ctl("stop")

    def start(self) -> None:
        # `pg_ctl start` does not reuse the options of the last start (only restart does): give them again
        sockets = str(Path(self.pgdata).parent)
        self._pg_ctl("-o", f"-c listen_addresses={self.host} -p {self.port} -k {sockets} "
                           "-c max_connections=200 -c fsync=off", "start")

    def create_database(self, name: str) -> str:
        subprocess.run([str(self.bindir / "createdb"), "-h", self.host, "-p", self.port, "-U", self.user, name],
                       check=True, capture_output=True)
        parts = [p for p in self.conninfo.split() if not p.startswith("dbname=")]
        return " ".join(parts + [f"dbname={name}"])

    def close(self) -> None:
        if self.owned_base:
            try:
                self.stop()
            finally:
                shutil.rmtree(self.owned_base, ignore_errors=True)

    @classmethod
    def from_environment(cls) -> "PgCluster | None":
        if os.environ.get("DUCKML_TEST_PG"):
            return cls(os.environ["DUCKML_TEST_PG"], os.environ.get("DUCKML_TEST_PGDATA"))
        return None

    @classmethod
    def start_private(cls) -> "PgCluster":
        """Start a cluster of our own; raises RuntimeError saying why it cannot."""
        bindir = _bindir()
        if bindir is None or not (bindir / "initdb").exists():
            raise RuntimeError("no PostgreSQL binaries (apt-get install postgresql, or set PG_BINDIR)")
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            raise RuntimeError("running as root without runuser: cannot start PostgreSQL as the postgres user")
        base = tempfile.mkdtemp(prefix="duckml-pg-test.")
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        os.chmod(base, 0o700)
        port = _free_port()
        cluster = cls(f"host=127.0.0.1 port={port} dbname=postgres user=postgres", f"{base}/data", base)
        initdb = [*cluster._as_owner(), str(bindir / "initdb"), "-D", f"{base}/data", "-A", "trust", "-U", "postgres",
                  "--no-instructions", "-E", "UTF8"]
        done = subprocess.run(initdb, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(base, ignore_errors=True)
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[:300]}")
        try:
            cluster.start()
        except subprocess.CalledProcessError as error:
            shutil.rmtree(base, ignore_errors=True)
            raise RuntimeError(f"pg_ctl start failed: {error}") from error
        return cluster
