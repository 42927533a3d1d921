"""Runs logged from Spark executors land in the driver's store, as child runs of the driver's run.

:func:`run_context` captures on the driver what an executor needs: the store (a DuckDB file every
executor can reach, or the team's DuckLake catalog and its shared data path), the experiment and the
parent run. It is a small picklable value: the function given to ``mapInPandas`` / ``mapInArrow`` closes
over it and calls :meth:`SparkRunContext.start_run` in each task. Each executor's Python worker journals in
its own segment (one journal per process, no lock), which the store ingests as it ingests any process's.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass


@dataclass(frozen=True)
class SparkRunContext:
    """Where an executor's runs go: ``store`` (a file path or a ``ducklake:`` spec), its ``data_path``
    (lake only), the ``experiment_id`` and the ``parent_run_id`` (None: top-level runs)."""

    store: str
    data_path: str | None
    experiment_id: str
    parent_run_id: str | None

    @contextlib.contextmanager
    def start_run(self, run_name: str | None = None, tags: dict | None = None):
        """A child run of the driver's run in this (executor) process, as a context manager yielding the
        ActiveRun. On leaving it the run is flushed into the store: an executor's local journal would
        otherwise be lost with a machine the cluster tears down after the job.

        >>> import duckml, duckml.spark
        >>> with duckml.start_run(run_name="search"):
        ...     context = duckml.spark.run_context()
        >>> with context.start_run(run_name="alpha=0.1") as child:  # what an executor task does
        ...     duckml.log_metric("rmse", 0.5)
        >>> duckml.get_run(child.run_id).info.parent_run_id == context.parent_run_id
        True
        """
        import duckml
        from duckml.store import resolve_store_path

        if str(resolve_store_path()) != self.store:  # an executor: select the driver's store once
            duckml.set_store(self.store, data_path=self.data_path)
        with duckml.start_run(run_name=run_name, tags=tags, experiment_id=self.experiment_id,
                              parent_run_id=self.parent_run_id) as run:
            yield run
        duckml.flush()


def run_context(parent_run_id: str | None = None) -> SparkRunContext:
    """The context executors log with: this process's store and experiment, and as parent ``parent_run_id``
    (default: the active run, if any). What this process logged so far is flushed into the store first:
    executors on other machines must find the experiment and the parent run there."""
    import duckml
    from duckml.store import get_store

    store = get_store()
    key = getattr(store, "path_key", None)
    if key is not None and "\0" in key:  # a lake: its spec and the data path every machine shares
        spec, data_path = key.split("\0", 1)
    else:
        spec, data_path = str(store.path), None
    active = duckml.active_run()
    if parent_run_id is None and active is not None:
        parent_run_id = active.info.run_id
    if parent_run_id is not None:
        experiment_id = duckml.get_run(parent_run_id).info.experiment_id
    else:  # the experiment this process's runs go to (MLflow's Default unless one was set)
        experiment_id = store.active_experiment_id or duckml.set_experiment("Default").experiment_id
    duckml.flush()
    return SparkRunContext(spec, data_path, experiment_id, parent_run_id)
