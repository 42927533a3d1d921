"""The look-ups that starting a run and logging make, answered even while another program holds the file.

Logging never needs the file (it goes to the journal), but starting a run needs its experiment's id, and
logging to a run of another process needs to know the run exists; a plain ``duckdb`` client holding the
file read-write refuses duckml even a read-only attach. So these look-ups wait for the file only briefly
(``BUSY_WAIT_SECONDS``, at most ``DUCKML_LOCK_TIMEOUT``); past that:

- experiments are answered from the journal folder's cache of the names and ids last seen in the file
  (``store.experiment_names``). A name the cache does not know is created through the journal under its
  derived id, exactly as when the file is free; the ingest moves it onto a stored experiment of that name
  should the cache have missed one. An experiment id the cache does not know waits for the file.
- runs are answered from the journal segments that still hold their creation (``store.journal_runs``);
  a run they do not hold waits for the file, as before.
"""

from __future__ import annotations

from pathlib import Path

from duckml.clock import utcnow
from duckml.entities import Experiment, LifecycleStage
from duckml.errors import StoreLockedError
from duckml.store import Store, experiment_names, journal_runs
from duckml.store.settings import lock_timeout

# Long enough to ride out another duckml process's ingest (milliseconds), short enough not to stall a
# training script behind a colleague's open duckdb shell.
BUSY_WAIT_SECONDS = 1.0

_COLUMNS = "experiment_id, name, lifecycle_stage, creation_time"


def busy_wait() -> float:
    """Seconds a look-up waits for a held file before answering from the cache."""
    return min(BUSY_WAIT_SECONDS, lock_timeout())


def _experiment(row) -> Experiment:
    return Experiment(experiment_id=row[0], name=row[1], lifecycle_stage=row[2], creation_time=row[3])


def _from_cache(name: str, entry: dict) -> Experiment:
    return Experiment(experiment_id=entry["id"], name=name, lifecycle_stage=entry["stage"],
                      creation_time=experiment_names.created_at(entry) or utcnow())


def _read_all(store: Store) -> list:
    """Every experiment in the store, active first, after creating or migrating it (bounded wait); the
    journal folder's cache is refreshed from the answer."""
    wait = busy_wait()
    if not (isinstance(store.path, Path) and store.path.exists()):  # an existing file is checked by the read
        store.create(timeout=wait)  # logging is what creates a store
    with store.read(timeout=wait, definitions=False) as con:
        rows = con.execute(f"SELECT {_COLUMNS} FROM experiments "
                           "ORDER BY lifecycle_stage = 'active' DESC, experiment_id").fetchall()
    experiment_names.remember(store.journal_dir, rows)
    return rows


def by_name_for_logging(store: Store, name: str) -> Experiment | None:
    """The experiment called ``name`` (the active one first), or None if the store has none.

    >>> import duckml
    >>> by_name_for_logging(duckml.get_store(), "no-such-experiment") is None
    True
    """
    try:
        rows = _read_all(store)
    except StoreLockedError:
        # A held file exists: a store not created yet cannot be held, so that error is real. (A lake,
        # whose path is its spec, queues its writers instead; the cache serves it as well.)
        if isinstance(store.path, Path) and not store.exists():
            raise
        entry = experiment_names.lookup_name(store.journal_dir, name)
        return None if entry is None else _from_cache(name, entry)
    for row in rows:
        if row[1] == name:
            return _experiment(row)
    return None


def by_id_for_logging(store: Store, experiment_id: str) -> Experiment | None:
    """The experiment with this id, or None; while the file is held, the cache answers for the ids it
    knows and the look-up waits the full ``DUCKML_LOCK_TIMEOUT`` for the others (an unknown id must not
    get runs)."""
    def read(timeout: float | None):
        with store.read(timeout=timeout, definitions=False) as con:
            row = con.execute(f"SELECT {_COLUMNS} FROM experiments WHERE experiment_id = ?",
                              [str(experiment_id)]).fetchone()
        return None if row is None else _experiment(row)

    try:
        return read(busy_wait())
    except StoreLockedError:
        found = experiment_names.lookup_id(store.journal_dir, str(experiment_id))
        if found is not None:
            return _from_cache(*found)
    return read(None)


def new_experiment(name: str) -> Experiment:
    """The experiment row a creation journals: derived id, active, created now."""
    return Experiment(experiment_names.derived_id(name), name, LifecycleStage.ACTIVE.value, utcnow())


def stored_run(store: Store, run_id: str) -> tuple[tuple, dict[str, str]] | None:
    """``(row in journal_runs.RUN_COLUMNS order, params)`` of a run, or None if the store has no such run.

    >>> import duckml
    >>> stored_run(duckml.connect().store, "0" * 32) is None
    True
    """
    columns = ", ".join(journal_runs.RUN_COLUMNS)

    def read(timeout: float | None):
        with store.read(timeout=timeout, definitions=False) as con:
            row = con.execute(f"SELECT {columns} FROM runs WHERE run_id = ?", [run_id]).fetchone()
            params = dict(con.execute("SELECT key, value FROM params WHERE run_id = ?", [run_id]).fetchall())
        return None if row is None else (row, params)

    try:
        return read(busy_wait())
    except StoreLockedError:
        found = journal_runs.run_from_journal(store.journal_dir, run_id)
        if found is not None:
            return found
    return read(None)
