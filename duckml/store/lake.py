"""A store for a whole team: a DuckLake catalog on PostgreSQL, Parquet files and artifacts on a shared path.

``set_store("ducklake:postgres:<libpq conninfo>", data_path=DIR)`` opens it. It keeps the single-file store's
interface (``read()``, ``write()``, ``sql()``, ``flush()``) and its journal, with three differences:

- **The catalog stays attached.** DuckLake has no file lock to hand back, so one in-memory connection per
  process keeps it attached; each ``read()`` and ``write()`` is one DuckLake transaction (one snapshot).
  A read asks for its snapshot id once and reads every table but ``metrics`` from a local copy made at
  that id (``lake_mirror``: only tables the new snapshots changed are copied again), so a read costs ~6
  catalog queries instead of 4–5 per table scanned; the views are rebuilt only when the catalog's schema
  changes.
- **The journal is local to the machine** (``$DUCKML_JOURNAL_DIR``, else ``$XDG_CACHE_HOME/duckml/``, else
  ``~/.cache/duckml/``; one folder per lake). Only this machine ingests its segments, so the bookkeeping of
  segments is filtered by the journal's id (``_duckml_lake_journals``): another machine's segments are
  neither overlaid nor swept here.
- **Writes are serialised across machines** by a PostgreSQL advisory lock held (in its own transaction on a
  second connection) from before the DuckLake transaction starts until after it commits. Each write also
  deletes and re-inserts the one row of ``_duckml_lake_write_token``: DuckLake fails the later of two
  overlapping transactions that both do, so even a writer that bypassed the lock could not commit a
  duplicate registry version. Ingest, which runs no caller code, retries conflicts and lost connections
  with backoff until ``DUCKML_LOCK_TIMEOUT``.

A catalog error never leaves the connection in use: it is dropped and the next use opens a new DuckDB
instance (a PostgreSQL restart leaves dead sessions in the old one; a fatal error invalidates it whole).
Every error a caller sees is a ``StoreError``.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import duckdb

from duckml import dberrors
from duckml.errors import InvalidInputError, StoreError, StoreLockedError
from duckml.sqlquote import quote_literal
from duckml.store import ingest, journal, lake_upkeep, lifecycle, schema
from duckml.store.lake_mirror import Mirror
from duckml.store.handles import duckdb_threads
from duckml.store.lake_extensions import load_lake_extensions
from duckml.store.settings import lock_timeout
from duckml.store.store import Store

PREFIX = "ducklake:"
POSTGRES_PREFIX = "ducklake:postgres:"
LOCK_CATALOG = "_duckml_pg"
# pg_advisory_xact_lock key of duckml's lake writes: the first 63 bits of sha256("duckml lake writes")
WRITE_LOCK_KEY = int.from_bytes(hashlib.sha256(b"duckml lake writes").digest()[:8], "big") >> 1
LAKE_TABLES = (
    "CREATE TABLE IF NOT EXISTS _duckml_lake_journals (segment VARCHAR NOT NULL, journal_id VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _duckml_lake_write_token (token VARCHAR NOT NULL)",
)
_PRIMARY_KEY_CLAUSE = re.compile(r",\s*PRIMARY\s+KEY\s*\([^)]*\)", re.IGNORECASE)
_PRIMARY_KEY_WORDS = re.compile(r"\s+PRIMARY\s+KEY\b", re.IGNORECASE)
_SECRET = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


class LakeCommitError(StoreError):
    """A DuckLake write failed (a conflict, or the catalog connection dropped); nothing was committed."""


class LakeUnavailableError(StoreError):
    """The lake's catalog (PostgreSQL) cannot be reached."""


class LakeBusyError(StoreLockedError):
    """Conflicts or an unreachable catalog outlasted the timeout; nothing was written, the journal keeps it all.

    A ``StoreLockedError``, so a background or opportunistic ingest backs off and tries again later.
    """


def without_keys(sql: str) -> str:
    """A migration's text without PRIMARY KEY clauses, which a DuckLake catalog refuses.

    >>> without_keys("CREATE TABLE t (a INTEGER PRIMARY KEY, b INTEGER, PRIMARY KEY (a, b))")
    'CREATE TABLE t (a INTEGER, b INTEGER)'
    """
    return _PRIMARY_KEY_WORDS.sub("", _PRIMARY_KEY_CLAUSE.sub("", sql))


def redact(conninfo: str) -> str:
    """The conninfo for messages: any password replaced by ``***``.

    >>> redact("host=db password=s3cret dbname=x")
    'host=db password=*** dbname=x'
    """
    return _SECRET.sub(r"\1***", conninfo)


def parse_spec(spec: str) -> str:
    """The libpq conninfo of a lake spec ``ducklake:postgres:<conninfo>``.

    >>> parse_spec("ducklake:postgres:host=127.0.0.1 dbname=team")
    'host=127.0.0.1 dbname=team'
    """
    if not spec.startswith(POSTGRES_PREFIX) or not spec[len(POSTGRES_PREFIX):].strip():
        raise InvalidInputError(f"a lake store spec is 'ducklake:postgres:<libpq conninfo>', got {redact(spec)!r} "
                                "(only a PostgreSQL catalog is supported)")
    return spec[len(POSTGRES_PREFIX):].strip()


def journal_root() -> Path:
    """Where this machine journals: ``$DUCKML_JOURNAL_DIR``, else ``$XDG_CACHE_HOME/duckml``, else ``~/.cache/duckml``."""
    if os.environ.get("DUCKML_JOURNAL_DIR"):
        return Path(os.path.expanduser(os.environ["DUCKML_JOURNAL_DIR"]))
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "duckml"


# DuckDB error classes that mean "try again": a DuckLake conflict, I/O or a dropped link, an invalidated instance
_TRANSIENT_KINDS = (duckdb.TransactionException, duckdb.IOException, duckdb.ConnectionException,
                    duckdb.FatalException)


def _duckdb_cause(error: BaseException | None) -> duckdb.Error | None:
    """The DuckDB error behind ``error``: itself, or what it was raised from."""
    for _ in range(8):  # a chain of wrappers is short; never loop on a cycle
        if error is None or isinstance(error, duckdb.Error):
            return error
        error = error.__cause__
    return None


def _catalog_error(error: BaseException) -> bool:
    """Whether ``error`` came from the lake's connection (and so may have left it unusable)."""
    return isinstance(error, (LakeCommitError, LakeUnavailableError)) or _duckdb_cause(error) is not None


def _invalidated(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a fatal error invalidated ``con``'s DuckDB instance (it then refuses every statement)."""
    try:
        con.execute("SELECT 1").fetchall()
    except duckdb.FatalException:
        return True
    except duckdb.Error:
        pass  # closed, or anything else: not a reason to keep it
    return False


def _retryable(error: BaseException) -> bool:
    """Whether a failed lake write is worth trying again until the timeout: a conflict, a catalog that
    dropped or refused the connection (PostgreSQL restarting), whichever DuckDB class carries the message,
    or an instance a fatal error invalidated (the retry opens a new one).

    >>> _retryable(duckdb.Error("Failed to prepare COPY ...: server closed the connection unexpectedly"))
    True
    >>> _retryable(duckdb.FatalException("FATAL Error: Failed: database has been invalidated"))
    True
    >>> _retryable(duckdb.BinderException('Referenced column "x" not found'))
    False
    """
    cause = _duckdb_cause(error)
    ours = isinstance(error, (duckdb.Error, LakeCommitError, LakeUnavailableError))
    if cause is None:
        return ours
    if not ours:  # another error made of a DuckDB one (a missing extension, a definition): only a lost link
        return dberrors.is_lost_connection(cause)
    return isinstance(cause, _TRANSIENT_KINDS) or dberrors.is_lost_connection(cause)


class LakeStore(Store):
    """A duckml store on DuckLake; build it with ``duckml.set_store("ducklake:postgres:…", data_path=DIR)``."""

    artifact_rows_can_hide = True  # each machine journals locally; the artifact folder is shared

    def exit_flush_timeout(self) -> float | None:
        """The whole lock timeout: this machine's journal is local, and a machine that is torn down after
        its job would take un-ingested runs with it."""
        return None

    def __init__(self, spec: str, data_path: str | None):
        if not data_path:
            raise InvalidInputError("a ducklake store needs a data path shared by every machine: "
                                    "set_store(spec, data_path=DIR), --data-path DIR or $DUCKML_DATA_PATH")
        self.conninfo = parse_spec(spec)
        self.data_path = Path(os.path.abspath(os.path.expanduser(data_path)))
        key = hashlib.sha256(f"{self.conninfo}\0{self.data_path}".encode()).hexdigest()[:16]
        super().__init__(self.data_path / "lake", artifact_root=self.data_path / "artifacts",
                         journal_dir=journal_root() / "journals" / key)
        self.path = f"{POSTGRES_PREFIX}{redact(self.conninfo)}"  # shown in messages
        self.path_key = f"{spec}\0{self.data_path}"
        self.lake_files = self.data_path / "lake"
        self.attached_path = f"postgres:{self.conninfo}"  # duckdb_databases().path of the catalog
        self.read_linger = 0.0
        self._journal_id: str | None = None

    def _start_process_state(self) -> None:
        super()._start_process_state()
        self._lock_cursor: duckdb.DuckDBPyConnection | None = None  # made with the connection
        self._lock_session: tuple[int, int] | None = None  # (pid, start in µs) of the lock's PostgreSQL session
        self._orphaned_sessions: list[tuple[int, int]] = []  # sessions of invalidated instances, to end
        self._mirror = Mirror()  # the small tables as of one snapshot, in this connection's memory catalog

    def __repr__(self) -> str:
        return f"LakeStore({self.path!r}, data_path={str(self.data_path)!r})"

    # -- the connection ------------------------------------------------------------------------
    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is not None:
            return self._con
        con = duckdb.connect(":memory:")
        try:
            load_lake_extensions(con)
            con.execute("SET enable_progress_bar = false")  # a library writes nothing to stdout
            self.lake_files.mkdir(parents=True, exist_ok=True)
            con.execute(f"ATTACH {quote_literal('ducklake:postgres:' + self.conninfo)} AS store "
                        f"(DATA_PATH {quote_literal(str(self.lake_files) + os.sep)})")
            con.execute(f"ATTACH {quote_literal(self.conninfo)} AS {LOCK_CATALOG} (TYPE postgres)")
            # one pooled connection: the advisory lock and its release must reach the same backend
            con.execute(f"FROM postgres_configure_pool(catalog_name='{LOCK_CATALOG}', max_connections=1)").fetchall()
            self._lock_session = con.execute(
                f"SELECT * FROM postgres_query('{LOCK_CATALOG}', 'SELECT pid, (extract(epoch FROM backend_start) "
                f"* 1000000)::bigint FROM pg_stat_activity WHERE pid = pg_backend_pid()')").fetchone()
        except duckdb.Error as error:
            con.close()
            text = str(error)
            if "does not match existing data path" in text:
                raise StoreError(f"the lake {self.path} keeps its files elsewhere than {self.lake_files}: "
                                 f"{text.splitlines()[0]} (pass the same --data-path on every machine)") from error
            raise LakeUnavailableError(f"cannot attach the lake {self.path}: {redact(text)}") from error
        self._con = con
        self._lock_cursor = con.cursor()
        self._end_orphaned_sessions(con)
        return con

    def _end_orphaned_sessions(self, con) -> None:
        """End the PostgreSQL session of the write lock of an instance a fatal error invalidated: it may hold
        the lock in a transaction nothing can end any more, and every machine's writes would wait for this
        process to exit. Identified by pid *and* start time, so a reused pid is never ended."""
        for pid, started in self._orphaned_sessions:
            try:
                con.execute(f"SELECT * FROM postgres_query('{LOCK_CATALOG}', 'SELECT pg_terminate_backend(pid) "
                            f"FROM pg_stat_activity WHERE pid = {int(pid)} AND (extract(epoch FROM "
                            f"backend_start) * 1000000)::bigint = {int(started)}')").fetchall()
            except duckdb.Error:
                pass  # not allowed, or gone already: the session ends with this process at the latest
        self._orphaned_sessions = []

    def _forget_connection(self) -> None:
        """After a catalog error: the next use opens a new DuckDB instance and attaches the lake afresh.

        The old connection's transactions are ended first: one destroyed inside a transaction whose
        PostgreSQL session died rolls back from a C++ destructor, which throws, and the process aborts
        (std::terminate, exit code 134). A ROLLBACK now, even one that fails, ends it. An instance a fatal
        error invalidated refuses even that, so it is never destroyed (``lifecycle.never_destroy``: the OS
        reclaims it at exit), and its write lock's PostgreSQL session is ended from the next connection.
        Any other is let go, not closed: results ``sql()`` handed out are cursors of it and stay readable;
        it goes when they do.
        """
        con, cursor = self._con, self._lock_cursor
        self._con = self._lock_cursor = None
        self._passthrough, self._overlaid, self._definitions_ready = set(), None, False
        self._segment_offsets = None
        self._mirror = Mirror()
        if con is None:
            return
        for each in (cursor, con):
            if each is not None:
                self._rollback(each)
        if _invalidated(con):
            lifecycle.never_destroy(con, cursor)
            if self._lock_session is not None:
                self._orphaned_sessions.append(self._lock_session)
        self._lock_session = None

    def _attach(self, read_only: bool, timeout: float | None = None) -> duckdb.DuckDBPyConnection:
        return self._connection()

    def _detach(self) -> None:
        self._lingering_since = None
        self._segment_offsets = None

    def release(self) -> None:
        """Nothing to let go: a lake holds no file lock."""

    def journal_id(self) -> str:
        """This machine's journal id (kept in the journal folder), which owns its segments' bookkeeping."""
        if self._journal_id is None:
            path = self.journal_dir / "journal-id"
            self.journal_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                for _ in range(50):  # another process is writing it right now
                    text = path.read_text().strip()
                    if text:
                        break
                    time.sleep(0.01)
            else:
                text = uuid.uuid4().hex
                os.write(fd, text.encode())
                os.close(fd)
            self._journal_id = text
        return self._journal_id

    # -- serialising writes ----------------------------------------------------------------------
    @contextmanager
    def _write_lock(self, timeout: float | None):
        """Hold duckml's advisory lock on the catalog's PostgreSQL for the length of the block."""
        self._connection()
        cursor = self._lock_cursor
        timeout = lock_timeout() if timeout is None else timeout
        deadline = time.monotonic() + timeout
        delay = 0.002
        try:
            cursor.execute("BEGIN TRANSACTION")
        except duckdb.Error as error:
            raise LakeUnavailableError(f"cannot take the write lock of the lake {self.path}: "
                                       f"{redact(str(error))}") from error
        try:
            while True:
                try:
                    got = cursor.execute(f"SELECT * FROM postgres_query('{LOCK_CATALOG}', "
                                         f"'SELECT pg_try_advisory_xact_lock({WRITE_LOCK_KEY})')").fetchone()[0]
                except duckdb.Error as error:
                    raise LakeUnavailableError(f"cannot take the write lock of the lake {self.path}: "
                                               f"{redact(str(error))}") from error
                if got:
                    break
                if time.monotonic() >= deadline:
                    raise StoreLockedError(f"another machine kept writing to the lake {self.path} for more than "
                                           f"{timeout:g} s (raise DUCKML_LOCK_TIMEOUT)")
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 0.05)
            yield
        finally:
            try:
                cursor.execute("ROLLBACK")  # ends the PostgreSQL transaction: the lock goes with it
            except duckdb.Error:
                pass  # the connection is gone, and the lock with it

    def _retrying(self, action, timeout: float | None):
        """Run ``action`` until it succeeds; raises only ``StoreError``s for what went wrong in the lake.

        Every failure of the catalog drops the connection, so the next try starts on a new one. Conflicts
        and lost connections are retried with backoff until ``timeout`` (``DUCKML_LOCK_TIMEOUT``), then
        ``LakeBusyError``. A dropped connection can also surface as an error of another kind (a statement
        of a transaction the drop aborted): any other error is tried once more on the fresh connection, and
        raised as a ``StoreError`` if it comes back, rather than waiting out the timeout.
        """
        timeout = lock_timeout() if timeout is None else timeout
        deadline = time.monotonic() + timeout
        delay = 0.05
        unexplained = False
        while True:
            try:
                return action()
            except Exception as error:
                if not _catalog_error(error):
                    raise
                self._forget_connection()
                text = redact(str(error)).strip()
                if not _retryable(error):
                    if isinstance(error, StoreError) and not isinstance(error, (LakeCommitError,
                                                                               LakeUnavailableError)):
                        raise  # says what is wrong already: a missing extension, a definition that fails
                    if unexplained:
                        raise StoreError(f"the lake {self.path} failed twice, the second time on a new "
                                         f"connection; nothing was written, the journal keeps it all: "
                                         f"{text}") from error
                    unexplained = True
                    continue  # at once: the fresh connection is the test
                unexplained = False
                if time.monotonic() + delay > deadline:
                    raise LakeBusyError(f"the lake {self.path} stayed busy or unreachable for {timeout:g} s "
                                        f"(raise DUCKML_LOCK_TIMEOUT); nothing is lost, the journal keeps it "
                                        f"all: {text}") from error
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 2.0)

    @staticmethod
    def _rollback(con) -> None:
        """End the connection's transaction and return to its own catalog, if it still answers."""
        for statement in ("ROLLBACK", "USE memory"):
            try:
                con.execute(statement)
            except duckdb.Error:
                pass  # the failed commit already ended it, or the connection is gone

    # -- schema ----------------------------------------------------------------------------------
    def _ensure_ready(self, create: bool = True, timeout: float | None = None) -> None:
        # the lake is created on first use whatever ``create`` says; writers' waits are bounded in _write_lock
        if self._ready:
            return
        self._retrying(self._prepare_schema, None)
        self._ready = True

    def _check_schema(self, con) -> tuple[bool, bool, bool]:
        """(needs_migration, needs_definitions, needs_lake_tables), all read from one snapshot."""
        con.execute("BEGIN TRANSACTION")
        try:
            if schema.user_tables(con, "store") == ["_duckml_migrations"] and not schema.applied(con, "store"):
                return True, True, True  # another machine is creating the lake right now: wait for its lock
            needs_migration, needs_definitions = schema.check(con, "store", self.path)
            return needs_migration, needs_definitions, not self._has_lake_tables(con)
        finally:
            self._rollback(con)

    def _prepare_schema(self) -> None:
        con = self._connection()
        if not any(self._check_schema(con)):
            return
        with self._write_lock(None):
            needs_migration, needs_definitions, _ = self._check_schema(con)
            if needs_migration:
                schema.migrate(con, "store", rewrite=without_keys)
                needs_definitions = True
            if not self._has_lake_tables(con):
                con.execute("BEGIN TRANSACTION")
                try:
                    for statement in LAKE_TABLES:
                        con.execute(statement.replace("_duckml_lake", "store.main._duckml_lake"))
                    con.execute("INSERT INTO store.main._duckml_lake_write_token VALUES ('duckml')")
                    con.execute("COMMIT")
                except BaseException:
                    self._rollback(con)
                    raise
            if needs_definitions:
                schema.store_definitions(con, "store")

    @staticmethod
    def _has_lake_tables(con) -> bool:
        return con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'store' "
                           "AND table_name = '_duckml_lake_write_token'").fetchone()[0] == 1

    # -- journal bookkeeping --------------------------------------------------------------------
    def _owned_offsets(self, con, source=lambda table: f"{ingest.STORE}.{table}") -> dict[str, tuple[int, int]]:
        rows = con.execute(
            f"SELECT segment, events_offset, metrics_offset FROM {source('_duckml_segments')} "
            f"WHERE segment IN (SELECT segment FROM {source('_duckml_lake_journals')} WHERE journal_id = ?)",
            [self.journal_id()]).fetchall()
        return {row[0]: (row[1], row[2]) for row in rows}

    def _ingest_pending(self, con) -> ingest.Pending:
        owned = self._owned_offsets(con)
        pending = ingest.collect(con, self.journal_dir, owned)
        if pending.empty and not pending.vanished:
            return pending
        ingest.apply_ingest(con, pending, ingest.fold(con, pending, self.table_schemas))
        new = [d.segment for d in pending.deltas if not d.empty and d.segment not in owned]
        if new:
            con.execute(f"INSERT INTO {ingest.STORE}._duckml_lake_journals SELECT unnest(?), ?",
                        [new, self.journal_id()])
        if pending.vanished:
            con.execute(f"DELETE FROM {ingest.STORE}._duckml_lake_journals WHERE segment IN (SELECT unnest(?))",
                        [pending.vanished])
        return pending

    def _table_source(self, table: str) -> str:
        return self._mirror.source(table)

    def _after_rollback(self, copied: bool) -> None:
        """Views made in a rolled-back read are gone: rebuild them on the next read. So are the copies it
        made: then the next read copies everything again (copies of earlier reads were committed and stay,
        so a query that merely failed, such as a bad filter, costs no new copy)."""
        self._passthrough = set()
        self._overlaid = None
        self._definitions_ready = False
        if copied:
            self._mirror = Mirror()
            self._mirror.armed = True  # this process reads more than once: copy on the next read

    def _follow_snapshot(self, con) -> None:
        """Bring the local copy to this read's snapshot (one catalog query when nothing changed); after a
        change of the catalog's schema by any process, check it again (a newer duckml's migration is refused
        by name) and have every view rebuilt over the new tables."""
        known = self._mirror.armed  # the schema was checked when the store was opened, before the first read
        schema_changed = self._mirror.refresh(con)
        if known and (schema_changed or "_duckml_migrations" in self._mirror.last_copied):
            schema.check(con, "store", self.path)
        if schema_changed:
            self._passthrough, self._overlaid, self._definitions_ready = set(), None, False

    # -- the two ways in ---------------------------------------------------------------------------
    @contextmanager
    def read(self, timeout: float | None = None, definitions: bool = True):
        """One DuckLake snapshot, plus this machine's journal records not yet ingested (a lake has no
        file lock: ``timeout`` is accepted for ``Store.read``'s signature and not needed)."""
        with self._lock:
            self._ensure_ready()
            for last_try in (False, True):
                # a session PostgreSQL cut while we were idle (a restart) fails the first statement: that
                # much is retried on a new connection, at once
                con = self._connection()
                try:
                    con.execute("BEGIN TRANSACTION")
                    self._follow_snapshot(con)
                    fresh = not self._passthrough
                    # no segment here, nothing pending: skip the look-up of this machine's offsets
                    owned = (self._owned_offsets(con, self._table_source)
                             if journal.list_segments(self.journal_dir) else {})
                    pending = ingest.collect(con, self.journal_dir, owned)
                    self._prepare_live_views(con, pending, fresh, definitions)
                    break
                except duckdb.Error as error:
                    self._rollback(con)
                    self._forget_connection()
                    if last_try or not _retryable(error):
                        raise LakeUnavailableError(f"cannot read the lake {self.path}: "
                                                   f"{redact(str(error))}") from error
                except BaseException:  # e.g. a newer duckml's migration, refused by name: never left open
                    self._rollback(con)
                    self._after_rollback(copied=True)
                    raise
            try:
                yield con
            except BaseException as error:
                self._rollback(con)
                self._after_rollback(copied=bool(self._mirror.last_copied))
                if _retryable(error):  # the caller's query met a dropped catalog: start afresh next time
                    self._forget_connection()
                raise
            try:
                con.execute("COMMIT")
            except duckdb.Error as error:
                self._rollback(con)
                self._forget_connection()
                raise LakeUnavailableError(f"cannot read the lake {self.path}: {redact(str(error))}") from error

    @contextmanager
    def write(self, timeout: float | None = None):
        """One DuckLake transaction after ingesting this machine's journal; writers of every machine queue.

        A failure of the catalog drops the connection and raises ``LakeCommitError`` (or
        ``LakeUnavailableError``); nothing of the transaction is kept, the journal still holds its records.
        """
        with self._lock:
            self._ensure_ready()
            con = self._connection()
            try:
                with self._write_lock(timeout):
                    try:
                        con.execute("BEGIN TRANSACTION")
                        pending = self._ingest_pending(con)
                        con.execute(f"DELETE FROM {ingest.STORE}._duckml_lake_write_token")
                        con.execute(f"INSERT INTO {ingest.STORE}._duckml_lake_write_token VALUES ('duckml')")
                        con.execute("USE store")
                    except duckdb.Error as error:
                        self._rollback(con)
                        raise LakeCommitError(f"writing to the lake {self.path} failed, nothing was written: "
                                              f"{redact(str(error))}") from error
                    try:
                        yield con
                        con.execute("USE memory")
                    except BaseException:
                        self._rollback(con)
                        raise
                    try:
                        con.execute("COMMIT")
                    except duckdb.Error as error:
                        self._rollback(con)
                        raise LakeCommitError(f"commit to the lake {self.path} failed: "
                                              f"{redact(str(error))}") from error
            except BaseException as error:
                if isinstance(error, (LakeCommitError, LakeUnavailableError)) or _retryable(error):
                    self._forget_connection()
                raise
            ingest.forget_finished(self.journal_dir, pending)

    def _ingest(self, timeout: float | None, threads: int | None = None) -> None:
        """Move this machine's pending journal records into the lake, retrying conflicts and lost connections
        on a new connection each time (``_retrying``)."""

        def once():
            with duckdb_threads(self._connection(), threads), self.write(timeout=timeout):
                pass

        self._retrying(once, timeout)
        lake_upkeep.maybe_maintain(self)
