"""One simulated machine's process: `python machine.py '<json job>'`, with the lake in DUCKML_STORE.

Jobs: "log" (runs of points, params and tags; optionally registering a model several times), "register"
(only registrations), "ack" (log points one by one, appending each acknowledged step to a file: the
kill -9 test), "flush" (a next process that only flushes), "restarts" (PostgreSQL restarted during ingests),
"invalidated" (a fatal error invalidates the lake connection's DuckDB instance). Waits for `start_file` to exist if given, so that
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


def _flush_through_restarts(duckml, job: dict) -> None:
    """Each try logs a run, then PostgreSQL restarts (or stops for a while) during its ingest: by flush(), or
    by the background ingester when the try waits first. Prints one line per try: "ok" or the error's class."""
    import random
    import threading

    from pgcluster import PgCluster

    cluster = PgCluster(job["pg"], job["pgdata"])
    pick = random.Random(job["seed"])
    for attempt in range(job["tries"]):
        with duckml.start_run(run_name=f"try-{attempt}"):
            duckml.log_params({"try": attempt, "lr": 0.1})
            duckml.log_metric_series("loss", [float(i) for i in range(job["points"])])
        delay, outage = pick.uniform(0.0, 0.3), job["outage"]

        def cut():
            time.sleep(delay)
            if outage:
                cluster.stop()
                time.sleep(outage)
                cluster.start()
            else:
                cluster._pg_ctl("restart")

        cutter = threading.Thread(target=cut)
        cutter.start()
        if attempt % 2:
            time.sleep(0.5)  # the run end's background ingest meets the restart
        try:
            duckml.flush()
            print(f"try {attempt} ok", flush=True)
        except Exception as error:
            print(f"try {attempt} error {type(error).__module__}.{type(error).__qualname__}: "
                  f"{str(error).splitlines()[0][:300]}", flush=True)
        cutter.join()


def _flush_after_invalidation(duckml, job: dict) -> None:
    """A fatal error invalidates the lake connection's whole DuckDB instance mid-run, while it holds the write
    lock. The store's connections
    get a file as their main database here, whose aborted checkpoint DuckDB treats as fatal: the real
    FatalException, from the real instance."""
    import itertools
    import sys

    import duckdb

    from duckml.store import lake

    real_connect = duckdb.connect
    numbers = itertools.count()

    def connect(database=":memory:", *args, **kwargs):
        if sys._getframe(1).f_code.co_name == "_connection":  # the lake store's own connection
            # a new file each time (duckdb shares an open one's instance), named so its catalog is "memory"
            folder = os.path.join(job["main_folder"], str(next(numbers)))
            os.makedirs(folder)
            database = os.path.join(folder, "memory.duckdb")
        return real_connect(database, *args, **kwargs)

    duckdb.connect = connect
    store = duckml.get_store()
    # set_experiment connected already: start again on a connection made by the patched connect
    store._con, store._passthrough, store._overlaid, store._definitions_ready = None, set(), None, False

    def invalidate():
        con = store._connection()
        con.execute("CREATE OR REPLACE TABLE memory_main_t AS SELECT 1 AS i")
        con.execute("CHECKPOINT")
        con.execute("INSERT INTO memory_main_t VALUES (2)")
        # the instance holds duckml's write lock, as a write cut by the fatal error would: in a transaction of
        # a PostgreSQL session that stays alive, which only ending that session releases
        store._lock_cursor.execute("BEGIN TRANSACTION")
        store._lock_cursor.execute(f"SELECT * FROM postgres_query('{lake.LOCK_CATALOG}', "
                                   f"'SELECT pg_try_advisory_xact_lock({lake.WRITE_LOCK_KEY})')").fetchall()
        con.execute("PRAGMA debug_checkpoint_abort='before_header'")
        try:
            con.execute("CHECKPOINT")
        except duckdb.FatalException:
            pass
        try:
            con.execute("SELECT 1")
        except duckdb.FatalException:
            print("invalidated", flush=True)

    with duckml.start_run(run_name="flushed"):
        duckml.log_metric_series("loss", [float(i) for i in range(job["points"])])
        invalidate()
    duckml.flush()
    print("flushed", flush=True)
    with duckml.start_run(run_name="at-exit"):
        duckml.log_metric_series("loss", [float(i) for i in range(job["points"])])
        invalidate()
    # the process exits with the run's ingest still to do and an invalidated instance on the store


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
    elif job["kind"] == "restarts":
        _flush_through_restarts(duckml, job)
    elif job["kind"] == "invalidated":
        _flush_after_invalidation(duckml, job)
    elif job["kind"] == "flush":
        duckml.flush()
    else:
        raise SystemExit(f"unknown job kind {job['kind']!r}")


if __name__ == "__main__":
    main()
