"""``search_runs``' pandas frame, built as MLflow builds it so that the columns and dtypes are MLflow's:
run_id, experiment_id, status, artifact_uri, start_time, end_time (UTC), then ``metrics.*`` (float, NaN where
missing), ``params.*`` and ``tags.*`` (strings, None where missing). pandas is imported here only.
"""

from __future__ import annotations

_INFO = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


def runs_frame(runs: list):
    """MLflow's ``search_runs`` frame of a list of MLflow ``Run``.

    >>> runs_frame([]).columns.tolist()
    ['run_id', 'experiment_id', 'status', 'artifact_uri', 'start_time', 'end_time']
    """
    import numpy as np
    import pandas as pd

    info: dict[str, list] = {name: [] for name in _INFO}
    columns: dict[str, dict[str, list]] = {"metrics": {}, "params": {}, "tags": {}}
    missing = {"metrics": np.nan, "params": None, "tags": None}
    for i, run in enumerate(runs):
        for name in _INFO[:4]:
            info[name].append(getattr(run.info, name))
        info["start_time"].append(pd.to_datetime(run.info.start_time, unit="ms", utc=True))
        info["end_time"].append(pd.to_datetime(run.info.end_time, unit="ms", utc=True))
        for kind, values in (("metrics", run.data.metrics), ("params", run.data.params), ("tags", run.data.tags)):
            known = columns[kind]
            for key, cells in known.items():
                cells.append(values.get(key, missing[kind]))
            for key in sorted(set(values) - set(known)):
                known[key] = [missing[kind]] * i + [values[key]]
    data = dict(info)
    for kind in ("metrics", "params", "tags"):
        data.update((f"{kind}.{key}", cells) for key, cells in columns[kind].items())
    return pd.DataFrame(data)
