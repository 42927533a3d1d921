"""One simulated machine's process: `python machine.py '<json job>'`, with the lake in DUCKML_STORE.

Jobs: "log" (runs of points, params and tags; optionally registering a model several times), "register"
(only registrations), "ack" (log points one by one, appending each acknowledged step to a file: the
kill -9 test), "flush" (a next process that only flushes). Waits for `start_file` to exist if given, so that
several machines start at once.
"""

from __future__ import annotations

import json
import os
import sys
import time


def _wait(path: str | None) -> None:
    while path and not os.path.exists(path):
        time.sleep(0.005)


def _model_uri(duckml) -> str:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(np.arange(10.0).reshape(-1, 1), np.arange(10.0))
    return duckml.log_model(model, "model").model_uri


def main() -> None:
    job = json.loads(sys.argv[1])
    import duckml

    duckml.set_experiment(job.get("experiment", "team"))
    name = job["machine"]
    _wait(job.get("start_file"))
    if job["kind"] == "log":
        for r in range(job["runs"]):
            with duckml.start_run(run_name=f"{name}-r{r}"):
                duckml.log_params({"machine": name, "run": r, "lr": 0.01 * (r + 1)})
                duckml.set_tags({"team": "lake", "machine": name})
                for step in range(job["points"]):
                    duckml.log_metric("loss", 1.0 / (step + 1), step=step)
                if r == 0 and job.get("register"):
                    uri = _model_uri(duckml)
        for _ in range(job.get("register", 0)):
            version = duckml.register_model(uri, job["model_name"]).version
            print(f"version {version}", flush=True)
    elif job["kind"] == "register":
        with duckml.start_run(run_name=f"{name}-model"):
            uri = _model_uri(duckml)
        _wait(job.get("register_start_file"))
        for _ in range(job["register"]):
            print(f"version {duckml.register_model(uri, job['model_name']).version}", flush=True)
    elif job["kind"] == "ack":
        with open(job["ack_file"], "a", buffering=1) as acks:
            run = duckml.start_run(run_name=f"{name}-acked")
            acks.write(f"run {run.info.run_id}\n")
            for step in range(job["points"]):
                duckml.log_metric("loss", float(step), step=step)
                acks.write(f"{step}\n")  # written only once log_metric has returned
                if job.get("pause_after") == step:
                    time.sleep(3600)  # the test kills us here, or earlier
            duckml.end_run()
    elif job["kind"] == "pause_then_log":
        # log one run, tell the test, wait for its go, then log another (the test stops the catalog between)
        with duckml.start_run(run_name=f"{name}-before"):
            duckml.log_metric_series("loss", [float(i) for i in range(job["points"])])
        open(job["ready_file"], "w").close()
        _wait(job["go_file"])
        with duckml.start_run(run_name=f"{name}-during"):
            duckml.log_metric_series("loss", [float(i) for i in range(job["points"])])
        print("finished", flush=True)
    elif job["kind"] == "flush":
        duckml.flush()
    else:
        raise SystemExit(f"unknown job kind {job['kind']!r}")


if __name__ == "__main__":
    main()
