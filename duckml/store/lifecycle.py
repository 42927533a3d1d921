"""Process exit and fork: the store layer's hooks.

Upper layers register what must happen at exit with ``on_exit`` (the fluent API ends the runs left active)
instead of the store importing them. At exit those callbacks run first, then every store with a journal
ingests it. In a forked child, every store forgets what belonged to the parent (connections, locks, the
journal segment, cached state): ``Store.reset_after_fork`` derives that from the state the store owns.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import sys
import weakref
from typing import Callable

import duckdb

from duckml.errors import DuckmlError
from duckml.store import linger

_exit_callbacks: list[Callable[[], None]] = []
_stores: "weakref.WeakSet" = weakref.WeakSet()  # every Store of this process, for the fork reset
_journaling: list = []  # stores with a journal segment open in this process
_registered = [False]


def on_exit(callback: Callable[[], None]) -> None:
    """Run ``callback`` at process exit before the stores ingest their journals (once per callback).

    >>> on_exit(lambda: None)
    """
    if callback not in _exit_callbacks:
        _exit_callbacks.append(callback)


def track(store) -> None:
    """Know ``store`` for the after-fork reset (called once by every Store)."""
    _stores.add(store)


def flush_at_exit_later(store) -> None:
    """Make sure ``store``'s journal is ingested when this process exits."""
    if not _registered[0]:
        # The exit ingest may be this process's first fold (every earlier one found the file held by
        # another program), and pyarrow then imports pandas, which imports concurrent.futures.thread,
        # which registers a threading exit hook: refused once the interpreter shuts down. Loaded now
        # (a few ms, once per logging process, usually already loaded), it registers in time.
        import concurrent.futures.thread  # noqa: F401
        atexit.register(_flush_at_exit)
        _register_multiprocessing_finalizer()
        _registered[0] = True
    if store not in _journaling:
        _journaling.append(store)


def forget(store) -> None:
    """``store`` was closed: nothing of it is left to flush at exit."""
    if store in _journaling:
        _journaling.remove(store)


def _register_multiprocessing_finalizer() -> None:
    # multiprocessing's forked children leave through os._exit, skipping atexit; its own finalizers run.
    if "multiprocessing" in sys.modules:
        from multiprocessing import util

        util.Finalize(None, _flush_at_exit, exitpriority=100)


def _flush_at_exit() -> None:
    for callback in list(_exit_callbacks):
        try:
            callback()
        except Exception as error:  # at exit, report and carry on: the journal still holds the data
            print(f"duckml: an exit hook failed: {error}", file=sys.stderr)
    for store in list(_journaling):
        try:
            store.close(timeout=store.exit_flush_timeout())
        except DuckmlError as error:  # a busy file, or a bad DUCKML_EXIT_LOCK_TIMEOUT  # data stays in the journal; the next ingest of any process takes it
            print(f"duckml: could not flush {store.path} at exit ({error}); its data stays in the "
                  "journal and is ingested by the next duckml process", file=sys.stderr)
    _journaling.clear()


def never_destroy(*objects) -> None:
    """In a forked child: keep the parent's DuckDB connections alive until the process is gone.

    Their destructor joins DuckDB's worker threads, which do not exist in the child: it hangs for ever (or
    aborts in std::terminate), at the latest during interpreter teardown. One extra reference each, never
    released, keeps teardown from reaching it; the OS reclaims the memory at exit.
    """
    for obj in objects:
        if obj is not None:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def _reset_after_fork() -> None:
    # duckdb's module-level default connection (duckdb.sql(), of the user's code or a library's) too
    never_destroy(duckdb.default_connection())
    linger.reset_after_fork()
    _journaling.clear()  # the parent's segments are the parent's to ingest
    for store in list(_stores):
        store.reset_after_fork()
    if _registered[0]:
        _register_multiprocessing_finalizer()


def _release_before_fork() -> None:
    # DuckDB's registry of attached files is process-wide and survives fork: a file the parent keeps
    # attached (a lingering read) could never be attached again in the child. Let go of it first, unless
    # another thread is inside the store right now (forking then is the caller's risk, as with any lock).
    for store in list(_stores):
        if store.is_lingering() and store.lock.acquire(blocking=False):
            try:
                store.release()
            finally:
                store.lock.release()


os.register_at_fork(before=_release_before_fork, after_in_child=_reset_after_fork)
