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
from duckml.tracking import system_metrics
from duckml.entities import Experiment, Run, RunInfo, RunStatus
from duckml.clock import utcnow
from duckml.errors import DuckmlError, InvalidInputError, JournalWriteError, RunStateError
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
# Run ends the store refused (a full disk): (run, status, end time), recorded by the next start_run, end_run
# or flush of any thread, or at exit. The run is no longer active meanwhile, so nothing strands the process.
_unrecorded_ends: list[tuple["ActiveRun", str, object]] = []


class ActiveRun:
    """The run ``start_run`` returned: ``.info.run_id`` as in MLflow, and the shortcut ``.run_id``.

    >>> import duckml
    >>> with duckml.start_run(run_name="a") as run:
    ...     run.run_id == run.info.run_id
    True
    """

    def __init__(self, info: RunInfo, store):
        self.info = info
        self._store = store
        self._store_path = store.path_key
        self._system_metrics = None  # its SystemMetricsSampler, when it logs system metrics

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
              description: str | None = None, log_system_metrics: bool | None = None,
              parent_run_id: str | None = None) -> ActiveRun:
    """Start a run (or resume one with ``run_id``) and make it active in this thread.

    ``log_system_metrics=True`` samples CPU, memory, disk, network (and GPU) use into ``system/…`` metrics
    until the run ends; ``None`` follows ``$DUCKML_ENABLE_SYSTEM_METRICS_LOGGING`` (see
    ``duckml.tracking.system_metrics``). ``parent_run_id`` makes the new run a child of that run, as MLflow's
    does: of the active run (then it is the same as ``nested=True``), or, with no run active, of a run that
    has ended.

    >>> import duckml
    >>> with duckml.start_run(run_name="rf-1") as run:
    ...     duckml.log_metric("rmse", 0.42)
    >>> duckml.get_run(run.run_id).info.status
    'FINISHED'
    """
    if log_system_metrics is None:  # settings are checked before anything is created
        log_system_metrics = system_metrics.enabled_by_environment()
    interval = system_metrics.sampling_interval() if log_system_metrics else None
    store = get_store()
    _record_refused_ends()
    stack = _local.stack
    if parent_run_id is not None and stack and parent_run_id != stack[-1].info.run_id:
        raise RunStateError(f"the active run {stack[-1].info.run_id} is not the given parent_run_id "
                            f"{parent_run_id}; end_run() first to start a child of another run")
    nested = nested or parent_run_id is not None
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
        parent = parent_run_id if parent_run_id is not None else stack[-1].info.run_id if stack and nested else None
        info = tracking.create_run(exp_id, run_name=run_name, tags=all_tags, parent_run_id=parent, store=store)
    active = ActiveRun(info, store)
    if log_system_metrics:
        _start_system_metrics(active, interval, resumed=run_id is not None)
    stack.append(active)
    with _all_active_lock:
        _all_active.add(active)
    return active


def _start_system_metrics(active: ActiveRun, interval: float, resumed: bool) -> None:
    run_id, store = active.info.run_id, active._store
    first_step = 0
    if resumed:  # continue the series after its last step, as MLflow does
        history = tracking.get_metric_history(run_id, system_metrics.PREFIX + "cpu_utilization_percentage", store)
        first_step = int(history["step"].max()) + 1 if history.height else 0

    def log(metrics: dict, step: int) -> None:
        tracking.log_metrics(run_id, metrics, step, None, store)

    sampler = system_metrics.SystemMetricsSampler(log, interval, first_step=first_step)
    sampler.start()
    active._system_metrics = sampler


def _end(active: ActiveRun, status: str) -> None:
    store = active._store
    if active._system_metrics is not None:  # its last points go in before the run is marked ended
        active._system_metrics.stop()
        active._system_metrics = None
    end_time = utcnow()
    try:
        tracking.set_terminated(active.info.run_id, status, end_time, store=store)
    except JournalWriteError as error:
        # The run is ended all the same as far as this process goes, or a full disk would strand it: every
        # later start_run would refuse, even once space is back. Its end is recorded later, with this time.
        with _all_active_lock:
            _unrecorded_ends.append((active, status, end_time))
        _forget_active(active)
        raise JournalWriteError(f"run {active.info.run_id} ended, but its end is not recorded yet: {error}. The "
                                "next start_run, end_run or flush records it (or process exit)") from error
    _forget_active(active)
    # CONTRACT: the run is in the file within about a second, and certainly by flush() or exit; the
    # caller pays only the journal record, and a sweep's run ends are ingested together.
    store.ingest_soon()


def _forget_active(active: ActiveRun) -> None:
    with _all_active_lock:
        _all_active.discard(active)
    if active in _local.stack:
        _local.stack.remove(active)
    _last_active_run[0] = active  # read back only if last_active_run() is asked for


def _record_refused_ends() -> None:
    """Record the run ends a full disk refused, oldest first; raise ``JournalWriteError`` if it still does."""
    while _unrecorded_ends:
        with _all_active_lock:
            if not _unrecorded_ends:
                return
            active, status, end_time = _unrecorded_ends[0]
        try:
            tracking.set_terminated(active.info.run_id, status, end_time, store=active._store)
        except JournalWriteError:
            raise  # still refused: the next call tries again
        except DuckmlError as error:  # the run or its store is gone meanwhile: retrying would strand us again
            print(f"duckml: the end of run {active.info.run_id} was not recorded: {error}", file=sys.stderr)
        with _all_active_lock:
            if _unrecorded_ends and _unrecorded_ends[0][0] is active:
                del _unrecorded_ends[0]
        active._store.ingest_soon()


def end_run(status: str = "FINISHED") -> None:
    """End the active run of this thread (no-op when there is none), as MLflow. A run end the disk
    refused before (``JournalWriteError``) is recorded first.

    >>> import duckml
    >>> run = duckml.start_run()
    >>> duckml.end_run(status="KILLED")
    >>> duckml.get_run(run.info.run_id).info.status
    'KILLED'
    """
    try:
        _record_refused_ends()
    finally:  # even while the disk still refuses: a parent run must not stay active behind its child
        if _local.stack:
            _end(_local.stack[-1], status)


def active_run() -> ActiveRun | None:
    """The active run of this thread, or ``None``.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     duckml.active_run().info.run_id == run.info.run_id
    True
    >>> duckml.active_run() is None
    True
    """
    return _local.stack[-1] if _local.stack else None


def last_active_run() -> Run | None:
    """The active run, else the run most recently ended in this process (as stored), else ``None``.

    >>> import duckml
    >>> with duckml.start_run(run_name="last"):
    ...     pass
    >>> duckml.last_active_run().info.run_name
    'last'
    """
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
    try:
        _record_refused_ends()
    except Exception as error:  # still refused: the runs stay RUNNING in the store, as after a kill
        print(f"duckml: could not record the end of run(s) "
              f"{', '.join(active.info.run_id for active, _, _ in _unrecorded_ends)} at exit: {error}",
              file=sys.stderr)
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
    """Log one param of the active run; returns the value. Params are immutable once logged.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     duckml.log_param("model", "ridge")
    'ridge'
    >>> duckml.get_run(run.info.run_id).data.params
    {'model': 'ridge'}
    """
    rid, store = run_id_or_active(run_id)
    tracking.log_params(rid, {key: value}, store)
    return value


def log_params(params: dict, run_id: str | None = None) -> None:
    """Log several params of the active run at once.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     duckml.log_params({"alpha": 0.5, "model": "ridge"})
    >>> duckml.get_run(run.info.run_id).data.params
    {'alpha': '0.5', 'model': 'ridge'}
    """
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
    """Append one point to each metric of a dict, with one step and timestamp.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     for step in range(3):
    ...         duckml.log_metrics({"loss": 1 / (step + 1), "lr": 0.1}, step=step)
    >>> duckml.get_run(run.info.run_id).data.metrics["loss"]
    0.3333333333333333
    """
    rid, store = run_id_or_active(run_id)
    tracking.log_metrics(rid, metrics, step, timestamp, store)


def log_metric_series(key: str, values, steps=None, timestamps=None, run_id: str | None = None) -> None:
    """Append a whole metric history from arrays at once (duckml's bulk path; not in MLflow).

    ``steps`` default to 0, 1, 2 …; ``timestamps`` to now.

    >>> import duckml, numpy as np
    >>> with duckml.start_run() as run:
    ...     duckml.log_metric_series("loss", np.linspace(1.0, 0.1, 1000))
    >>> duckml.get_metric_history(run.info.run_id, "loss")["step"].max()
    999
    """
    rid, store = run_id_or_active(run_id)
    tracking.log_metric_series(rid, key, values, steps, timestamps, store)


def set_tag(key: str, value, run_id: str | None = None) -> None:
    """Set one tag on the active run.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     duckml.set_tag("team", "forecasting")
    >>> duckml.get_run(run.info.run_id).data.tags["team"]
    'forecasting'
    """
    rid, store = run_id_or_active(run_id)
    tracking.set_tags(rid, {key: value}, store)


def set_tags(tags: dict, run_id: str | None = None) -> None:
    """Set several tags on the active run.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     duckml.set_tags({"team": "forecasting", "stage": "tuning"})
    >>> duckml.get_run(run.info.run_id).data.tags["stage"]
    'tuning'
    """
    rid, store = run_id_or_active(run_id)
    tracking.set_tags(rid, tags, store)


def delete_tag(key: str, run_id: str | None = None) -> None:
    """Delete a tag of the active run.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     duckml.set_tag("draft", "yes")
    ...     duckml.delete_tag("draft")
    >>> "draft" in duckml.get_run(run.info.run_id).data.tags
    False
    """
    rid, store = run_id_or_active(run_id)
    tracking.delete_tag(rid, key, store)


def get_run(run_id: str) -> Run:
    """A stored run: ``.info`` (ids, status, times) and ``.data`` (params, latest metrics, tags).

    >>> import duckml
    >>> with duckml.start_run(run_name="baseline") as run:
    ...     duckml.log_metric("rmse", 0.4)
    >>> found = duckml.get_run(run.info.run_id)
    >>> found.info.run_name, found.info.status, found.data.metrics
    ('baseline', 'FINISHED', {'rmse': 0.4})
    """
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


def rename_run(run_id: str, name: str) -> None:
    """Rename a run (MLflow's ``MlflowClient().update_run(run_id, name=…)``).

    >>> import duckml
    >>> with duckml.start_run(run_name="draft") as run:
    ...     pass
    >>> duckml.rename_run(run.info.run_id, "baseline")
    >>> duckml.get_run(run.info.run_id).info.run_name
    'baseline'
    """
    tracking.rename_run(run_id, name, get_store())


def delete_run(run_id: str) -> None:
    """Soft-delete a run: hidden from views and searches until restored, removed for good by ``gc``.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     pass
    >>> duckml.delete_run(run.info.run_id)
    >>> duckml.get_run(run.info.run_id).info.lifecycle_stage
    'deleted'
    """
    tracking.delete_run(run_id, get_store())


def restore_run(run_id: str) -> None:
    """Restore a soft-deleted run.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     pass
    >>> duckml.delete_run(run.info.run_id); duckml.restore_run(run.info.run_id)
    >>> duckml.get_run(run.info.run_id).info.lifecycle_stage
    'active'
    """
    tracking.restore_run(run_id, get_store())


def delete_experiment(name_or_id: str) -> None:
    """Soft-delete an experiment (by name or id), hiding its runs too.

    >>> import duckml
    >>> _ = duckml.create_experiment("scratch")
    >>> duckml.delete_experiment("scratch")
    >>> duckml.get_experiment_by_name("scratch").lifecycle_stage
    'deleted'
    """
    tracking.delete_experiment(name_or_id, get_store())


def restore_experiment(name_or_id: str) -> None:
    """Restore a soft-deleted experiment (by name or id).

    >>> import duckml
    >>> _ = duckml.create_experiment("scratch")
    >>> duckml.delete_experiment("scratch"); duckml.restore_experiment("scratch")
    >>> duckml.get_experiment_by_name("scratch").lifecycle_stage
    'active'
    """
    tracking.restore_experiment(name_or_id, get_store())


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment called ``name``, or ``None``.

    >>> import duckml
    >>> _ = duckml.set_experiment("weekly-sales")
    >>> duckml.get_experiment_by_name("weekly-sales").name
    'weekly-sales'
    >>> duckml.get_experiment_by_name("nope") is None
    True
    """
    return tracking.get_experiment_by_name(name, get_store())


def create_experiment(name: str, tags: dict | None = None) -> str:
    """Create an experiment and return its id.

    >>> import duckml
    >>> experiment_id = duckml.create_experiment("churn", tags={"team": "retention"})
    >>> duckml.get_experiment_by_name("churn").experiment_id == experiment_id
    True
    """
    return tracking.create_experiment(name, tags, get_store())


def flush() -> None:
    """Return once everything this process logged is in the DuckDB file itself.

    >>> import duckml
    >>> duckml.flush()
    """
    _record_refused_ends()
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
        _unrecorded_ends.clear()
    reset_stores(flush=flush)


def _forget_parent_runs() -> None:
    # A forked child owns none of its parent's runs: it must not end them at its exit. It may still log
    # into the run it inherited as active, as with MLflow under multiprocessing's fork.
    global _all_active_lock
    _all_active_lock = threading.Lock()
    _all_active.clear()
    _unrecorded_ends.clear()


on_exit(_end_runs_at_exit)
os.register_at_fork(after_in_child=_forget_parent_runs)
