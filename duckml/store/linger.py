"""One background thread per process that lets go of read-only attachments once their burst of reads ends.

A store keeps the file attached for ``DUCKML_READ_LINGER_MS`` after a read that followed another closely; this
thread detaches it when it goes idle or a writer announces itself, so the store itself never needs a timer.
"""

from __future__ import annotations

import threading
import time

import duckdb

_lingering: set = set()
_wakeup = threading.Condition()
_releaser: threading.Thread | None = None


def release_later(store) -> None:
    """Hand a lingering read attachment to the releaser thread, which detaches it once idle."""
    global _releaser
    with _wakeup:
        _lingering.add(store)
        if _releaser is None or not _releaser.is_alive():
            _releaser = threading.Thread(target=_release_idle_attachments, name="duckml-read-release", daemon=True)
            _releaser.start()
        _wakeup.notify()


def reset_after_fork() -> None:
    """The thread does not survive fork(): the child starts with none and nothing lingering."""
    global _releaser, _wakeup
    _releaser = None
    _lingering.clear()
    _wakeup = threading.Condition()


def _release_idle_attachments() -> None:
    while True:
        with _wakeup:
            while not _lingering:
                _wakeup.wait()
            stores = list(_lingering)
        wait = None
        for store in stores:
            try:
                again = store.release_if_idle(time.monotonic())
            except duckdb.Error:
                again = None  # the connection is gone (closed store): nothing is held any more
            if again is None:
                with _wakeup:
                    if not store.is_lingering():
                        _lingering.discard(store)
            else:
                wait = again if wait is None else min(wait, again)
        time.sleep(wait if wait is not None else 0.001)
