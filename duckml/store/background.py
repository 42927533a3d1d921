"""Run ends that cost the caller nothing: one background thread per store ingests the journal, coalescing.

A run end only writes its journal record (microseconds) and asks for an ingest. This thread waits a short
while (``DUCKML_INGEST_DELAY_MS``, default 100 ms) so that run ends in quick succession, as in a sweep, ride
along in one ingest, then moves every pending record into the file. Readers of duckml never wait for it:
they see the journal through the live views. A plain ``duckdb`` client sees the run within about a second,
and ``flush()`` or process exit makes it certain.

A busy file never fails the caller: an attempt that finds the file held by another program gives up after
a short wait and tries again later, with backoff; the data is safe in the journal meanwhile.
"""

from __future__ import annotations

import sys
import threading
import time

from duckml.errors import StoreError, StoreLockedError
from duckml.store.settings import env_seconds_from_millis

# one attempt waits at most this long for the file lock, so the store's own lock is never held for long
_ATTEMPT_TIMEOUT = 0.25
_MAX_BACKOFF = 2.0


def ingest_delay() -> float:
    """Seconds a requested ingest waits for more run ends to coalesce (``DUCKML_INGEST_DELAY_MS``)."""
    return env_seconds_from_millis("DUCKML_INGEST_DELAY_MS", 100, 60_000)


class BackgroundIngester:
    """Ingests ``store``'s journal shortly after ``request()``; many requests, one ingest."""

    def __init__(self, store, delay: float):
        self._store = store
        self._delay = delay
        self._wakeup = threading.Condition()
        self._requested = False
        self._busy = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.ingests = 0  # completed background ingests (tests and benchmarks read it)

    def request(self) -> None:
        """Ask for an ingest soon; returns at once."""
        with self._wakeup:
            if self._stopped:
                return
            self._requested = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="duckml-ingest", daemon=True)
                self._thread.start()
            self._wakeup.notify()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no ingest is requested or running; False if that took longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._wakeup:
            while self._requested or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wakeup.wait(min(left, 0.05))
        return True

    def stop(self) -> None:
        """No more background ingests; waits for one under way (the caller ingests what is left)."""
        with self._wakeup:
            self._stopped = True
            self._wakeup.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=120)

    def _run(self) -> None:
        backoff = self._delay
        failing = False  # reported already: a full disk says so once, not at every retry
        while True:
            with self._wakeup:
                while not self._requested and not self._stopped:
                    self._wakeup.wait()
                if self._stopped:
                    return
            with self._wakeup:
                # let the run ends of a sweep gather; stop() (close, exit) wakes us at once instead
                self._wakeup.wait_for(lambda: self._stopped, timeout=backoff)
                if self._stopped:
                    return
                if not self._requested:
                    continue
                self._requested = False
                self._busy = True
            try:
                if self._store.ingest_requested(timeout=_ATTEMPT_TIMEOUT):
                    self.ingests += 1
                backoff = self._delay
                failing = False
            except StoreLockedError:  # another program holds the file: the journal keeps the data
                with self._wakeup:
                    self._requested = True
                backoff = min(max(backoff * 2, 0.05), _MAX_BACKOFF)
            except StoreError as error:  # e.g. a full disk: retried until it lands, reported once
                if not failing:
                    print(f"duckml: background ingest into {self._store.path} failed ({error}); the data stays "
                          "in the journal, retrying", file=sys.stderr)
                failing = True
                with self._wakeup:
                    self._requested = True
                backoff = min(max(backoff * 2, 0.05), _MAX_BACKOFF)
            finally:
                with self._wakeup:
                    self._busy = False
                    self._wakeup.notify_all()
