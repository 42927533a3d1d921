"""Who is making the writes of the current request or task: set by an application (the UI sets the
signed-in user around each request), read by the layers that record writes (run tags, registry events).

Without an actor (scripts, notebooks, the CLI) writes record none. A context variable, not a global: each
request of a threaded or async server sees only its own.

>>> current_actor() is None
True
>>> with acting_as("ada"):
...     current_actor()
'ada'
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

EDITED_BY_TAG = "duckml.edited_by"  # the run tag naming who last edited a run through an application

_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("duckml_actor", default=None)


def current_actor() -> str | None:
    """The name set by the innermost ``acting_as``, else None."""
    return _actor.get()


@contextmanager
def acting_as(name: str | None):
    """Record ``name`` as the author of the writes made inside the block (in this context only)."""
    token = _actor.set(name)
    try:
        yield name
    finally:
        _actor.reset(token)
