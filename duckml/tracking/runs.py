"""Tracking operations on explicit ids: validate the whole call, then record it in the journal once.

This is the layer under ``fluent`` (which adds MLflow's active-run stack). Runs created or touched in this
process are cached with their params, so the hot path (``log_metric``) needs no read of the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import getpass
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from duckml.tracking import busy_lookup, validation
from duckml.entities import Experiment, LifecycleStage, Run, RunData, RunInfo, RunStatus
from duckml.clock import utcnow
from duckml.sqlquote import execute
from duckml.errors import InvalidInputError, NotFoundError, ParamConflictError, RunStateError
from duckml.store import Store, experiment_names, get_store
from duckml.store.actor import EDITED_BY_TAG, current_actor

if TYPE_CHECKING:  # polars is imported by DuckDB's .pl() when a frame is asked for
    import polars as pl

DEFAULT_EXPERIMENT_NAME = experiment_names.DEFAULT_NAME
DEFAULT_EXPERIMENT_ID = experiment_names.DEFAULT_ID


@dataclass
class _RunState:
    experiment_id: str
    lifecycle_stage: str
    params: dict[str, str] = field(default_factory=dict)


_RUN_CACHE = "tracking.runs"


def _runs(store: Store) -> dict[str, _RunState]:
    """The store's cache of runs this process created or touched: run_id -> state (no read on the hot path)."""
    return store.cache(_RUN_CACHE, dict)


def _store(store: Store | None) -> Store:
    return store if store is not None else get_store()



def experiment_id_for(name: str) -> str:
    """Experiment ids derive from the name, so processes creating one experiment at once agree on it.

    >>> experiment_id_for("Default")
    '0'
    """
    return experiment_names.derived_id(name)


# -- experiments -------------------------------------------------------------------------------
def _experiment_from_row(row) -> Experiment:
    return Experiment(experiment_id=row[0], name=row[1], lifecycle_stage=row[2], creation_time=row[3])


def get_experiment_by_name(name: str, store: Store | None = None) -> Experiment | None:
    """The experiment called ``name``, or ``None``."""
    validation.check_name(name, "experiment name")
    with _store(store).read(definitions=False) as con:
        row = con.execute("SELECT experiment_id, name, lifecycle_stage, creation_time FROM experiments "
                          "WHERE name = ? ORDER BY lifecycle_stage = 'active' DESC LIMIT 1", [name]).fetchone()
    return None if row is None else _experiment_from_row(row)


def experiment_for_new_run(experiment_id: str, store: Store | None = None) -> Experiment:
    """The experiment with this id, for a run to start in it; ``NotFoundError`` if there is none. While
    another program holds the file, the journal folder's cache answers for the ids it knows."""
    found = busy_lookup.by_id_for_logging(_store(store), experiment_id)
    if found is None:
        raise NotFoundError(f"no experiment with id {experiment_id!r}")
    return found


def get_experiment(experiment_id: str, store: Store | None = None) -> Experiment:
    """The experiment with this id; ``NotFoundError`` if there is none."""
    with _store(store).read(definitions=False) as con:
        row = con.execute("SELECT experiment_id, name, lifecycle_stage, creation_time FROM experiments "
                          "WHERE experiment_id = ?", [str(experiment_id)]).fetchone()
    if row is None:
        raise NotFoundError(f"no experiment with id {experiment_id!r}")
    return _experiment_from_row(row)


def resolve_experiment(name_or_id: str, store: Store | None = None) -> Experiment:
    """An experiment by name, else by id."""
    found = get_experiment_by_name(name_or_id, store) if isinstance(name_or_id, str) and name_or_id else None
    if found is None:
        try:
            found = get_experiment(name_or_id, store)
        except NotFoundError:
            raise NotFoundError(f"no experiment named or with id {name_or_id!r}") from None
    return found


def ensure_experiment(name: str, tags: dict | None = None, store: Store | None = None) -> Experiment:
    """The experiment called ``name``, created if missing (one read of the store). While another program
    holds the file, the journal folder's cache of experiment names answers instead (``busy_lookup``)."""
    validation.check_name(name, "experiment name")
    store = _store(store)
    existing = busy_lookup.by_name_for_logging(store, name)
    if existing is not None:
        if existing.lifecycle_stage == LifecycleStage.DELETED:
            raise RunStateError(f"experiment {name!r} is deleted; restore it with restore_experiment({name!r}) "
                                "or remove it for good with `duckml gc`")
        experiment = existing
    else:
        experiment = busy_lookup.new_experiment(name)
        now = experiment.creation_time
        store.journal.insert("experiments", {"experiment_id": experiment.experiment_id, "name": name,
                                             "lifecycle_stage": LifecycleStage.ACTIVE.value,
                                             "creation_time": now, "last_update_time": now})
    for key, value in (tags or {}).items():
        validation.check_key(key, "tag key")
        store.journal.upsert("experiment_tags", {"experiment_id": experiment.experiment_id, "key": key,
                                                 "value": validation.param_value(value, f"experiment tag {key!r} value")})
    return experiment


def create_experiment(name: str, tags: dict | None = None, store: Store | None = None) -> str:
    """Create an experiment (idempotent for an active one of that name) and return its id.

    >>> import duckml.tracking.runs as t
    >>> t.experiment_id_for("sales") == t.create_experiment("sales")
    True
    """
    return ensure_experiment(name, tags, store).experiment_id


def _set_experiment_stage(name_or_id: str, stage: LifecycleStage, store: Store | None) -> None:
    store = _store(store)
    experiment = resolve_experiment(name_or_id, store)
    if experiment.experiment_id == DEFAULT_EXPERIMENT_ID and stage == LifecycleStage.DELETED:
        raise InvalidInputError("the Default experiment cannot be deleted")
    store.journal.update("experiments", {"experiment_id": experiment.experiment_id,
                                         "lifecycle_stage": stage.value, "last_update_time": utcnow()})
    # a run started while the file is busy must see the new stage, as it would with the file
    experiment_names.remember_one(store.journal_dir, experiment.experiment_id, experiment.name, stage.value,
                                  experiment.creation_time)


def delete_experiment(name_or_id: str, store: Store | None = None) -> None:
    """Soft-delete an experiment: it and its runs disappear from views and searches until restored."""
    _set_experiment_stage(name_or_id, LifecycleStage.DELETED, store)


def restore_experiment(name_or_id: str, store: Store | None = None) -> None:
    """Undo ``delete_experiment``."""
    _set_experiment_stage(name_or_id, LifecycleStage.ACTIVE, store)


# -- runs --------------------------------------------------------------------------------------
_ADJECTIVES = ("amber", "brave", "calm", "clever", "crisp", "eager", "gentle", "golden", "lucid", "mellow",
               "nimble", "quiet", "rapid", "silent", "steady", "sunny", "swift", "tidy", "vivid", "wise")
_NOUNS = ("badger", "crane", "dolphin", "falcon", "fox", "heron", "ibex", "koala", "lynx", "marten",
          "otter", "owl", "panda", "puffin", "raven", "seal", "sparrow", "tiger", "wolf", "yak")


def _random_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(1, 999)}"


def context_tags(parent_run_id: str | None = None) -> dict[str, str]:
    """The tags MLflow's ``start_run`` puts on every run: who ran what, and the parent of a child run.

    >>> sorted(context_tags("abc"))
    ['mlflow.parentRunId', 'mlflow.source.name', 'mlflow.source.type', 'mlflow.user']
    """
    try:
        user = getpass.getuser()
    except Exception:  # no login name in this environment (a container without a passwd entry)
        user = "unknown"
    tags = {"mlflow.user": user, "mlflow.source.name": sys.argv[0] if sys.argv and sys.argv[0] else "<console>",
            "mlflow.source.type": "LOCAL"}
    if parent_run_id is not None:
        tags["mlflow.parentRunId"] = parent_run_id
    return tags


def create_run(experiment_id: str, run_name: str | None = None, tags: dict | None = None,
               parent_run_id: str | None = None, store: Store | None = None) -> RunInfo:
    """Start a new RUNNING run in an experiment (its id from ``create_experiment``), with MLflow's context
    tags (``context_tags``) unless ``tags`` gives them."""
    store = _store(store)
    if run_name is not None:
        validation.check_name(run_name, "run name")
    tags = {validation.check_key(key, "tag key"): validation.param_value(value, f"tag {key!r} value")
            for key, value in {**context_tags(parent_run_id), **(tags or {})}.items()}
    if parent_run_id is not None:
        _state(store, parent_run_id)
    info = RunInfo(run_id=uuid.uuid4().hex, experiment_id=str(experiment_id),
                   run_name=run_name or _random_run_name(), status=RunStatus.RUNNING.value,
                   start_time=utcnow(), parent_run_id=parent_run_id)
    store.journal.insert("runs", {"run_id": info.run_id, "experiment_id": info.experiment_id,
                                  "run_name": info.run_name, "status": info.status,
                                  "start_time": info.start_time, "end_time": None,
                                  "lifecycle_stage": LifecycleStage.ACTIVE.value,
                                  "parent_run_id": parent_run_id})
    _runs(store)[info.run_id] = _RunState(info.experiment_id, LifecycleStage.ACTIVE.value)
    for key, value in tags.items():
        store.journal.upsert("tags", {"run_id": info.run_id, "key": key, "value": value})
    return info


def run_not_found(run_id: str, store: Store) -> NotFoundError:
    """The one error for a run id the store does not know.

    >>> import duckml
    >>> print(run_not_found("abc", duckml.get_store()))  # doctest: +ELLIPSIS
    no run with id 'abc' in store ...; list the runs with duckml.search_runs() or `duckml runs list`
    """
    return NotFoundError(f"no run with id {run_id!r} in store {store.path}; list the runs with "
                         "duckml.search_runs() or `duckml runs list`")


def resolve_run_id(run_id: str, store: Store | None = None) -> str:
    """The full id of the run that ``run_id`` names: a whole id, or a unique prefix of at least 4 characters
    (as git takes short commit ids).

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     pass
    >>> resolve_run_id(run.run_id[:8]) == run.run_id
    True
    """
    store = _store(store)
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError(f"run_id must be a non-empty string, got {run_id!r}")
    if len(run_id) == 32 or run_id in _runs(store):
        return run_id
    if len(run_id) < 4:
        raise InvalidInputError(f"run id prefix {run_id!r} is too short: give at least 4 characters")
    with store.read(definitions=False) as con:
        found = [r[0] for r in execute(con, "SELECT run_id FROM runs WHERE starts_with(run_id, ?) ORDER BY run_id "
                                            "LIMIT 6", [run_id]).fetchall()]
    if not found:
        raise run_not_found(run_id, store)
    if len(found) > 1 and run_id not in found:
        shown = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
        raise InvalidInputError(f"run id prefix {run_id!r} matches several runs ({shown}); give more characters")
    return run_id if run_id in found else found[0]


def _state(store: Store, run_id: str) -> _RunState:
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError(f"run_id must be a non-empty string, got {run_id!r}")
    validation.check_text(run_id, "run_id")
    state = _runs(store).get(run_id)
    if state is None:
        found = busy_lookup.stored_run(store, run_id)  # while the file is held, the journal may answer
        if found is None:
            raise run_not_found(run_id, store)
        info, params = RunInfo(*found[0]), found[1]
        state = _runs(store).setdefault(run_id, _RunState(info.experiment_id, info.lifecycle_stage, params))
    return state


def run_info_for_resume(run_id: str, store: Store | None = None) -> RunInfo:
    """The run ``start_run(run_id=…)`` resumes; ``NotFoundError`` if unknown. While another program holds
    the file, the journal segments that hold the run answer."""
    store = _store(store)
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError(f"run_id must be a non-empty string, got {run_id!r}")
    validation.check_text(run_id, "run_id")
    found = busy_lookup.stored_run(store, run_id)
    if found is None:
        raise run_not_found(run_id, store)
    _runs(store).setdefault(run_id, _RunState(found[0][1], found[0][6], found[1]))
    return RunInfo(*found[0])


def require_run(store: Store, run_id: str) -> None:
    """``NotFoundError`` unless the store has a run with this id (deleted or not)."""
    _state(store, run_id)


def require_active(store: Store, run_id: str) -> _RunState:
    """The run's cached state; ``NotFoundError`` if the store lacks it, ``RunStateError`` if it is deleted."""
    return _active_state(store, run_id)


def _active_state(store: Store, run_id: str) -> _RunState:
    state = _state(store, run_id)
    if state.lifecycle_stage != LifecycleStage.ACTIVE:
        raise RunStateError(f"run {run_id} is deleted; restore_run({run_id!r}) before logging to it")
    return state


def get_run(run_id: str, store: Store | None = None) -> Run:
    """The run with its params, latest metrics and tags; ``NotFoundError`` if unknown.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     _ = duckml.log_param("lr", 0.1)
    >>> duckml.get_run(run.info.run_id).data.params
    {'lr': '0.1'}
    """
    store = _store(store)
    if isinstance(run_id, str):
        validation.check_text(run_id, "run_id")
    with store.read() as con:
        row = execute(con, "SELECT run_id, experiment_id, run_name, status, start_time, end_time, lifecycle_stage, "
                           "parent_run_id FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is None:
            raise run_not_found(run_id, store)
        params = dict(execute(con, "SELECT key, value FROM params WHERE run_id = ? ORDER BY key", [run_id]).fetchall())
        metrics = dict(execute(con, "SELECT key, value FROM latest_metrics WHERE run_id = ? ORDER BY key",
                               [run_id]).fetchall())
        tags = dict(execute(con, "SELECT key, value FROM tags WHERE run_id = ? ORDER BY key", [run_id]).fetchall())
    return Run(RunInfo(*row), RunData(params=params, metrics=metrics, tags=tags))


def set_terminated(run_id: str, status: str = "FINISHED", end_time: datetime | None = None,
                   store: Store | None = None) -> None:
    """Record a run's end: status FINISHED, FAILED or KILLED, and its end time."""
    store = _store(store)
    try:
        status = RunStatus(str(status).upper())
    except ValueError:
        raise InvalidInputError(f"status must be one of {[s.value for s in RunStatus]}, got {status!r}") from None
    _state(store, run_id)
    store.journal.update("runs", {"run_id": run_id, "status": status.value, "end_time": end_time or utcnow()})


def _set_run_stage(run_id: str, stage: LifecycleStage, store: Store | None) -> None:
    store = _store(store)
    state = _state(store, run_id)
    store.journal.update("runs", {"run_id": run_id, "lifecycle_stage": stage.value})
    state.lifecycle_stage = stage.value
    _record_editor(store, run_id)


def _record_editor(store: Store, run_id: str) -> None:
    """Tag the run with who edited it, when an application (the UI) acts for a signed-in user."""
    actor = current_actor()
    if actor is not None:
        store.journal.upsert("tags", {"run_id": run_id, "key": EDITED_BY_TAG, "value": actor})


def delete_run(run_id: str, store: Store | None = None) -> None:
    """Soft-delete a run (hidden from views and searches; ``restore_run`` brings it back)."""
    _set_run_stage(run_id, LifecycleStage.DELETED, store)


def restore_run(run_id: str, store: Store | None = None) -> None:
    """Undo ``delete_run``."""
    _set_run_stage(run_id, LifecycleStage.ACTIVE, store)


def rename_run(run_id: str, name: str, store: Store | None = None) -> None:
    """Give a run a new name (checked like ``start_run(run_name=…)``); deleted runs can be renamed too.

    >>> import duckml
    >>> with duckml.start_run(run_name="draft") as run:
    ...     pass
    >>> duckml.rename_run(run.info.run_id, "baseline")
    >>> duckml.get_run(run.info.run_id).info.run_name
    'baseline'
    """
    store = _store(store)
    validation.check_name(name, "run name")
    _state(store, run_id)
    store.journal.update("runs", {"run_id": run_id, "run_name": name})
    _record_editor(store, run_id)


# -- logging -----------------------------------------------------------------------------------
def log_params(run_id: str, params: dict, store: Store | None = None) -> None:
    """Log params; a key already logged with another value raises ``ParamConflictError`` (nothing is written)."""
    store = _store(store)
    state = _active_state(store, run_id)
    if not isinstance(params, dict):
        raise InvalidInputError(f"params must be a dict, got {type(params).__name__}")
    checked = {validation.check_key(k, "param key"): validation.param_value(v, f"param {k!r} value")
               for k, v in params.items()}
    for key, value in checked.items():
        old = state.params.get(key)
        if old is not None and old != value:
            raise ParamConflictError(f"param {key!r} of run {run_id} is already {old!r}; params are immutable "
                                     f"(got {value!r}); log it under another key or start a new run")
    for key, value in checked.items():
        if key not in state.params:
            store.journal.insert("params", {"run_id": run_id, "key": key, "value": value})
            state.params[key] = value


_checked_keys: set[str] = set()


def log_metric(run_id: str, key: str, value, step=None, timestamp=None, store: Store | None = None) -> None:
    """Append one point to a metric's history (~µs: one write to this process's journal)."""
    # The hot path of a training loop: the common types are checked by identity before the full checks.
    store = store or get_store()
    state = _runs(store).get(run_id)
    if state is None or state.lifecycle_stage != "active":
        _active_state(store, run_id)
    if key not in _checked_keys:
        validation.check_key(key, "metric key")
        if len(_checked_keys) < 100_000:
            _checked_keys.add(key)
    if type(value) is not float:
        value = validation.check_metric_value(key, value)
    if step is None:
        step = 0
    elif type(step) is not int or not -(2**63) <= step < 2**63:
        step = validation.check_step(step)
    stamp = time.time_ns() // 1000 if timestamp is None else validation.timestamp_us(timestamp)
    writer = store.journal.writer
    writer.write_metric(run_id, key, value, step, stamp)
    if writer.points_written >= store.next_ingest_at:
        store.maybe_ingest()


def log_metrics(run_id: str, metrics: dict, step=None, timestamp=None, store: Store | None = None) -> None:
    """Append one point to each metric in ``metrics``, all with the same step and timestamp.

    A bad key or value rejects the whole call before anything is written. Keys are validated once per
    journal segment: a dict with the keys of an earlier call is written as one packed record block.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     for step in range(3):
    ...         duckml.log_metrics({"loss": 1 / (step + 1), "acc": step / 3}, step=step)
    >>> len(duckml.get_metric_history(run.info.run_id, "acc"))
    3
    """
    store = store or get_store()
    state = _runs(store).get(run_id)
    if state is None or state.lifecycle_stage != "active":
        _active_state(store, run_id)
    if type(metrics) is not dict and not isinstance(metrics, dict):
        raise InvalidInputError(f"metrics must be a dict, got {type(metrics).__name__}")
    if step is None:
        step = 0
    elif type(step) is not int or not -(2**63) <= step < 2**63:
        step = validation.check_step(step)
    stamp = time.time_ns() // 1000 if timestamp is None else validation.timestamp_us(timestamp)
    writer = store.journal.writer
    if not writer.write_metric_row(run_id, metrics, step, stamp):
        keys = [validation.check_key(k, "metric key") for k in metrics]
        values = [validation.check_metric_value(k, v) for k, v in metrics.items()]
        if not keys:
            return
        writer.write_metrics(run_id, keys, np.asarray(values, dtype=np.float64), step, stamp)
    if writer.points_written >= store.next_ingest_at:
        store.maybe_ingest()


def log_metric_series(run_id: str, key: str, values, steps=None, timestamps=None,
                      store: Store | None = None) -> None:
    """Append a whole history at once (arrays; millions of points per second).

    ``steps`` default to 0, 1, 2 …; ``timestamps`` (epoch ms, or datetimes) default to now.

    >>> import duckml, numpy as np
    >>> with duckml.start_run() as run:
    ...     duckml.log_metric_series("loss", np.linspace(1, 0, 5))
    >>> duckml.get_metric_history(run.info.run_id, "loss")["step"].to_list()
    [0, 1, 2, 3, 4]
    """
    store = _store(store)
    _active_state(store, run_id)
    validation.check_key(key, "metric key")
    values = validation.metric_values_array(key, values)
    n = len(values)
    steps = validation.steps_array(key, steps, n)
    stamps = validation.timestamps_us_array(timestamps, n)
    if not (len(steps) == len(stamps) == n):
        raise InvalidInputError(f"metric {key!r}: values ({n}), steps ({len(steps)}) and timestamps "
                                f"({len(stamps)}) must have the same length")
    if n:
        store.journal.writer.write_metrics(run_id, key, values, steps, stamps)
        store.maybe_ingest()


def set_tags(run_id: str, tags: dict, store: Store | None = None) -> None:
    """Set (or overwrite) tags on a run."""
    store = _store(store)
    _active_state(store, run_id)
    if not isinstance(tags, dict):
        raise InvalidInputError(f"tags must be a dict, got {type(tags).__name__}")
    checked = {validation.check_key(k, "tag key"): validation.param_value(v, f"tag {k!r} value")
               for k, v in tags.items()}
    for key, value in checked.items():
        store.journal.upsert("tags", {"run_id": run_id, "key": key, "value": value})
    if EDITED_BY_TAG not in checked:
        _record_editor(store, run_id)


def delete_tag(run_id: str, key: str, store: Store | None = None) -> None:
    """Remove a tag from a run; ``NotFoundError`` if the run has no such tag."""
    store = _store(store)
    _active_state(store, run_id)
    validation.check_key(key, "tag key")
    with store.read() as con:
        found = con.execute("SELECT count(*) FROM tags WHERE run_id = ? AND key = ?", [run_id, key]).fetchone()[0]
    if not found:
        raise NotFoundError(f"run {run_id} has no tag {key!r}")
    store.journal.delete("tags", {"run_id": run_id, "key": key})
    if key != EDITED_BY_TAG:
        _record_editor(store, run_id)


def get_metric_history(run_id: str, key: str, store: Store | None = None) -> pl.DataFrame:
    """Every point of one metric of one run, by step then time: columns ``step``, ``timestamp``, ``value``."""
    store = _store(store)
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError(f"run_id must be a non-empty string, got {run_id!r}")
    validation.check_key(key, "metric key")
    with store.read(definitions=False) as con:  # one read: attaching the file costs more than both queries
        if run_id not in _runs(store) and \
                con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchone()[0] == 0:
            raise run_not_found(run_id, store)
        return con.execute("SELECT step, timestamp, value FROM metrics WHERE run_id = ? AND key = ? "
                           "ORDER BY step, timestamp", [run_id, key]).pl()


def forget_cached_runs(store: Store | None = None) -> None:
    """Drop the store's run cache (after another process changed a run's lifecycle)."""
    _runs(_store(store)).clear()
