"""The tracking layer: what a training script logs.

``fluent`` is MLflow's API over a thread-local stack of active runs; ``runs`` holds the operations on explicit
run ids (validate the whole call, then one journal record); ``validation`` checks keys, values, steps and
timestamps; ``artifacts`` and ``datasets`` log files and training data (by content); ``cleanup`` is ``gc()``.
"""

from duckml.tracking.fluent import (ActiveRun, active_run, end_run, flush, last_active_run, log_metric, log_param,
                                    reset_state, run_id_or_active, set_experiment, start_run)
from duckml.tracking.runs import DEFAULT_EXPERIMENT_NAME, create_run, get_run, set_terminated

__all__ = ["ActiveRun", "DEFAULT_EXPERIMENT_NAME", "active_run", "create_run", "end_run", "flush", "get_run",
           "last_active_run", "log_metric", "log_param", "reset_state", "run_id_or_active", "set_experiment",
           "set_terminated", "start_run"]
