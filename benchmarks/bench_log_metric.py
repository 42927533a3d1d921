"""Per-call cost of ``log_metric`` inside an active run (µs per call, amortized).

Both libraries are driven through the same fluent names (set_experiment, start_run, log_metric); duckml's
time includes its ``flush()`` at the end of each block, so the figure is the whole cost of getting the points
into the file, not just the call returning. MLflow is timed on its SQLite store and its file store.
"""

from __future__ import annotations

from benchmarks import common

SCALES = {
    "quick": {"duckml": {"n": 5_000, "repeats": 3}, "mlflow": {"n": 10, "repeats": 2}},
    "full": {"duckml": {"n": 100_000, "repeats": 5}, "mlflow": {"n": 200, "repeats": 3}},
}


def side(lib: str, n: int, repeats: int, store: str = "sqlite") -> dict:
    """Log ``n`` points per block, ``repeats`` timed blocks after one warm-up block; seconds per call."""
    import time

    tmp = common.scratch_dir(f"logmetric-{lib}")
    if lib == "duckml":
        import duckml as m

        m.set_store(str(tmp / "bench.duckdb"))
        finish = m.flush
    else:
        import mlflow as m

        common.mlflow_quiet()
        m.set_tracking_uri(common.sqlite_uri(tmp / "mlflow.db") if store == "sqlite" else (tmp / "mlruns").as_uri())

        def finish():
            return None

    m.set_experiment("bench-log-metric")
    blocks, calls = [], []
    with m.start_run():
        step = 0
        for block in range(repeats + 1):
            t0 = time.perf_counter()
            for i in range(n):
                m.log_metric("loss", 1.0 / (step + 1), step=step)
                step += 1
            t_calls = time.perf_counter() - t0
            finish()
            if block > 0:
                blocks.append((time.perf_counter() - t0) / n)
                calls.append(t_calls / n)
    m.end_run()
    return {"per_call": common.median(blocks), "per_call_no_flush": common.median(calls), "points": n * (repeats + 1)}


def run(scale: str) -> list[dict]:
    cfg = SCALES[scale]
    duck, duck_err = common.try_side("duckml", __name__, "side", {"lib": "duckml", **cfg["duckml"]})
    rows = []
    for store, name, env in common.mlflow_stores():
        ml, ml_err = common.try_side("mlflow", __name__, "side", {"lib": "mlflow", "store": store, **cfg["mlflow"]}, env)
        notes = common.join_notes(
            duck_err, ml_err,
            f"duckml {cfg['duckml']['n']:,} calls/block incl. flush()" if duck else "",
            f"without flush {duck['per_call_no_flush'] * 1e6:.2f} µs" if duck else "",
            f"MLflow {cfg['mlflow']['n']} calls/block" if ml else "",
        )
        rows.append(common.row(
            f"log_metric per call (vs {store} store)",
            duck["per_call"] * 1e6 if duck else None, ml["per_call"] * 1e6 if ml else None, "µs/call", notes, name,
        ))
    return rows
