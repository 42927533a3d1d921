"""PREDICT throughput and peak memory: duckml writing Parquet vs the hand-written floor.

Workload (issue 6): 2,000,000 rows x 20 float64 columns in one Parquet file (row groups of 122,880 rows, DuckDB's
default), scored by RandomForestRegressor(50 trees, depth 10) and by LogisticRegression, both fitted on 20,000
rows of a pandas DataFrame (so they carry feature names).

- duckml.predict(): ``duckml.predict("models:/bench-rf/1", data, output="out.parquet")``: the model resolved from
  the store and loaded once; a private DuckDB reads the file and hands 16,384-row Arrow batches to 2 scoring
  threads; pyarrow writes 65,536-row row groups, in source order. Every source column is written back.
- SQL: ``COPY (FROM predict('models:/bench-rf/1', data)) TO 'out.parquet'`` through ``duckml.connect().sql``
  with ``preserve_insertion_order=false``: the scoring UDF runs on DuckDB's threads over its fixed 2,048-row
  vectors (a forest pays its per-call overhead 8 times as often as with 16k batches).
- floor: ``pyarrow.parquet.ParquetFile.iter_batches()`` (65,536 rows) -> ``batch.to_pandas()`` ->
  ``model.predict`` -> ``ParquetWriter.write_batch`` with the same columns, single-threaded, as a careful
  user would write it by hand.

Each side runs in a fresh subprocess; it warms up on a 10,000-row file (loading the model), then scores the file
once, timed; the sides alternate 3 times and the medians are reported. Peak memory is the subprocess's
``ru_maxrss``, imports included: duckml's side also imports duckdb, polars and skops (~60 MB more than the floor's
pyarrow + pandas + scikit-learn). The forest's trees dominate its time; for logistic regression, Parquet decoding
and encoding and per-batch Python overhead dominate.

Scale: ``run("full")`` is 2M rows, ``run("quick")`` 100k; ``DUCKML_BENCH_SCALE=4`` divides the full size by 4
(floor 20,000 rows). Standalone: ``python benchmarks/bench_predict.py [--quick]``.
MLflow's ``pyfunc`` path is measured by a separate function using :func:`prepare`'s files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/bench_predict.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402

FULL_ROWS = 2_000_000
QUICK_ROWS = 100_000
MIN_ROWS = 20_000
FEATURES = [f"f{i:02d}" for i in range(20)]
MODELS = {"rf": "RandomForestRegressor(50 trees, depth 10)", "lr": "LogisticRegression"}
ROW_GROUP = 122_880
WARMUP_ROWS = 10_000
REPEATS = 3
_MODULE = "bench_predict"  # not __name__, which is "__main__" when run as a script


def rows_for(scale: str | int | float) -> int:
    """Rows for a scale name (``full``/``quick``), or for a divisor of the full size; DUCKML_BENCH_SCALE wins.

    >>> rows_for("quick"), rows_for(4)
    (100000, 500000)
    """
    divisor = os.environ.get("DUCKML_BENCH_SCALE")
    if divisor:
        scale = float(divisor)
    if scale == "quick":
        return QUICK_ROWS
    if scale == "full":
        return FULL_ROWS
    return max(MIN_ROWS, int(FULL_ROWS / float(scale)))


def _write(path: Path, n: int, seed: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    schema = pa.schema([(f, pa.float64()) for f in FEATURES])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, n, ROW_GROUP):
            m = min(ROW_GROUP, n - start)
            block = rng.normal(size=(m, len(FEATURES)))
            writer.write_table(pa.table({f: block[:, i] for i, f in enumerate(FEATURES)}, schema=schema))


def prepare(rows: int, folder: str) -> dict:
    """Write the data and warm-up files, fit both models, pickle them for the floor and register them in a
    duckml store. Returns the paths (and model URIs) every side uses."""
    import pickle

    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LogisticRegression

    import duckml

    root = Path(folder)
    data, warm = root / "data.parquet", root / "warmup.parquet"
    _write(data, rows, 1)
    _write(warm, WARMUP_ROWS, 2)
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(20_000, len(FEATURES))), columns=FEATURES)
    weights = rng.normal(size=len(FEATURES))
    y = X.to_numpy() @ weights + rng.normal(size=len(X))
    fitted = {"rf": RandomForestRegressor(n_estimators=50, max_depth=10, random_state=0, n_jobs=1).fit(X, y),
              "lr": LogisticRegression(max_iter=1000).fit(X, y > 0)}
    duckml.set_store(root / "store.duckdb")
    out = {"data": str(data), "warmup": str(warm), "rows": rows, "store": str(root / "store.duckdb")}
    for key, model in fitted.items():
        with open(root / f"{key}.pkl", "wb") as f:
            pickle.dump(model, f)
        with duckml.start_run(run_name=f"bench-{key}"):
            duckml.log_model(model, "model", input_example=X.head(), registered_model_name=f"bench-{key}")
        out[f"{key}_pickle"] = str(root / f"{key}.pkl")
        out[f"{key}_uri"] = f"models:/bench-{key}/1"
    duckml.flush()
    return out


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def duckml_side(paths: dict, model: str) -> dict:
    import time

    import duckml

    duckml.set_store(paths["store"])
    out = Path(paths["data"]).with_name(f"duckml_{model}.parquet")
    duckml.predict(paths[f"{model}_uri"], paths["warmup"], output=str(out))  # loads the model once
    t0 = time.perf_counter()
    duckml.predict(paths[f"{model}_uri"], paths["data"], output=str(out))
    seconds = time.perf_counter() - t0
    return {"rate": paths["rows"] / seconds, "seconds": seconds, "peak_mb": _peak_mb()}


def sql_side(paths: dict, model: str) -> dict:
    """The SQL face: ``COPY (FROM predict(...)) TO`` through the store, scored by the UDF in 2,048-row vectors."""
    import time

    import duckml

    store = duckml.connect(paths["store"])
    out = Path(paths["data"]).with_name(f"sql_{model}.parquet")
    statement = "COPY (FROM predict($1, $2)) TO $3 (FORMAT parquet)"
    store.sql("SET preserve_insertion_order = false")
    store.sql(statement, [paths[f"{model}_uri"], paths["warmup"], str(out)])
    t0 = time.perf_counter()
    store.sql(statement, [paths[f"{model}_uri"], paths["data"], str(out)])
    seconds = time.perf_counter() - t0
    return {"rate": paths["rows"] / seconds, "seconds": seconds, "peak_mb": _peak_mb()}


def floor_side(paths: dict, model: str) -> dict:
    import pickle
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(paths[f"{model}_pickle"], "rb") as f:
        estimator = pickle.load(f)
    out = Path(paths["data"]).with_name(f"floor_{model}.parquet")

    def score(source: str) -> None:
        writer = None
        for batch in pq.ParquetFile(source).iter_batches():
            prediction = pa.array(estimator.predict(batch.to_pandas()))  # float64, or bool labels
            scored = pa.RecordBatch.from_arrays(batch.columns + [prediction],
                                                names=batch.schema.names + ["prediction"])
            if writer is None:
                writer = pq.ParquetWriter(out, scored.schema)
            writer.write_batch(scored)
        writer.close()

    score(paths["warmup"])
    t0 = time.perf_counter()
    score(paths["data"])
    seconds = time.perf_counter() - t0
    return {"rate": paths["rows"] / seconds, "seconds": seconds, "peak_mb": _peak_mb()}


def run(scale: str | int | float) -> list[dict]:
    """One throughput row and one peak-memory row per model: duckml vs the hand-written floor.

    The sides alternate ``REPEATS`` times (fresh subprocesses each), and each figure is the median, so
    that a neighbour's load on a shared machine hits both sides alike.
    """
    import tempfile

    rows = rows_for(scale)
    repeats = 1 if rows <= QUICK_ROWS else REPEATS
    results = []
    with tempfile.TemporaryDirectory(prefix="duckml-bench-predict-") as folder:
        paths = common.run_side("duckml", _MODULE, "prepare", {"rows": rows, "folder": folder})
        for model, label in MODELS.items():
            got: dict[str, list[dict]] = {"duckml_side": [], "sql_side": [], "floor_side": []}
            errors = []
            for _ in range(repeats):
                for side in got:
                    result, error = common.try_side("duckml", _MODULE, side, {"paths": paths, "model": model})
                    got[side].append(result) if result else errors.append(error)

            def median(side: str, key: str) -> float | None:
                values = [r[key] for r in got[side]]
                return common.median(values) if values else None

            workload = f"predict {label}, {rows:,} x 20 -> Parquet"
            floor_note = f"median of {repeats}; floor: pyarrow iter_batches + predict + ParquetWriter, 1 thread"
            results.append(common.row(
                f"{workload}: duckml.predict()", median("duckml_side", "rate"), median("floor_side", "rate"),
                "rows/s", common.join_notes(*errors, floor_note, "duckml: DuckDB reads, 2 scoring threads"),
                "hand-written floor"))
            results.append(common.row(
                f"{workload}: peak RSS", median("duckml_side", "peak_mb"), median("floor_side", "peak_mb"), "MB",
                "whole subprocess, imports included", "hand-written floor"))
            results.append(common.row(
                f"{workload}: SQL COPY (FROM predict(...))", median("sql_side", "rate"),
                median("floor_side", "rate"), "rows/s",
                f"scoring UDF on DuckDB threads, 2,048-row vectors; peak {median('sql_side', 'peak_mb') or 0:.0f} MB",
                "hand-written floor"))
    return results


def main(argv: list[str]) -> int:
    scale = "quick" if "--quick" in argv else "full"
    for r in run(scale):
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "-"
        duck = f"{r['duckml']:,.0f}" if r["duckml"] else "-"
        base = f"{r['baseline']:,.0f}" if r["baseline"] else "-"
        print(f"{r['workload']:<75} duckml {duck:>12} floor {base:>12} {r['unit']:<7} ratio {ratio}  {r['notes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
