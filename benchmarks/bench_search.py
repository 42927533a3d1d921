"""Searching many runs: a filter with order_by, all runs as one frame, and bulk metric histories.

The store: N runs (2,000 at full scale) x 20 params x 5 metrics x 20 steps, the same data on both sides.
Both sides answer through MLflow's signature ``search_runs(experiment_names=, filter_string=, order_by=)``;
MLflow's frame is pandas, duckml's Polars. Bulk histories: duckml's one ``get_metric_histories`` call against
MLflow's loop of ``MlflowClient.get_metric_history`` over every (run, key). The rows returned are compared.
"""

from __future__ import annotations

import random

from benchmarks import common

EXPERIMENT = "bench-search"
FILTER = "metrics.rmse < 0.5 and params.model = 'rf'"
ORDER_BY = ["metrics.rmse ASC"]
METRICS = ["rmse", "mae", "r2", "loss", "acc"]
STEPS = 20
IDLE = 0.2  # seconds before each "cold" call: longer than duckml's read linger (50 ms)
SCALES = {
    "quick": {"runs": 20, "history_runs": 10, "repeats": 2},
    "full": {"runs": 2_000, "history_runs": 100, "repeats": 5},
}


def make_runs(n: int):
    """Deterministic runs: (run_name, params, [(key, value, step), ...]); final rmse uniform in (0, 1)."""
    rng = random.Random(42)
    models = ["rf", "gbm", "lr", "svm"]
    for i in range(n):
        params = {"model": models[i % 4]} | {f"p{j:02d}": str((i * 7 + j) % 13) for j in range(1, 20)}
        final = {k: rng.random() for k in METRICS}
        points = [(k, final[k] * (1 + (STEPS - 1 - s) / STEPS), s) for s in range(STEPS) for k in METRICS]
        yield f"run-{i:04d}", params, points


def duckml_side(runs: int, history_runs: int, repeats: int) -> dict:
    import time

    import duckml

    duckml.set_store(str(common.scratch_dir("search") / "bench.duckdb"))
    duckml.set_experiment(EXPERIMENT)
    t0 = time.perf_counter()
    for name, params, points in make_runs(runs):
        with duckml.start_run(run_name=name):
            duckml.log_params(params)
            for s in range(STEPS):
                duckml.log_metrics({k: v for k, v, st in points if st == s}, step=s)
    duckml.flush()
    build = time.perf_counter() - t0

    def search_filter():
        return duckml.search_runs(experiment_names=[EXPERIMENT], filter_string=FILTER, order_by=ORDER_BY)

    def search_all():
        return duckml.search_runs(experiment_names=[EXPERIMENT])

    t_filter, hits = common.timed(search_filter, repeats)
    t_all, frame = common.timed(search_all, max(1, repeats - 2))
    t_filter_cold, _ = common.timed(search_filter, repeats, idle=IDLE)
    ids = search_all().sort("run_name")["run_id"].to_list()[:history_runs]
    t_hist, hist = common.timed(lambda: duckml.get_metric_histories(run_ids=ids), repeats)
    all_ids = frame["run_id"].to_list()
    t_hist_all, hist_all = common.timed(lambda: duckml.get_metric_histories(run_ids=all_ids), repeats)
    name_col = "tags.mlflow.runName" if "tags.mlflow.runName" in hits.columns else "run_name"
    return {
        "build": build, "filter": t_filter, "all": t_all, "histories": t_hist, "histories_all": t_hist_all,
        "filter_cold": t_filter_cold,
        "filter_names": hits[name_col].to_list(), "all_shape": list(frame.shape),
        "history_points": hist.height, "history_points_all": hist_all.height,
    }


def mlflow_side(runs: int, history_runs: int, repeats: int) -> dict:
    import time

    import mlflow
    from mlflow.entities import Metric, Param

    common.mlflow_quiet()
    mlflow.set_tracking_uri(common.sqlite_uri(common.scratch_dir("search-mlflow") / "mlflow.db"))
    exp_id = mlflow.set_experiment(EXPERIMENT).experiment_id
    client = mlflow.MlflowClient()
    t0 = time.perf_counter()
    now = int(time.time() * 1000)
    for name, params, points in make_runs(runs):
        run = client.create_run(exp_id, run_name=name)
        client.log_batch(run.info.run_id, metrics=[Metric(k, v, now + s, s) for k, v, s in points],
                         params=[Param(k, v) for k, v in params.items()])
        client.set_terminated(run.info.run_id)
    build = time.perf_counter() - t0

    def search_filter():
        return mlflow.search_runs(experiment_names=[EXPERIMENT], filter_string=FILTER, order_by=ORDER_BY)

    def search_all():
        return mlflow.search_runs(experiment_names=[EXPERIMENT])

    t_filter, hits = common.timed(search_filter, repeats)
    t_all, frame = common.timed(search_all, max(1, repeats - 2))
    t_filter_cold, _ = common.timed(search_filter, repeats, idle=IDLE)
    ids = frame.sort_values("tags.mlflow.runName")["run_id"].tolist()[:history_runs]

    def histories():
        return [m for rid in ids for key in METRICS for m in client.get_metric_history(rid, key)]

    t_hist, hist = common.timed(histories, max(1, repeats - 2))
    return {
        "build": build, "filter": t_filter, "all": t_all, "histories": t_hist, "filter_cold": t_filter_cold,
        "filter_names": hits["tags.mlflow.runName"].tolist(), "all_shape": list(frame.shape),
        "history_points": len(hist),
    }


def run(scale: str) -> list[dict]:
    cfg = SCALES[scale]
    duck, duck_err = common.try_side("duckml", __name__, "duckml_side", cfg)
    ml, ml_err = common.try_side("mlflow", __name__, "mlflow_side", cfg)
    n, h = cfg["runs"], cfg["history_runs"]
    same = ""
    if duck and ml:
        same = ("same rows, same order" if duck["filter_names"] == ml["filter_names"]
                else f"ROWS DIFFER: duckml {len(duck['filter_names'])} vs MLflow {len(ml['filter_names'])}")

    def get(side, key, factor=1.0):
        return side[key] * factor if side and key in side else None

    shape = (f"duckml {duck['all_shape'][0]}x{duck['all_shape'][1]}" if duck else "",
             f"MLflow {ml['all_shape'][0]}x{ml['all_shape'][1]}" if ml else "")
    return [
        common.row(f"build {n:,} runs x 20 params x 5 metrics x {STEPS} steps", get(duck, "build"), get(ml, "build"),
                   "s", common.join_notes(duck_err, ml_err, "duckml fluent start_run/log_params/log_metrics + flush",
                                          "MLflow create_run + log_batch + set_terminated")),
        common.row(f"search {n:,} runs: filter + order_by", get(duck, "filter", 1e3), get(ml, "filter", 1e3), "ms",
                   common.join_notes(f"{FILTER!s}", f"{len(duck['filter_names'])} rows" if duck else "", same)),
        common.row(f"search {n:,} runs: filter + order_by, after {IDLE * 1e3:.0f} ms idle", get(duck, "filter_cold", 1e3),
                   get(ml, "filter_cold", 1e3), "ms",
                   "each call starts cold: duckml attaches the file again (a burst of reads attaches once)"),
        common.row(f"search {n:,} runs: whole frame", get(duck, "all", 1e3), get(ml, "all", 1e3), "ms",
                   common.join_notes("duckml Polars, MLflow pandas", *shape)),
        common.row(f"bulk histories: {h} runs x 5 keys", get(duck, "histories", 1e3), get(ml, "histories", 1e3), "ms",
                   common.join_notes(
                       "duckml get_metric_histories; MLflow loops get_metric_history",
                       f"points duckml {duck['history_points']:,}" if duck else "",
                       f"MLflow {ml['history_points']:,}" if ml else "",
                       f"duckml all {n:,} runs ({duck['history_points_all']:,} points): "
                       f"{duck['histories_all'] * 1e3:.1f} ms" if duck else "")),
    ]
