"""MLflow's fluent API: a thread-local stack of active runs over ``tracking``. No SQL here.

Names and meanings follow MLflow: a ``log_*`` call with no active run starts one; ``start_run`` works as a
context manager that ends the run FINISHED, or FAILED when an exception leaves the block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
import sys
import threading


from duckml.tracking import runs as tracking
from duckml.entities import Experiment, Run, RunInfo, RunStatus
from duckml.errors import InvalidInputError, RunStateError
from duckml.store import get_store, on_exit, reset_stores

if TYPE_CHECKING:  # polars is imported by DuckDB's .pl() when a frame is asked for
    import polars as pl


class _Local(threading.local):
    def __init__(self):
        self.stack: list[ActiveRun] = []


_local = _Local()
_last_active_run: list["ActiveRun | None"] = [None]
_all_active: set["ActiveRun"] = set()  # every thread's unended runs, ended FINISHED at exit
_all_active_lock = threading.Lock()


class ActiveRun:
    """The run ``start_run`` returned: ``.info.run_id`` as in MLflow, and the shortcut ``.run_id``."""

    def __init__(self, info: RunInfo, store):
        self.info = info
        self._store = store
        self._store_path = store.path_key

    @property
    def run_id(self) -> str:
        return self.info.run_id

    @property
    def data(self):
        return tracking.get_run(self.info.run_id, self._store).data

    def __enter__(self) -> "ActiveRun":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        status = RunStatus.FINISHED if exc_type is None else RunStatus.FAILED
        if _local.stack and _local.stack[-1] is self:
            end_run(status.value)
        else:  # ended already, or used from another thread: end this run exactly
            _end(self, status.value)
        return False

    def __repr__(self) -> str:
        return f"<ActiveRun: run_id={self.info.run_id}, run_name={self.info.run_name}>"


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment active for the next runs, creating it if missing.

    >>> import duckml
    >>> duckml.set_experiment("weekly-sales").name
    'weekly-sales'
    """
    store = get_store()
    if experiment_name is None and experiment_id is None:
        raise InvalidInputError("set_experiment needs experiment_name or experiment_id")
    if experiment_name is not None:
        experiment = tracking.ensure_experiment(experiment_name, store=store)
    else:
        experiment = tracking.experiment_for_new_run(experiment_id, store)
    if experiment.lifecycle_stage != "active":
        raise RunStateError(f"experiment {experiment.name!r} is deleted; restore_experiment({experiment.name!r}) "
                            "to use it again")
    store.active_experiment_id = experiment.experiment_id  # process-wide, as in MLflow
    return experiment


def _current_experiment_id(store) -> str:
    if store.active_experiment_id is None:
        store.active_experiment_id = tracking.create_experiment(tracking.DEFAULT_EXPERIMENT_NAME, store=store)
    return store.active_experiment_id


def start_run(run_name: str | None = None, experiment_name: str | None = None, nested: bool = False,
              tags: dict | None = None, run_id: str | None = None, experiment_id: str | None = None,
              description: str | None = None, parent_run_id: str | None = None) -> ActiveRun:
    """Start a run (or resume one with ``run_id``) and make it active in this thread.

    ``parent_run_id`` makes the new run a child of a run of another process (MLflow's argument: a Spark
    executor's run under the driver's); ``nested=True`` makes it a child of this thread's active run.

    >>> import duckml
    >>> with duckml.start_run(run_name="rf-1") as run:
    ...     duckml.log_metric("rmse", 0.42)
    >>> duckml.get_run(run.run_id).info.status
    'FINISHED'
    """
    store = get_store()
    stack = _local.stack
    if stack and not nested and run_id != stack[-1].info.run_id:
        raise RunStateError(f"run {stack[-1].info.run_id} is already active; end_run() first, or "
                            "start_run(nested=True) for a child run")
    if run_id is not None:
        stored = tracking.run_info_for_resume(run_id, store)
        if stored.lifecycle_stage != "active":
            raise RunStateError(f"run {run_id} is deleted; restore_run({run_id!r}) before resuming it")
        store.journal.update("runs", {"run_id": run_id, "status": RunStatus.RUNNING.value, "end_time": None})
        if tags:
            tracking.set_tags(run_id, tags, store)
        info = RunInfo(stored.run_id, stored.experiment_id, stored.run_name, RunStatus.RUNNING.value,
                       stored.start_time, None, stored.lifecycle_stage, stored.parent_run_id)
    else:
        if experiment_name is not None:
            exp_id = tracking.create_experiment(experiment_name, store=store)
        elif experiment_id is not None:
            exp_id = tracking.experiment_for_new_run(experiment_id, store).experiment_id
        else:
            exp_id = _current_experiment_id(store)
        all_tags = dict(tags or {})
        if description is not None:
            all_tags["mlflow.note.content"] = description
        parent = parent_run_id if parent_run_id is not None else (stack[-1].info.run_id if stack and nested
                                                                 else None)
        info = tracking.create_run(exp_id, run_name=run_name, tags=all_tags, parent_run_id=parent, store=store)
    active = ActiveRun(info, store)
    stack.append(active)
    with _all_active_lock:
        _all_active.add(active)
    return active


def _end(active: ActiveRun, status: str) -> None:
    store = active._store
    tracking.set_terminated(active.info.run_id, status, store=store)
    with _all_active_lock:
        _all_active.discard(active)
    if active in _local.stack:
        _local.stack.remove(active)
    # CONTRACT: the run is in the file within about a second, and certainly by flush() or exit; the
    # caller pays only the journal record, and a sweep's run ends are ingested together.
    store.ingest_soon()
    _last_active_run[0] = active  # read back only if last_active_run() is asked for


def end_run(status: str = "FINISHED") -> None:
    """End the active run of this thread (no-op when there is none), as MLflow."""
    if not _local.stack:
        return
    _end(_local.stack[-1], status)


def active_run() -> ActiveRun | None:
    """The active run of this thread, or ``None``."""
    return _local.stack[-1] if _local.stack else None


def last_active_run() -> Run | None:
    """The active run, else the run most recently ended in this process (as stored), else ``None``."""
    current = active_run() or _last_active_run[0]
    if current is None:
        return None
    return tracking.get_run(current.info.run_id, current._store)


def _get_or_start_run() -> ActiveRun:
    """The active run, starting one as MLflow does when a ``log_*`` call finds none."""
    stack = _local.stack
    if stack:
        return stack[-1]
    return start_run()


def _end_runs_at_exit() -> None:
    with _all_active_lock:
        leftover = list(_all_active)
    for active in leftover:
        try:
            _end(active, RunStatus.FINISHED.value)
        except Exception as error:  # at exit, report and carry on with the other runs
            print(f"duckml: could not end run {active.info.run_id} at exit: {error}", file=sys.stderr)


# -- logging on the active run -------------------------------------------------------------
def run_id_or_active(run_id: str | None = None) -> tuple[str, object]:
    """The run a log call goes to, and its store: ``run_id`` when given, else the active run of this thread
    (started as MLflow does when there is none).

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     run_id_or_active()[0] == run.run_id
    True
    """
    if run_id is not None:
        return run_id, get_store()
    active = _get_or_start_run()
    return active.info.run_id, active._store


def log_param(key: str, value, run_id: str | None = None):
    """Log one param of the active run; returns the value. Params are immutable once logged."""
    rid, store = run_id_or_active(run_id)
    tracking.log_params(rid, {key: value}, store)
    return value


def log_params(params: dict, run_id: str | None = None) -> None:
    """Log several params of the active run at once."""
    rid, store = run_id_or_active(run_id)
    tracking.log_params(rid, params, store)


def log_metric(key: str, value, step: int | None = None, timestamp=None, run_id: str | None = None) -> None:
    """Append one point to a metric of the active run; ``step`` defaults to 0, ``timestamp`` to now.

    >>> import duckml
    >>> with duckml.start_run():
    ...     for epoch in range(3):
    ...         duckml.log_metric("loss", 1 / (epoch + 1), step=epoch)
    """
    stack = _local.stack
    if run_id is None and stack:
        active = stack[-1]
        tracking.log_metric(active.info.run_id, key, value, step, timestamp, active._store)
        return
    rid, store = run_id_or_active(run_id)
    tracking.log_metric(rid, key, value, step, timestamp, store)


def log_metrics(metrics: dict, step: int | None = None, timestamp=None, run_id: str | None = None) -> None:
    """Append one point to each metric of a dict, with one step and timestamp."""
    rid, store = run_id_or_active(run_id)
    tracking.log_metrics(rid, metrics, step, timestamp, store)


def log_metric_series(key: str, values, steps=None, timestamps=None, run_id: str | None = None) -> None:
    """Append a whole metric history from arrays at once (duckml's bulk path; not in MLflow)."""
    rid, store = run_id_or_active(run_id)
    tracking.log_metric_series(rid, key, values, steps, timestamps, store)


def set_tag(key: str, value, run_id: str | None = None) -> None:
    """Set one tag on the active run."""
    rid, store = run_id_or_active(run_id)
    tracking.set_tags(rid, {key: value}, store)


def set_tags(tags: dict, run_id: str | None = None) -> None:
    """Set several tags on the active run."""
    rid, store = run_id_or_active(run_id)
    tracking.set_tags(rid, tags, store)


def delete_tag(key: str, run_id: str | None = None) -> None:
    """Delete a tag of the active run."""
    rid, store = run_id_or_active(run_id)
    tracking.delete_tag(rid, key, store)


def get_run(run_id: str) -> Run:
    """A stored run: ``.info`` (ids, status, times) and ``.data`` (params, latest metrics, tags)."""
    return tracking.get_run(run_id, get_store())


def get_metric_history(run_id: str, key: str) -> pl.DataFrame:
    """Every point of a metric: a Polars frame with ``step``, ``timestamp`` (UTC), ``value``.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     duckml.log_metric("acc", 0.5, step=1)
    >>> duckml.get_metric_history(run.run_id, "acc")["value"].to_list()
    [0.5]
    """
    return tracking.get_metric_history(run_id, key, get_store())


def delete_run(run_id: str) -> None:
    """Soft-delete a run."""
    tracking.delete_run(run_id, get_store())


def restore_run(run_id: str) -> None:
    """Restore a soft-deleted run."""
    tracking.restore_run(run_id, get_store())


def delete_experiment(name_or_id: str) -> None:
    """Soft-delete an experiment (by name or id)."""
    tracking.delete_experiment(name_or_id, get_store())


def restore_experiment(name_or_id: str) -> None:
    """Restore a soft-deleted experiment (by name or id)."""
    tracking.restore_experiment(name_or_id, get_store())


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment called ``name``, or ``None``."""
    return tracking.get_experiment_by_name(name, get_store())


def create_experiment(name: str, tags: dict | None = None) -> str:
    """Create an experiment and return its id."""
    return tracking.create_experiment(name, tags, get_store())


def flush() -> None:
    """Return once everything this process logged is in the DuckDB file itself.

    >>> import duckml
    >>> duckml.flush()
    """
    get_store().flush()


def reset_state(flush: bool = True) -> None:
    """Forget this process's active runs and close every store (their journals are ingested first): the
    state of a fresh interpreter. For tests and notebooks; runs left active are not ended.

    ``flush=False`` closes without ingesting: what was logged stays in the journal beside the store, and the
    next duckml process (or ``flush()``) that opens it moves it into the file. A test whose store is thrown
    away saves the ingest that way.

    >>> import duckml
    >>> duckml.reset_state()
    >>> duckml.active_run() is None
    True
    """
    _local.stack.clear()
    _last_active_run[0] = None
    with _all_active_lock:
        _all_active.clear()
    reset_stores(flush=flush)


def _forget_parent_runs() -> None:
    # A forked child owns none of its parent's runs: it must not end them at its exit. It may still log
    # into the run it inherited as active, as with MLflow under multiprocessing's fork.
    global _all_active_lock
    _all_active_lock = threading.Lock()
    _all_active.clear()


on_exit(_end_runs_at_exit)
os.register_at_fork(after_in_child=_forget_parent_runs)
