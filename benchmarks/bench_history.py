"""Reading one long metric history: ``get_metric_history(run_id, key)`` of a 10,000-point series.

duckml returns a Polars frame (step, timestamp, value); MLflow a list of ``Metric`` objects. The point counts
are compared.
"""

from __future__ import annotations

from benchmarks import common

IDLE = 0.2  # seconds before each "cold" call: longer than duckml's read linger (50 ms)
SCALES = {"quick": {"points": 2_000, "repeats": 3}, "full": {"points": 10_000, "repeats": 7}}


def duckml_side(points: int, repeats: int) -> dict:
    import duckml

    duckml.set_store(str(common.scratch_dir("history") / "bench.duckdb"))
    duckml.set_experiment("bench-history")
    with duckml.start_run() as run:
        for s in range(points):
            duckml.log_metric("loss", 1.0 / (s + 1), step=s)
    duckml.flush()
    t, hist = common.timed(lambda: duckml.get_metric_history(run.info.run_id, "loss"), repeats)
    cold, _ = common.timed(lambda: duckml.get_metric_history(run.info.run_id, "loss"), repeats, idle=IDLE)
    return {"seconds": t, "cold": cold, "points": hist.height}


def mlflow_side(points: int, repeats: int, store: str = "sqlite") -> dict:
    import time

    import mlflow
    from mlflow.entities import Metric

    common.mlflow_quiet()
    tmp = common.scratch_dir("history-mlflow")
    mlflow.set_tracking_uri(common.sqlite_uri(tmp / "mlflow.db") if store == "sqlite" else (tmp / "mlruns").as_uri())
    mlflow.set_experiment("bench-history")
    client = mlflow.MlflowClient()
    now = int(time.time() * 1000)
    with mlflow.start_run() as run:
        metrics = [Metric("loss", 1.0 / (s + 1), now + s, s) for s in range(points)]
        for i in range(0, points, 1000):
            client.log_batch(run.info.run_id, metrics=metrics[i:i + 1000])
    t, hist = common.timed(lambda: client.get_metric_history(run.info.run_id, "loss"), repeats)
    cold, _ = common.timed(lambda: client.get_metric_history(run.info.run_id, "loss"), repeats, idle=IDLE)
    return {"seconds": t, "cold": cold, "points": len(hist)}


def run(scale: str) -> list[dict]:
    cfg = SCALES[scale]
    duck, duck_err = common.try_side("duckml", __name__, "duckml_side", cfg)
    rows = []
    for store, name, env in common.mlflow_stores():
        ml, ml_err = common.try_side("mlflow", __name__, "mlflow_side", {**cfg, "store": store}, env)
        counts = ""
        if duck and ml:
            counts = ("same point count" if duck["points"] == ml["points"]
                      else f"POINT COUNTS DIFFER: duckml {duck['points']} vs MLflow {ml['points']}")
        rows.append(common.row(
            f"get_metric_history, {cfg['points']:,} points" + ("" if store == "sqlite" else " (file)"),
            duck["seconds"] * 1e3 if duck else None, ml["seconds"] * 1e3 if ml else None, "ms",
            common.join_notes(duck_err, ml_err, counts), name))
        if store == "sqlite":
            rows.append(common.row(
                f"get_metric_history, {cfg['points']:,} points, after {IDLE * 1e3:.0f} ms idle",
                duck["cold"] * 1e3 if duck else None, ml["cold"] * 1e3 if ml else None, "ms",
                "each call starts cold: duckml attaches the file again", name))
    return rows
