"""The process's one cache of loaded models: model objects by stored file, scoring specs by key.

Bounded and least recently used first, and an entry is dropped only once it has been idle for a while:
a query looks its model up again for every vector of rows, so one that is scoring is never idle, and a
model resolved through the store (keyed by its stored file) cannot be reloaded from its key alone.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Hashable

MAX_ENTRIES = 8
IDLE_BEFORE_EVICTION = 60.0  # seconds


class ModelCache:
    """Thread-safe: ``get(key, stamp)`` / ``put(key, value, stamp)``; a stamp that differs is a miss.

    >>> cache = ModelCache()
    >>> cache.put(("model", "/m.skops"), "a model", stamp=(1, 2))
    >>> cache.get(("model", "/m.skops"), stamp=(1, 2)), cache.get(("model", "/m.skops"), stamp=(9, 9))
    ('a model', None)
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, idle: float = IDLE_BEFORE_EVICTION):
        self.max_entries = max_entries
        self.idle = idle
        self._entries: OrderedDict[Hashable, tuple[Any, Any]] = OrderedDict()
        self._last_used: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, stamp: Any = None) -> Any:
        """The value cached under ``key`` (marked as just used), or None."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or hit[1] != stamp:
                return None
            self._entries.move_to_end(key)
            self._last_used[key] = time.monotonic()
            return hit[0]

    def put(self, key: Hashable, value: Any, stamp: Any = None) -> None:
        """Cache ``value`` under ``key``; entries beyond the bound go once idle, least recently used first."""
        now = time.monotonic()
        with self._lock:
            self._entries[key] = (value, stamp)
            self._entries.move_to_end(key)
            self._last_used[key] = now
            for old in list(self._entries):
                if len(self._entries) <= self.max_entries:
                    break
                if now - self._last_used.get(old, 0.0) >= self.idle:
                    del self._entries[old]
                    self._last_used.pop(old, None)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Forget every cached model."""
        with self._lock:
            self._entries.clear()
            self._last_used.clear()


MODELS = ModelCache()
