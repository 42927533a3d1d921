"""Process exit and fork: the store layer's hooks.

Upper layers register what must happen at exit with ``on_exit`` (the fluent API ends the runs left active)
instead of the store importing them. At exit those callbacks run first, then every store with a journal
ingests it. In a forked child, every store forgets what belonged to the parent (connections, locks, the
journal segment, cached state): ``Store.reset_after_fork`` derives that from the state the store owns.
"""

from __future__ import annotations

import atexit
import os
import sys
import weakref
from typing import Callable

from duckml.errors import StoreError
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
            store.close()
        except StoreError as error:  # data stays in the journal; the next ingest of any process takes it
            print(f"duckml: could not flush {store.path} at exit ({error}); its data stays in the "
                  "journal and is ingested by the next duckml process", file=sys.stderr)
    _journaling.clear()


def _reset_after_fork() -> None:
    linger.reset_after_fork()
    _journaling.clear()  # the parent's segments are the parent's to ingest
    for store in list(_stores):
        store.reset_after_fork()
    if _registered[0]:
        _register_multiprocessing_finalizer()


os.register_at_fork(after_in_child=_reset_after_fork)
