"""Batch logging rate (metric points per second).

Three pairings: ``log_metrics`` with 100 keys per call, and with 50 keys per step (a training loop's dict of
metrics), in both libraries (MLflow's fluent ``log_metrics`` is one
``log_batch`` underneath), and each library's bulk path: duckml's ``log_metric_series`` (one whole history per
call) against ``MlflowClient.log_batch`` with 1,000 metrics per call (MLflow's maximum). duckml's time includes ``flush()``.
"""

from __future__ import annotations

from benchmarks import common

KEYS = 100
SCALES = {
    "quick": {"duckml": {"points": 20_000, "repeats": 2}, "mlflow": {"points": 2_000, "repeats": 2}},
    "full": {"duckml": {"points": 1_000_000, "repeats": 5}, "mlflow": {"points": 10_000, "repeats": 3}},
}


def bulk_api(duckml_module):
    """duckml's bulk logging function ``log_metric_series(key, values, steps=, run_id=)``, or (None, None)."""
    for name in ("log_metric_series",):
        fn = getattr(duckml_module, name, None)
        if fn is not None:
            return name, fn
    return None, None


def _series(points: int, first_step: int, width: int = KEYS):
    """Columns of ``points`` points over ``width`` keys: key, value, step."""
    steps = points // width
    keys = [f"k{k:03d}" for k in range(width)] * steps
    step = [first_step + s for s in range(steps) for _ in range(width)]
    value = [0.5 + (i % 997) / 1000 for i in range(len(keys))]
    return keys, value, step


def duckml_side(points: int, repeats: int, mode: str, width: int = KEYS) -> dict:
    """Points/s including ``flush()``; for ``log_metrics`` also the calls alone (``call_rate``)."""
    import time

    import duckml

    duckml.set_store(str(common.scratch_dir("batch") / "bench.duckdb"))
    duckml.set_experiment("bench-batch")
    rates, call_rates, api = [], [], ""
    with duckml.start_run() as run:
        for block in range(repeats + 1):
            keys, value, step = _series(points, block * (points // width), width)
            if mode == "log_metrics":
                dicts = [{keys[s * width + k]: value[s * width + k] for k in range(width)}
                         for s in range(points // width)]
                t0 = time.perf_counter()
                for s, d in enumerate(dicts):
                    duckml.log_metrics(d, step=step[s * width])
                call_rates.append(points / (time.perf_counter() - t0))
                duckml.flush()
            else:
                api, fn = bulk_api(duckml)
                if fn is None:
                    return {"error": "no bulk logging function in duckml (looked for log_metric_series, log_batch)"}
                import numpy as np

                n_steps = points // KEYS
                cols = np.asarray(value, dtype=np.float64).reshape(n_steps, KEYS)
                steps = np.asarray(step[::KEYS], dtype=np.int64)
                series = [(keys[k], np.ascontiguousarray(cols[:, k])) for k in range(KEYS)]
                t0 = time.perf_counter()
                for key, values in series:
                    fn(key, values, steps=steps, run_id=run.info.run_id)
                duckml.flush()
            if block > 0:
                rates.append(points / (time.perf_counter() - t0))
    return {"rate": common.median(rates), "api": api,
            "call_rate": common.median(call_rates) if call_rates else None}


def mlflow_side(points: int, repeats: int, mode: str, store: str = "sqlite", width: int = KEYS) -> dict:
    import time

    import mlflow
    from mlflow.entities import Metric

    common.mlflow_quiet()
    tmp = common.scratch_dir("batch-mlflow")
    mlflow.set_tracking_uri(common.sqlite_uri(tmp / "mlflow.db") if store == "sqlite" else (tmp / "mlruns").as_uri())
    mlflow.set_experiment("bench-batch")
    client = mlflow.MlflowClient()
    rates = []
    with mlflow.start_run() as run:
        for block in range(repeats + 1):
            keys, value, step = _series(points, block * (points // width), width)
            if mode == "log_metrics":
                dicts = [{keys[s * width + k]: value[s * width + k] for k in range(width)}
                         for s in range(points // width)]
                t0 = time.perf_counter()
                for s, d in enumerate(dicts):
                    mlflow.log_metrics(d, step=step[s * width])
            else:
                now = int(time.time() * 1000)
                metrics = [Metric(k, v, now, s) for k, v, s in zip(keys, value, step)]
                t0 = time.perf_counter()
                for i in range(0, len(metrics), 1000):
                    client.log_batch(run.info.run_id, metrics=metrics[i:i + 1000])
            if block > 0:
                rates.append(points / (time.perf_counter() - t0))
    return {"rate": common.median(rates)}


def run(scale: str) -> list[dict]:
    cfg = SCALES[scale]
    rows = []
    pairings = [
        ("batch: log_metrics, 100 keys/call", "log_metrics", KEYS, "sqlite", "MLflow 3.17.2 (SQLite)", None),
        ("batch: log_metrics, 50 keys/step", "log_metrics", 50, "sqlite", "MLflow 3.17.2 (SQLite)", None),
        ("batch: bulk API vs log_batch(1000)", "bulk", KEYS, "sqlite", "MLflow 3.17.2 (SQLite)", None),
        ("batch: bulk API vs log_batch(1000)", "bulk", KEYS, "file", "MLflow 3.17.2 (file store)",
         common.FILE_STORE_ENV),
    ]
    duck_cache: dict[tuple, tuple] = {}
    if not common.mlflow_available():
        pairings = pairings[:3]  # without MLflow the file-store pairing would repeat duckml's figure
    for label, mode, width, store, name, env in pairings:
        if (mode, width) not in duck_cache:
            duck_cache[mode, width] = common.try_side("duckml", __name__, "duckml_side",
                                                      {**cfg["duckml"], "mode": mode, "width": width})
        duck, duck_err = duck_cache[mode, width]
        if duck and "error" in duck:
            duck, duck_err = None, duck["error"]
        ml_mode = "log_metrics" if mode == "log_metrics" else "log_batch"
        ml, ml_err = common.try_side("mlflow", __name__, "mlflow_side",
                                     {**cfg["mlflow"], "mode": ml_mode, "store": store, "width": width}, env)
        notes = common.join_notes(
            duck_err, ml_err,
            f"duckml {cfg['duckml']['points']:,} points incl. flush()" if duck else "",
            f"calls alone {duck['call_rate'] / 1e6:.2f}M points/s" if duck and duck.get("call_rate") else "",
            f"duckml.{duck['api']}(key, numpy array) x {KEYS} keys" if duck and duck.get("api") else "",
            f"MLflow {cfg['mlflow']['points']:,} points" if ml else "",
        )
        rows.append(common.row(label + ("" if store == "sqlite" else " (file)"),
                               duck["rate"] if duck else None, ml["rate"] if ml else None, "points/s", notes, name))
    return rows
