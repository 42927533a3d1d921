"""The store: one DuckDB file, an artifact folder beside it, and the only code that touches duckdb's lock.

duckml keeps one in-memory DuckDB connection per store and process, and *attaches* the file only for the
length of one operation (attach + detach costs ~1–5 ms, growing with the number of tables; ``duckdb.connect``
costs ~10 ms). Holding the file between operations would block every other process's writes, because
DuckDB locks the whole file. A read-only attachment lingers briefly (``DUCKML_READ_LINGER_MS``, default
50 ms) so that a burst of reads pays the attach once; a waiting duckml writer announces itself with a
marker file and the reader lets go at once.

- ``read()`` attaches read-only (several processes may), and points the live views at the journal
  records not yet ingested, so a reader sees every returned ``log_*`` call of every process.
- ``write()`` attaches read-write, first ingests every pending journal record in bulk, then runs the
  caller's statements in the same transaction, with plain table names resolving to the file.
Lock conflicts are retried with backoff up to ``DUCKML_LOCK_TIMEOUT`` seconds (default 60), then raise
``StoreLockedError`` naming the path.
"""

from __future__ import annotations

import os
import random
import threading
import time
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path

import duckdb

from duckml import dberrors
from duckml.errors import (InvalidInputError, QueryError, StoreError, StoreLockedError,
                           StoreNotFoundError)
from duckml.sqlquote import quote_ident, quote_literal
from duckml.store import batches, guard, ingest, lifecycle, linger, schema, storefile
from duckml.store.background import BackgroundIngester, ingest_delay
from duckml.store.settings import env_seconds_from_millis, exit_lock_timeout, lock_timeout
from duckml.store.handles import JournalHandle, duckdb_threads, quiet_connection

# Every this many points a writer hands its backlog to the background ingester, which moves it into the
# file on the other core while logging goes on; flush() then only has the tail left.
_BACKGROUND_INGEST_POINTS = 200_000
# A writer this far ahead of what is ingested ingests itself (back-pressure: bounds the journal and the
# overlay live readers fold), waiting for an ingest under way but never for another program.
_AUTO_INGEST_POINTS = 2_000_000
# A reader that finds more pending points than this ingests them before reading, if the file is free.
_READER_INGEST_AT = 1_000_000
# A lingering read-only attachment is let go after at most this long, even while reads keep coming,
# so that a reader polling in a loop cannot keep writers that announce nothing (other tools) out.
_MAX_HOLD_SECONDS = 0.5
# A write-wanted marker older than this is left over by a writer that died: ignored.
_MARKER_FRESH_SECONDS = 2.0


def _read_linger() -> float:
    return env_seconds_from_millis("DUCKML_READ_LINGER_MS", 50, 10_000)


class Store:
    """A duckml store. Use ``duckml.connect()`` or ``get_store()`` rather than building one.

    >>> import duckml, tempfile, os
    >>> store = duckml.connect(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> store.sql("SELECT count(*) AS n FROM runs_overview").fetchall()
    [(0,)]
    """

    # Whether other writers' artifact rows can be pending where this process cannot read them (the lake: one
    # journal per machine, one shared artifact folder). gc then spares recently used objects.
    artifact_rows_can_hide = False

    def __init__(self, path: Path, artifact_root: Path | None = None, journal_dir: Path | None = None):
        self.path = path
        self.path_key = str(path)  # hashed on every log call: a str is cheaper than a Path
        # another backend (the lake, store/lake.py) keeps artifacts and the journal elsewhere
        self.artifact_root = artifact_root or path.with_name(path.stem + ".artifacts")
        self.journal_dir = journal_dir or self.artifact_root / ".journal"
        self.write_wanted_marker = self.journal_dir / "write-wanted"
        self.read_linger = _read_linger()
        self.origin = "the path given"  # how the path was chosen, for "no store here" messages
        self.active_experiment_id: str | None = None  # the fluent API's choice; survives fork, as in MLflow
        self._ready = False  # the schema is checked once per process: a fork inherits the answer
        self._start_process_state()
        lifecycle.track(self)

    def _start_process_state(self) -> None:
        """Everything this store holds for this process only: connections, locks, the journal segment and
        the caches. ``__init__`` starts it, ``reset_after_fork`` starts it afresh in a forked child, and
        ``close`` lets go of it, so the three cannot drift apart."""
        self.next_ingest_at = _BACKGROUND_INGEST_POINTS
        self._points_ingested = 0  # this process's points_written that an ingest has moved into the file
        self._lock = threading.RLock()
        self._lingering_since: float | None = None  # set while a read-only attachment is kept
        self._last_read_end = 0.0
        self._segment_offsets: dict | None = None  # valid while the read-only attachment lasts
        self._overlaid: set[str] | None = None  # tables whose live view is the overlay (None: unknown)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._definitions_ready = False
        self._passthrough: set[str] = set()
        self._journal: JournalHandle | None = None
        self._caches: dict[str, object] = {}
        self.table_schemas: dict = {}  # the file's table schemas, as ingest folds rows into them
        self._ingester: BackgroundIngester | None = None  # a forked child starts without the parent's thread
        self._requests_lock = threading.Lock()  # never held across I/O: a run end must not wait on an ingest
        self._ingest_requests = 0  # ingests asked for by run ends in this process
        self._ingest_covered = 0  # of those, how many an ingest (background or flush) has since satisfied

    def reset_after_fork(self) -> None:
        """In a forked child: own nothing of the parent's (DuckDB connections and held locks do not
        survive fork, the journal segment and the caches are the parent's)."""
        lifecycle.never_destroy(self._con)  # see there: destroying it would hang
        self._start_process_state()

    def cache(self, name: str, factory):
        """A per-store object that an upper layer keeps here (e.g. the tracking layer's run cache): created by
        ``factory()`` on first use, dropped by ``close()`` and in a forked child.

        >>> import duckml, tempfile, os
        >>> store = duckml.get_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> store.cache("example", dict) is store.cache("example", dict)
        True
        """
        found = self._caches.get(name)
        if found is None:
            found = self._caches.setdefault(name, factory())
        return found

    @property
    def lock(self) -> threading.RLock:
        """Held by every operation on the file in this process (the fork hook tries it without waiting)."""
        return self._lock

    def is_lingering(self) -> bool:
        return self._lingering_since is not None  # a burst of reads left the file attached read-only

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @property
    def journal(self) -> JournalHandle:
        if self._journal is None:
            with self._lock:
                if self._journal is None:
                    self._journal = JournalHandle(self)
                    lifecycle.flush_at_exit_later(self)
        return self._journal

    # -- attaching -----------------------------------------------------------------------------
    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = quiet_connection()
        return self._con

    def _attach(self, read_only: bool, timeout: float | None = None) -> duckdb.DuckDBPyConnection:
        if self._lingering_since is not None:
            self._detach()
        con = self._connection()
        statement = f"ATTACH {quote_literal(str(self.path))} AS store" + (" (READ_ONLY)" if read_only else "")
        timeout = lock_timeout() if timeout is None else timeout
        deadline = time.monotonic() + timeout
        delay = 0.001
        announced = False
        while True:
            try:
                con.execute(statement)
                if announced:  # another writer still waiting announces itself again on its next try
                    self.write_wanted_marker.unlink(missing_ok=True)
                return con
            except duckdb.IOException as error:
                if dberrors.is_not_a_database(error) or dberrors.is_truncated(error):
                    if storefile.removed_stillborn(self.path, error, read_only) or (
                            storefile.being_created(self.path) and time.monotonic() < deadline):
                        time.sleep(0.01)  # a dead creator's file is gone, or a live one writes its headers: again
                        continue
                    raise StoreError(f"cannot open store {self.path}: it is not a valid DuckDB database "
                                     f"(damaged, or not written by DuckDB): {error}") from error
                if not dberrors.is_lock_conflict(error):
                    raise StoreError(f"cannot open store {self.path}: {error}") from error
                if not read_only:
                    self._announce_write()
                    announced = True
                if time.monotonic() >= deadline:
                    holder = dberrors.lock_holder(error)
                    who = f" by process {holder}" if holder else ""
                    raise StoreLockedError(
                        f"store {self.path} was held{who} for more than {timeout:g} s "
                        "(raise DUCKML_LOCK_TIMEOUT, or close the program holding it)") from error
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 0.05)
            except duckdb.Error as error:
                raise StoreError(f"cannot open store {self.path}: {error}") from error

    def _detach(self) -> None:
        con = self._con
        self._segment_offsets = None
        try:
            con.execute("USE memory")
        finally:
            try:
                con.execute("DETACH store")
            finally:
                # only once the file is let go: is_lingering() must not say "free" while it is still held
                self._lingering_since = None

    def _announce_write(self) -> None:
        """Tell readers of other processes that a writer waits (they stop lingering at once)."""
        try:
            self.write_wanted_marker.touch()
        except FileNotFoundError:
            self.journal_dir.mkdir(parents=True, exist_ok=True)
            self.write_wanted_marker.touch()

    def _write_wanted(self) -> bool:
        try:
            return time.time() - self.write_wanted_marker.stat().st_mtime < _MARKER_FRESH_SECONDS
        except FileNotFoundError:
            return False

    def _may_linger(self, now: float) -> bool:
        if self.read_linger <= 0 or self._write_wanted():
            return False
        return self._lingering_since is None or now - self._lingering_since < _MAX_HOLD_SECONDS

    def release_if_idle(self, now: float) -> float | None:
        """Let go of a lingering read attachment that is idle or wanted by a writer.

        Returns the seconds until it should be checked again, or None when nothing lingers.
        """
        with self._lock:
            if self._lingering_since is None:
                return None
            idle_for = now - self._last_read_end
            if idle_for >= self.read_linger or self._write_wanted():
                self._detach()
                return None
            return min(self.read_linger - idle_for, 0.01)

    def exists(self) -> bool:
        """Whether the store has been created: its file, or journal records of a process logging into it.

        >>> import duckml, tempfile, os
        >>> duckml.get_store(os.path.join(tempfile.mkdtemp(), "new.duckdb")).exists()
        False
        """
        if self._ready or self.path.exists():
            return True
        try:
            return any(name.endswith(".events") for name in os.listdir(self.journal_dir))
        except OSError:
            return False

    def create(self, timeout: float | None = None) -> None:
        """Create the store (file, schema, views) if it does not exist yet; check and migrate it if it does.

        ``timeout`` bounds the wait for a file another process holds (``DUCKML_LOCK_TIMEOUT`` by default).
        """
        with self._lock:
            self._ensure_ready(timeout=timeout)

    def require_existing(self) -> None:
        """Raise ``StoreNotFoundError`` saying where we looked, unless the store exists."""
        if not self.exists():
            raise StoreNotFoundError(
                f"no duckml store at {self.path} (chosen by {self.origin}); nothing was created. Log a run to "
                "create it, run `duckml demo`, or choose another store with --store / $DUCKML_STORE")

    def _ensure_ready(self, create: bool = True, timeout: float | None = None,
                      keep_attached: bool = False) -> duckdb.DuckDBPyConnection | None:
        """Create or migrate the schema once per process; set up the live views on our connection.

        With ``create=False`` (every read) a missing store raises ``StoreNotFoundError`` instead. With
        ``keep_attached``, a store found up to date stays attached read-only and its connection is returned,
        so the first read of a process attaches once rather than twice; otherwise None.
        """
        if self._ready:
            return None
        if not create:
            self.require_existing()
        con = None
        if self.path.exists():
            storefile.refuse_foreign_file(self.path)
            with suppress(storefile.StillbornFileRemoved):  # its creator died before writing a byte: create it
                con = self._attach(read_only=True, timeout=timeout)
        if con is not None:
            needs_migration = needs_definitions = True
            try:
                needs_migration, needs_definitions = schema.check(con, "store", self.path)
            finally:
                if not keep_attached or needs_migration or needs_definitions:
                    self._detach()
            if not (needs_migration or needs_definitions):
                self._ready = True
                return con if keep_attached else None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._attach(read_only=False, timeout=timeout)
        try:
            # checked again under the write lock: another process may have just done it
            needs_migration, needs_definitions = schema.check(con, "store", self.path)
            if needs_migration:
                schema.migrate(con, "store")
                self.table_schemas = {}
                needs_definitions = True
            if needs_definitions:
                schema.store_definitions(con, "store")
        finally:
            self._detach()
        self._ready = True
        return None

    def _table_source(self, table: str) -> str:  # where the live views read a table (the lake: a local copy)
        return f"store.main.{quote_ident(table)}"

    def _prepare_live_views(self, con, pending: ingest.Pending, fresh: bool, definitions: bool = True) -> None:
        """Views in the in-memory catalog for every table of the file, and with ``definitions`` the views and
        macros of ``sql/`` (~9 ms, once per connection; a script that only logs never needs them). With
        journal records pending, the journal tables' views union the file with them (the overlay); without,
        they read the file directly, which keeps the overlay's joins out of every query plan."""
        if fresh:  # a file kept attached cannot gain tables: only our own writes could add them
            tables = schema.user_tables(con, "store")
            if not self._passthrough:
                ingest.register_overlay(con, None)  # the overlay views need their tables to exist
            for table in tables:
                if table in self._passthrough:
                    continue
                if table in ingest.OVERLAID_TABLES:
                    self._overlaid = None  # a journal table the views do not cover yet: rebuild them
                else:
                    con.execute(ingest.live_view_sql(table, self._table_source(table), overlay=False))
                self._passthrough.add(table)
        changed = set() if pending.empty else ingest.register_overlay(
            con, ingest.fold(con, pending, self.table_schemas))
        # each view unions the overlay only while its own table has pending changes, and is recreated only
        # when that changes: a run's pending params should not cost every other table's view a rebuild
        for table in sorted(ingest.OVERLAID_TABLES & self._passthrough):
            if self._overlaid is None or (table in self._overlaid) != (table in changed):
                con.execute(ingest.live_view_sql(table, self._table_source(table), table in changed))
        self._overlaid = changed & self._passthrough
        if definitions and not self._definitions_ready:
            schema.create_definitions(con)
            self._definitions_ready = True

    # -- the two ways in ---------------------------------------------------------------------------
    @contextmanager
    def read(self, timeout: float | None = None, definitions: bool = True):
        """A read snapshot: every table and view by plain name, including not-yet-ingested journal data.

        ``timeout`` bounds the wait for a file another program holds read-write (``DUCKML_LOCK_TIMEOUT``
        by default); past it, ``StoreLockedError``. ``definitions=False``: the tables only, not yet the
        views and macros of ``sql/`` (a look-up on the logging path).

        >>> import duckml, tempfile, os
        >>> store = duckml.connect(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> with store.read() as con:
        ...     con.execute("SELECT count(*) FROM runs").fetchone()
        (0,)
        """
        with self._lock:
            fresh = self._lingering_since is None
            con = self._ensure_ready(create=False, timeout=timeout, keep_attached=fresh)
            # Only a read that follows another closely lingers: an isolated read gains nothing from it,
            # and a kept attachment makes a read-write duckdb.connect() of the file fail, even in this process.
            in_burst = time.monotonic() - self._last_read_end < self.read_linger
            if con is None:
                con = self._attach(read_only=True, timeout=timeout) if fresh else self._con
            keep = False
            now = None
            try:
                if self._segment_offsets is None:
                    self._segment_offsets = ingest.segment_offsets(con)
                if fresh and batches.backlog_points(self.journal_dir, self._segment_offsets) > _READER_INGEST_AT:
                    con = self._ingest_backlog_for_reader()
                pending = ingest.collect(con, self.journal_dir, self._segment_offsets)
                self._prepare_live_views(con, pending, fresh, definitions)
                yield con
                now = time.monotonic()
                keep = in_burst and self._may_linger(now)
            finally:
                self._last_read_end = now if now is not None else time.monotonic()
                if keep:
                    if self._lingering_since is None:
                        self._lingering_since = now
                    linger.release_later(self)
                else:
                    self._detach()

    def _ingest_backlog_for_reader(self) -> duckdb.DuckDBPyConnection:
        """A read that finds a large backlog ingests it first (one try for the write lock), so its live
        overlay stays small: folding millions of pending points into it costs gigabytes."""
        self._detach()
        try:
            self.ingest(timeout=0)
        except StoreError:  # busy or not writable: read the backlog through the overlay instead
            pass
        con = self._attach(read_only=True)
        self._segment_offsets = ingest.segment_offsets(con)
        return con

    def release(self) -> None:
        """Let go of the file now if a recent burst of reads left it attached (read-only).

        Needed only before opening the same file read-write with ``duckdb.connect`` in this process
        within ``DUCKML_READ_LINGER_MS`` of a burst of duckml reads; other processes' duckml writers
        never need it.

        >>> import duckml, tempfile, os, duckdb
        >>> store = duckml.connect(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> for _ in range(3):
        ...     _ = store.sql("SELECT count(*) FROM runs")
        >>> store.release()
        >>> duckdb.connect(str(store.path)).close()
        """
        with self._lock:
            if self._lingering_since is not None:
                self._detach()

    @contextmanager
    def write(self, timeout: float | None = None):
        """A read-write transaction on the file, after ingesting every pending journal record.

        >>> import duckml, tempfile, os
        >>> store = duckml.connect(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> with store.write() as con:
        ...     con.execute("SELECT count(*) FROM model_versions").fetchone()
        (0,)
        """
        with self._lock:
            self._ensure_ready(timeout=timeout)  # a bounded attempt (the background ingester's) stays bounded
            con = self._attach(read_only=False, timeout=timeout)
            try:
                batches.ingest_all(con, self.journal_dir, self.table_schemas)  # bounded, crash-safe commits
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute("USE store")
                    yield con
                    con.execute("USE memory")
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            finally:
                self._detach()

    def ingest(self, timeout: float | None = None, threads: int | None = None) -> None:
        """Move every pending journal record of every process into the DuckDB file.

        ``threads`` caps DuckDB's threads for this ingest: the background ingester leaves the other core to
        the training loop that is still logging.
        """
        written = self._journal.writer.points_written if self._journal is not None else 0
        with self._lock:
            self._ingest(timeout, threads)
            self._points_ingested = max(self._points_ingested, written)

    def _ingest(self, timeout: float | None, threads: int | None = None) -> None:
        """The backend's ingest (a lake retries around its own ``write``, on a new connection each try)."""
        with storefile.unwritable_is_store_error(self.path), duckdb_threads(self._connection(), threads), self.write(timeout=timeout):
            pass

    def flush(self, timeout: float | None = None) -> None:
        """Return once everything this process logged is in the DuckDB file (CONTRACT ``duckml.flush``).

        This process's segment is closed first, so the ingest can delete it: the next log call starts a
        new one. The journal then holds nothing already in the file. ``timeout`` bounds the wait for a
        file another program holds (default ``DUCKML_LOCK_TIMEOUT``).
        """
        if self._journal is None and not self.journal_dir.exists():
            self._ensure_ready(timeout=timeout)
            return
        if self._journal is not None:
            self._journal.writer.close()
        with self._lock:
            covered = self._ingest_requests  # everything asked for until now rides along with this ingest
            self.ingest(timeout=timeout)
            self._ingest_covered = max(self._ingest_covered, covered)

    def ingest_soon(self) -> None:
        """Have a background thread ingest the journal shortly, together with whatever else is asked for
        meanwhile (run ends in a sweep); returns at once.

        >>> import duckml, tempfile, os
        >>> store = duckml.get_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> store.ingest_soon(); store.wait_for_background_ingest()
        True
        """
        with self._requests_lock:
            self._ingest_requests += 1
            if self._ingester is None:
                self._ingester = BackgroundIngester(self, ingest_delay())
            ingester = self._ingester
        ingester.request()

    def ingest_requested(self, timeout: float) -> bool:
        """The background ingester's step: ingest unless a flush already covered every request.

        Returns whether it ingested.
        """
        with self._lock:
            covered = self._ingest_requests
            if self._ingest_covered >= covered:
                return False
            self.ingest(timeout=timeout, threads=1)
            self._ingest_covered = max(self._ingest_covered, covered)
            return True

    def wait_for_background_ingest(self, timeout: float = 30.0) -> bool:
        """Wait until the background ingest has nothing left to do; False on timeout."""
        ingester = self._ingester
        return True if ingester is None else ingester.wait_idle(timeout)

    def maybe_ingest(self) -> None:
        """Keep this writer's backlog small: hand it to the background ingester, and ingest here only when
        the backlog outgrew that (one try at the file, no waiting for other programs)."""
        writer = self._journal.writer if self._journal else None
        if writer is None or writer.points_written < self.next_ingest_at:
            return
        self.next_ingest_at = writer.points_written + _BACKGROUND_INGEST_POINTS
        if writer.points_written - self._points_ingested < _AUTO_INGEST_POINTS:
            self.ingest_soon()
            return
        with self._lock:  # an ingest under way holds it: waiting for it is the back-pressure
            if writer.points_written - self._points_ingested < _AUTO_INGEST_POINTS:
                return
            try:
                self.ingest(timeout=0)
            except StoreError:  # held by someone else, or not writable (a full disk): the logged call landed,
                pass  # and its data stays in the journal, visible to readers, until an ingest moves it

    # -- SQL for users -----------------------------------------------------------------------------
    def sql(self, query: str, params=None, *, prepare=None) -> duckdb.DuckDBPyRelation | None:
        """Run SQL on the store: every table, view and macro by plain name (``predict`` needs
        ``duckml.connect()``, whose connection passes ``prepare`` to register it).

        Reads see not-yet-ingested data of every process; writes (CREATE, INSERT …) go to the file.
        The result is materialized, so the store is not held while you use it.

        >>> import duckml, tempfile, os
        >>> store = duckml.connect(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> store.sql("SELECT ? + 1 AS two", [1]).pl()["two"].to_list()
        [2]
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("query must be a non-empty SQL string")
        try:  # under the lock: entering the connection while an ingest's Arrow scan waits for our GIL deadlocks
            with self._lock:
                statements = self._connection().extract_statements(query)
        except duckdb.Error as error:
            raise QueryError(f"query does not parse: {error}") from error
        reading = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN, duckdb.StatementType.COPY,
                   duckdb.StatementType.PRAGMA}
        if all(s.type in reading for s in statements):
            try:
                return self._run(self.read, query, params, prepare)
            except QueryError as error:
                if not dberrors.is_read_only_violation(error):
                    raise
        return self._run(self.write, query, params, prepare)

    def _run(self, mode, query: str, params, prepare):
        with mode() as con:
            if prepare is not None:
                prepare(con, query)
            try:
                with guard.guarded(con, query) if mode == self.write else nullcontext():
                    relation = con.sql(query, params=params)
                    table = None if relation is None else relation.to_arrow_table()
            except duckdb.Error as error:
                raise QueryError(str(error).strip()) from error
            # a cursor per result (closed with the connection): two threads' results must not share one
            results = None if table is None else self._connection().cursor()
        return None if table is None else results.from_arrow(table)

    def exit_flush_timeout(self) -> float | None:
        """How long the exit-time flush waits for a busy file: briefly, as the journal beside the file is
        ingested by the next duckml process anyway (``DUCKML_EXIT_LOCK_TIMEOUT``)."""
        return exit_lock_timeout()

    def close(self, timeout: float | None = None, flush: bool = True) -> None:
        """Ingest this process's journal segment (``flush=False``: leave it to the next ingest of any process),
        let go of the file and close every connection this store opened; the Store stays usable. ``timeout``
        bounds the wait for a file another program holds; the data then stays in the journal and
        ``StoreLockedError`` says so."""
        ingester, self._ingester = self._ingester, None
        if ingester is not None:
            ingester.stop()  # outside our lock: it may be finishing an ingest, which takes the lock
        with self._lock:
            self.release()
            if self._journal is not None:
                self._journal.writer.close()
                self._journal = None
                if flush:
                    self.flush(timeout)
            lifecycle.forget(self)
            if self._con is not None:
                self._con.close()
            self._con = None
            self._passthrough = set()
            self._overlaid = None
            self._definitions_ready = False
            self._caches = {}
            self.table_schemas = {}


