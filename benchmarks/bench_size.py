"""Store size on disk per metric point.

The same points (R runs x K keys x S steps, pseudo-random values, real timestamps) go into a fresh store on each
side. duckml is measured after ``duckml.flush()`` as the DuckDB file plus its artifact folder (where the journal
lives); MLflow as its SQLite file, or its ``mlruns`` folder for the file store. The figure is the marginal size:
(size after logging - size of the empty store) / points; the total per point is in the notes.
"""

from __future__ import annotations

from benchmarks import common

SCALES = {
    "quick": {"runs": 2, "keys": 5, "steps": 500, "big_runs": 4},
    "full": {"runs": 10, "keys": 5, "steps": 1_000, "big_runs": 200},
}


def _values(run: int, key: int, steps: int) -> list[float]:
    import random

    rng = random.Random(run * 1000 + key)
    return [1.0 / (s + 1) + rng.random() * 0.01 for s in range(steps)]


def duckml_log(folder: str, runs: int, keys: int, steps: int) -> dict:
    """Log into a fresh store in ``folder``; sizes of the empty store and after ``flush()``, this process alive."""
    from pathlib import Path

    import numpy as np

    import duckml

    folder = Path(folder)
    duckml.set_store(str(folder / "bench.duckdb"))
    duckml.set_experiment("bench-size")
    duckml.flush()
    empty = common.dir_size(folder)
    step = np.arange(steps, dtype=np.int64)
    for r in range(runs):
        with duckml.start_run(run_name=f"run-{r}") as run:
            for k in range(keys):
                duckml.log_metric_series(f"metric_{k}", np.asarray(_values(r, k, steps)), steps=step,
                                         run_id=run.info.run_id)
    duckml.flush()
    return {"empty": empty, "total": common.dir_size(folder), "points": runs * keys * steps}


def duckml_side(runs: int, keys: int, steps: int, big_runs: int) -> dict:
    """Sizes after flush (writer alive, its journal segment still on disk) and after the writer exited."""
    out = {}
    for tag, n_runs in (("", runs), ("big_", big_runs)):
        folder = common.scratch_dir("size")
        got = common.run_side("duckml", __name__, "duckml_log",
                              {"folder": str(folder), "runs": n_runs, "keys": keys, "steps": steps})
        out.update({tag + k: v for k, v in got.items()})
        out[tag + "exited"] = common.dir_size(folder)
        out[tag + "file"] = common.dir_size(folder / "bench.duckdb")
    return out


def mlflow_side(runs: int, keys: int, steps: int, big_runs: int, store: str = "sqlite") -> dict:
    import time

    import mlflow
    from mlflow.entities import Metric

    common.mlflow_quiet()
    folder = common.scratch_dir("size-mlflow")
    target = folder / ("mlflow.db" if store == "sqlite" else "mlruns")
    mlflow.set_tracking_uri(common.sqlite_uri(target) if store == "sqlite" else target.as_uri())
    mlflow.set_experiment("bench-size")
    empty = common.dir_size(folder)
    client = mlflow.MlflowClient()
    now = int(time.time() * 1000)
    for r in range(runs):
        with mlflow.start_run(run_name=f"run-{r}") as run:
            metrics = [Metric(f"metric_{k}", v, now + s, s) for k in range(keys)
                       for s, v in enumerate(_values(r, k, steps))]
            for i in range(0, len(metrics), 1000):
                client.log_batch(run.info.run_id, metrics=metrics[i:i + 1000])
    total = common.dir_size(folder)
    return {"empty": empty, "total": total, "file": common.dir_size(target), "points": runs * keys * steps}


def run(scale: str) -> list[dict]:
    cfg = SCALES[scale]
    duck, duck_err = common.try_side("duckml", __name__, "duckml_side", cfg)
    stores = common.mlflow_stores()
    ml = {}
    for store, _, env in stores:
        ml[store] = common.try_side("mlflow", __name__, "mlflow_side", {**cfg, "store": store}, env)

    def per_point(side, key="total", prefix=""):
        if not side:
            return None
        return (side[prefix + key] - side[prefix + "empty"]) / side[prefix + "points"]

    points = cfg["runs"] * cfg["keys"] * cfg["steps"]
    big = (f"at {duck['big_points']:,} points: {per_point(duck, 'total', 'big_'):.1f} B/pt after flush, "
           f"{per_point(duck, 'exited', 'big_'):.1f} after exit" if duck else "")
    rows = []
    for store, name, _ in stores:
        side, err = ml[store]
        file_store = store == "file"
        mlnote = f"MLflow total {side['total'] / side['points']:.1f} B/pt (empty {side['empty'] / 1e3:.0f} kB)" if side else ""
        if not file_store:
            rows.append(common.row(
                "store size per point, after flush", per_point(duck), per_point(side), "bytes/point",
                common.join_notes(duck_err, err, f"{points:,} points, marginal over the empty store",
                                  "duckml file + artifacts folder incl. the live journal segment", big, mlnote), name))
        rows.append(common.row(
            "store size per point, writer exited" + (" (file)" if file_store else ""), per_point(duck, "exited"),
            per_point(side), "bytes/point",
            common.join_notes(duck_err, err, mlnote if file_store else "",
                              f"duckml empty store {duck['empty'] / 1e3:.0f} kB" if duck else "",
                              f"duckml file alone {duck['file'] / 1e6:.2f} MB" if duck else ""), name))
    return rows
