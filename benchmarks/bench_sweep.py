"""A hyperparameter sweep of many tiny runs: milliseconds per run, start to end, as a sweep script sees it.

Each run logs 5 params, 2 tags and 3 metrics × 10 steps, then ends. duckml's run end only journals and asks
the background ingester for an ingest; the figure includes the ``flush()`` after the last run, so every run
is in the DuckDB file when the clock stops. MLflow runs the same script on its SQLite store.
"""

from __future__ import annotations

from benchmarks import common

SCALES = {
    "quick": {"duckml": {"runs": 60}, "mlflow": {"runs": 10}},
    "full": {"duckml": {"runs": 300}, "mlflow": {"runs": 300}},
}


def side(lib: str, runs: int) -> dict:
    """Seconds per run for ``runs`` runs after 5 warm-up runs; also the time of the final flush."""
    import time

    tmp = common.scratch_dir(f"sweep-{lib}")
    if lib == "duckml":
        import duckml as m

        m.set_store(str(tmp / "bench.duckdb"))
        finish = m.flush
    else:
        import mlflow as m

        common.mlflow_quiet()
        m.set_tracking_uri(common.sqlite_uri(tmp / "mlflow.db"))

        def finish():
            return None

    m.set_experiment("bench-sweep")

    def one(i: int) -> None:
        with m.start_run(run_name=f"trial-{i}"):
            m.log_params({"lr": 0.1 / (i + 1), "depth": i % 7, "model": "rf", "seed": i, "n": 100})
            m.set_tags({"team": "forecast", "sweep": "s1"})
            for step in range(10):
                m.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 10, "rmse": 2.0 - step / 10}, step=step)

    for i in range(5):
        one(i)
    finish()
    t0 = time.perf_counter()
    for i in range(runs):
        one(5 + i)
    loop = time.perf_counter() - t0
    finish()
    total = time.perf_counter() - t0
    return {"per_run": total / runs, "per_run_loop": loop / runs, "flush": total - loop}


def run(scale: str) -> list[dict]:
    cfg = SCALES[scale]
    duck, duck_err = common.try_side("duckml", __name__, "side", {"lib": "duckml", **cfg["duckml"]})
    ml, ml_err = common.try_side("mlflow", __name__, "side", {"lib": "mlflow", **cfg["mlflow"]})
    notes = common.join_notes(
        duck_err, ml_err,
        f"duckml {cfg['duckml']['runs']} runs, incl. the final flush ({duck['flush'] * 1000:.0f} ms); "
        f"{duck['per_run_loop'] * 1000:.2f} ms/run before it" if duck else "",
        f"MLflow {cfg['mlflow']['runs']} runs (SQLite)" if ml else "",
    )
    return [common.row("sweep: tiny runs (5 params, 2 tags, 3 metrics x 10 steps)",
                       duck["per_run"] * 1000 if duck else None, ml["per_run"] * 1000 if ml else None,
                       "ms/run", notes, "MLflow 3.17.2 (SQLite)")]
