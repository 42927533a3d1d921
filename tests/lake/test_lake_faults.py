"""A lake whose catalog fails mid-ingest: every error kind is retried on a new connection, nothing is lost or doubled.

These tests need no PostgreSQL: the "catalog" is a DuckDB database shared by the cursors of one connection, and each
connection the store opens is a proxy that fails like a catalog session cut by a PostgreSQL restart: from a chosen
statement on, every statement (ROLLBACK included) raises the same error. The real restarts are in
test_lake_restarts.py.
"""

from __future__ import annotations

import threading

import duckdb
import pytest

import duckml
from duckml.errors import StoreError, StoreLockedError
from duckml.store import lake
from duckml.store.lake import LakeBusyError, LakeStore, LakeUnavailableError, _retryable
from tiers import slow_case

LOST = "Failed to prepare COPY \"COPY (SELECT 1) TO STDOUT\": server closed the connection unexpectedly"
# what a PostgreSQL restart during flush() raised on today's main, one per class seen
CATALOG_FAULTS = {
    "plain Error": duckdb.Error(f"Failed to get global stats information from DuckLake: {LOST}"),
    "BinderException": duckdb.BinderException(
        "Binder Error: Failed to get data file list from DuckLake: Failed to describe prepared statement: "
        "server closed the connection unexpectedly"),
    "InvalidInputException": duckdb.InvalidInputException(
        f"Invalid Input Error: Attempting to fetch from an unsuccessful query result Error: {LOST}"),
    "FatalException": duckdb.FatalException(
        "FATAL Error: Failed: database has been invalidated because of a previous fatal error. The database must "
        "be restarted prior to being used again."),
    "refused": duckdb.IOException("IO Error: Unable to connect to Postgres at host=127.0.0.1: connection to server "
                                  "at \"127.0.0.1\", port 5432 failed: Connection refused"),
    "conflict": duckdb.TransactionException("TransactionContext Error: Failed to commit: conflict"),
    # a statement of a transaction the drop aborted: no word of the connection in it
    "aborted transaction": duckdb.InvalidInputException(
        "Invalid Input Error: Attempting to fetch from an unsuccessful query result Error: TransactionContext "
        "Error: Current transaction is aborted (please ROLLBACK)"),
}


class Catalog:
    """The stand-in for PostgreSQL + DuckLake, and the connections a store opened on it."""

    def __init__(self):
        self.base = duckdb.connect()
        self.base.execute("ATTACH ':memory:' AS store")
        # the advisory lock's query, answered "got it"
        self.base.execute("CREATE MACRO postgres_query(catalog, query) AS TABLE SELECT true AS locked")
        # DuckLake's snapshot functions: every read sees a new snapshot whose changes are not listed, so the
        # store copies its tables afresh each time (the copy's own logic is tested on a real catalog)
        self.base.execute("CREATE SEQUENCE snapshots")
        self.base.execute("CREATE MACRO ducklake_current_snapshot(catalog) AS TABLE SELECT nextval('snapshots') AS id")
        self.base.execute("CREATE MACRO ducklake_snapshots(catalog) AS TABLE SELECT NULL::BIGINT AS snapshot_id, "
                          "NULL::MAP(VARCHAR, VARCHAR[]) AS changes WHERE false")
        self.faults: list[tuple[int, BaseException, bool]] = []  # per new connection: (statement, error, after)
        self.opened: list[FaultyConnection] = []
        self.reachable = True

    def inject(self, faults: list[tuple[int, BaseException, bool]]) -> None:
        """Cut the open connection at its statement n (counted from now), then each next one as listed."""
        self.faults = list(faults)
        if self.opened and self.faults:
            session = self.opened[-1]._session
            session.statements, session.fault = 0, self.faults.pop(0)

    def connect(self) -> "FaultyConnection":
        if not self.reachable:
            raise LakeUnavailableError("cannot attach the lake: Connection refused") from CATALOG_FAULTS["refused"]
        fault = self.faults.pop(0) if self.faults else None
        con = FaultyConnection(self.base.cursor(), _Session(fault))
        self.opened.append(con)
        return con

    def count(self, sql: str):
        return self.base.execute(sql).fetchall()


class _Session:
    """One catalog session, shared by a connection and its cursors: once cut, every statement fails."""

    def __init__(self, fault):
        self.statements = 0
        self.fault = fault
        self.cut: BaseException | None = None


class FaultyConnection:
    def __init__(self, con, session: _Session):
        self._con = con
        self._session = session

    def _run(self, method, sql, *args, **kwargs):
        session = self._session
        if session.cut is not None:
            raise session.cut
        session.statements += 1
        if session.fault and session.statements >= session.fault[0]:
            _, error, after = session.fault
            if after and sql.strip().upper() != "COMMIT":
                return method(sql, *args, **kwargs)  # cut right after the next commit lands
            session.cut = error
            if after:
                method(sql, *args, **kwargs)
            raise error
        return method(sql, *args, **kwargs)

    def execute(self, sql, *args, **kwargs):
        return self._run(self._con.execute, sql, *args, **kwargs)

    def sql(self, sql, *args, **kwargs):
        return self._run(self._con.sql, sql, *args, **kwargs)

    def cursor(self):
        return FaultyConnection(self._con.cursor(), self._session)

    def __getattr__(self, name):
        return getattr(self._con, name)


@pytest.fixture
def catalog(monkeypatch, tmp_path):
    made = Catalog()

    def connection(store):
        if store._con is None:
            store._con = made.connect()
            store._lock_cursor = store._con.cursor()
        return store._con

    monkeypatch.setattr(LakeStore, "_connection", connection)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # run ends leave the ingest to flush(): the background ingester would take the injected faults first
    monkeypatch.setenv("DUCKML_INGEST_DELAY_MS", "60000")
    monkeypatch.setenv("DUCKML_LOCK_TIMEOUT", "20")
    duckml.set_store("ducklake:postgres:host=catalog.invalid dbname=team", data_path=tmp_path / "shared").create()
    return made


def _log_run(name: str, points: int = 300, before_end=None) -> str:
    with duckml.start_run(run_name=name) as run:
        duckml.log_params({"lr": 0.1, "depth": 3})
        duckml.log_metric_series("loss", [1.0 / (i + 1) for i in range(points)])
        duckml.set_tag("team", "lake")
        if before_end is not None:
            before_end()
    return run.info.run_id


def _assert_exactly_once(catalog: Catalog, run_id: str, points: int) -> None:
    assert catalog.count(f"SELECT count(*), count(DISTINCT step) FROM store.metrics WHERE run_id = '{run_id}'") \
        == [(points, points)]
    assert catalog.count(f"SELECT count(*) FROM store.params WHERE run_id = '{run_id}'") == [(2,)]
    assert catalog.count(f"SELECT count(*) FROM store.runs WHERE run_id = '{run_id}'") == [(1,)]
    assert catalog.count("SELECT count(*) FROM store._duckml_latest WHERE run_id = ?".replace("?", f"'{run_id}'")) \
        == [(1,)]


@pytest.mark.parametrize("kind", list(CATALOG_FAULTS))
@pytest.mark.parametrize("statement", [3, *map(slow_case, [1, 8, 20])])  # the first, mid-ingest, at commit
def test_flush_rides_out_a_catalog_error_of_every_kind_on_a_new_connection(catalog, kind, statement):
    run_id = _log_run("during")
    catalog.inject([(statement, CATALOG_FAULTS[kind], False)])
    opened = len(catalog.opened)
    duckml.flush()  # no error: the second connection is healthy
    _assert_exactly_once(catalog, run_id, 300)
    assert len(catalog.opened) == opened + 1, "the failed connection was used again"
    assert duckml.search_runs(filter_string="params.lr = '0.1'")["run_id"].to_list() == [run_id]


@pytest.mark.parametrize("statement", [4, *map(slow_case, [1, 8])])
def test_several_cuts_in_a_row_then_recovery(catalog, statement):
    run_id = _log_run("storm")
    catalog.inject([(statement + i, CATALOG_FAULTS[kind], False)
                      for i, kind in enumerate(["plain Error", "FatalException", "BinderException", "refused"])])
    duckml.flush()
    _assert_exactly_once(catalog, run_id, 300)


@pytest.mark.parametrize("kind", ["plain Error", "FatalException"])
def test_a_commit_that_landed_before_the_connection_dropped_is_not_ingested_twice(catalog, kind):
    run_id = _log_run("landed")
    catalog.inject([(1, CATALOG_FAULTS[kind], True)])
    duckml.flush()
    _assert_exactly_once(catalog, run_id, 300)


def test_an_error_that_comes_back_on_a_new_connection_is_a_clear_store_error_at_once(catalog, monkeypatch):
    monkeypatch.setenv("DUCKML_LOCK_TIMEOUT", "600")  # not waited for: the error is not the catalog's absence
    run_id = _log_run("broken")
    wrong = duckdb.BinderException('Binder Error: Referenced column "nope" not found in FROM clause!')
    catalog.inject([(3, wrong, False), (3, wrong, False)])
    with pytest.raises(StoreError, match=r"lake .* failed twice.*journal keeps it all.*nope") as raised:
        duckml.flush()
    assert not isinstance(raised.value, duckdb.Error)
    duckml.flush()  # once the fault is gone, the journal brings everything in
    _assert_exactly_once(catalog, run_id, 300)


def test_a_catalog_away_past_the_timeout_is_a_busy_error_and_the_journal_keeps_everything(catalog, monkeypatch):
    monkeypatch.setenv("DUCKML_LOCK_TIMEOUT", "0.3")
    run_id = _log_run("away")
    catalog.inject([(1, CATALOG_FAULTS["plain Error"], False)])  # PostgreSQL stops, and stays down
    catalog.reachable = False
    with pytest.raises(LakeBusyError, match="DUCKML_LOCK_TIMEOUT") as raised:
        duckml.flush()
    assert isinstance(raised.value, StoreLockedError)
    catalog.reachable = True
    duckml.flush()
    _assert_exactly_once(catalog, run_id, 300)


def test_the_background_ingester_survives_catalog_errors_and_lands_the_run(catalog, capfd, monkeypatch):
    monkeypatch.setenv("DUCKML_INGEST_DELAY_MS", "0")
    store = duckml.get_store()
    died = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: died.append(args.exc_value)
    try:
        # the run end asks the background ingester, which meets a cut catalog session of every kind in a row
        run_id = _log_run("background", before_end=lambda: catalog.inject(
            [(2, CATALOG_FAULTS[kind], False) for kind in CATALOG_FAULTS]))
        assert store.wait_for_background_ingest(timeout=60)
    finally:
        threading.excepthook = previous_hook
    assert died == []
    assert "Traceback" not in capfd.readouterr().err
    _assert_exactly_once(catalog, run_id, 300)


def test_an_invalidated_instance_is_never_destroyed_and_a_new_one_takes_over(catalog):
    store = duckml.get_store()
    first = store._connection()
    kept = []
    real_never_destroy = lake.lifecycle.never_destroy
    lake.lifecycle.never_destroy = lambda *objects: kept.extend(objects)
    try:
        run_id = _log_run("fatal", before_end=lambda: setattr(  # a fatal error invalidates the instance
            first._session, "cut", CATALOG_FAULTS["FatalException"]))
        duckml.flush()
    finally:
        lake.lifecycle.never_destroy = real_never_destroy
    assert first in kept  # destroying it with a transaction open would abort the process (exit code 134)
    assert store._connection() is not first
    _assert_exactly_once(catalog, run_id, 300)


@pytest.mark.parametrize("kind", list(CATALOG_FAULTS))
def test_retry_classification_of_every_kind_a_restart_raised(kind):
    error = CATALOG_FAULTS[kind]
    assert _retryable(error) == (kind != "aborted transaction")  # that one gets one more try, not the timeout
    wrapped = LakeUnavailableError("cannot attach the lake")
    wrapped.__cause__ = error
    assert _retryable(wrapped) == _retryable(error)


def test_errors_that_are_not_the_catalog_s_absence_are_not_retried_until_the_timeout():
    assert not _retryable(duckdb.BinderException('Referenced column "x" not found'))
    assert not _retryable(duckdb.CatalogException("Table with name runs does not exist!"))
    assert not _retryable(ValueError("server closed the connection"))  # not DuckDB's: not the catalog's


def test_a_duckml_error_made_of_a_duckdb_one_is_retried_only_for_a_lost_connection():
    from duckml.store.lake_extensions import LakeExtensionMissing
    from duckml.errors import SchemaError

    cut = SchemaError("sql definition runs_overview does not apply")
    cut.__cause__ = CATALOG_FAULTS["plain Error"]
    assert _retryable(cut)
    missing = LakeExtensionMissing("cannot load the postgres extension")
    missing.__cause__ = duckdb.IOException("IO Error: Extension could not be loaded")
    assert not _retryable(missing)


def test_a_duckml_error_that_already_says_what_is_wrong_is_raised_as_it_is(catalog, monkeypatch):
    from duckml.store.lake_extensions import LakeExtensionMissing

    run_id = _log_run("no-extension")

    def missing(store):
        raise LakeExtensionMissing('cannot load the postgres extension: reinstall it with pip install "duckml[lake]"'
                                   ) from duckdb.IOException("IO Error: Extension could not be loaded")

    catalog.inject([(1, CATALOG_FAULTS["plain Error"], False)])
    monkeypatch.setattr(LakeStore, "_connection", missing)
    with pytest.raises(LakeExtensionMissing, match="pip install"):
        duckml.flush()
    monkeypatch.undo()
    monkeypatch.setattr(LakeStore, "_connection", lambda store: store.__dict__.get("_con") or _reconnect(store, catalog))
    duckml.flush()
    _assert_exactly_once(catalog, run_id, 300)


def _reconnect(store, catalog: Catalog):
    store._con = catalog.connect()
    store._lock_cursor = store._con.cursor()
    return store._con
