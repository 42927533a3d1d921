"""PREDICT throughput and peak memory: duckml writing Parquet vs the hand-written floor and MLflow's pyfunc.

Workload (issues 6 and 12): 2,000,000 rows of an ``id`` string column (a pass-through column, carried to the
output untouched) and 20 float64 features in one Parquet file (row groups of 122,880 rows, DuckDB's default),
scored by RandomForestRegressor(50 trees, depth 10), by LogisticRegression and by a StandardScaler +
LogisticRegression pipeline, all fitted on 20,000 rows of a pandas DataFrame (so they carry feature names); 5,000
at 100k rows or fewer, where fitting the forest would otherwise take most of the smoke run (its trees still reach
depth 10, so scoring costs about the same per row).

- duckml.predict(): ``duckml.predict("models:/bench-rf/1", data, output="out.parquet")``: the model resolved from
  the store and loaded once; a private DuckDB reads the file and hands 65,536-row Arrow batches to 2 scoring
  threads; pyarrow writes 65,536-row row groups, in source order (float columns without a dictionary). Every
  source column is written back.
- SQL: ``COPY (FROM predict('models:/bench-rf/1', data)) TO 'out.parquet'`` through ``duckml.connect().sql``
  with ``preserve_insertion_order=false``: the scoring UDF runs on DuckDB's threads over its fixed 2,048-row
  vectors (a forest pays its per-call overhead 32 times as often as with 64k batches).
- floor (the hand-written loop): ``pyarrow.parquet.ParquetFile.iter_batches()`` (65,536 rows) ->
  ``batch.select(features).to_pandas()`` -> ``model.predict`` -> ``ParquetWriter.write_batch`` of the batch
  with the prediction appended (``id`` included), pyarrow's default writer options, single-threaded, as a
  careful user would write it by hand. The ratio printed is duckml's rate over the floor's.
- MLflow pyfunc (issue 6): ``mlflow.pyfunc.load_model("models:/bench-rf/1").predict(pandas.read_parquet(data))``,
  then ``DataFrame.to_parquet`` with every source column plus ``prediction``. The same fitted models are logged by
  ``mlflow.sklearn.log_model`` (with the same input example, hence a signature that pyfunc enforces) into a
  SQLite-backed tracking store and model registry in the temp folder, by a separate MLflow process, so the
  scoring process's peak memory holds only the load and the scoring. The whole file is in memory at once: that
  is MLflow's batch path, not a choice of this benchmark.

Each side runs in a fresh subprocess; it warms up on a 10,000-row file (loading the model), then scores the file
once, timed; the sides alternate 3 times and the medians are reported. Peak memory is the subprocess's
``ru_maxrss``, imports included: duckml's side also imports duckdb, polars and skops (~60 MB more than the floor's
pyarrow + pandas + scikit-learn). The forest's trees dominate its time; for logistic regression, Parquet decoding
and encoding and per-batch Python overhead dominate.

Scale: ``run("full")`` is 2M rows, ``run("quick")`` 100k; ``DUCKML_BENCH_SCALE=4`` divides the full size by 4
(floor 20,000 rows). Standalone: ``python benchmarks/bench_predict.py [--quick] [--no-mlflow]``.
Without MLflow (``--no-mlflow``, or no interpreter that has it) the MLflow rows say so and the rest still runs.
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
TRAIN_ROWS, QUICK_TRAIN_ROWS = 20_000, 5_000
FEATURES = [f"f{i:02d}" for i in range(20)]
MODELS = {"rf": "RandomForestRegressor(50 trees, depth 10)", "lr": "LogisticRegression",
          "pipe": "StandardScaler + LogisticRegression pipeline"}
ROW_GROUP = 122_880
WARMUP_ROWS = 10_000
REPEATS = 3
_MODULE = "bench_predict"  # not __name__, which is "__main__" when run as a script
MLFLOW_NAME = "MLflow 3.17.2 pyfunc (SQLite)"
# MLflow 3.17 saves sklearn models with skops and refuses a forest's Tree nodes unless told they are trusted
SKOPS_TRUSTED = {"rf": ["sklearn.tree._tree.Tree"], "lr": None, "pipe": None}


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
    schema = pa.schema([("id", pa.string())] + [(f, pa.float64()) for f in FEATURES])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, n, ROW_GROUP):
            m = min(ROW_GROUP, n - start)
            block = rng.normal(size=(m, len(FEATURES)))
            ids = pa.array([f"row-{i:09d}" for i in range(start, start + m)], pa.string())
            writer.write_table(pa.table({"id": ids, **{f: block[:, i] for i, f in enumerate(FEATURES)}},
                                        schema=schema))


def prepare(rows: int, folder: str) -> dict:
    """Write the data and warm-up files, fit both models, pickle them for the floor and register them in a
    duckml store. Returns the paths (and model URIs) every side uses."""
    import pickle

    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import duckml

    root = Path(folder)
    data, warm = root / "data.parquet", root / "warmup.parquet"
    _write(data, rows, 1)
    _write(warm, WARMUP_ROWS, 2)
    rng = np.random.default_rng(0)
    train_rows = QUICK_TRAIN_ROWS if rows <= QUICK_ROWS else TRAIN_ROWS
    X = pd.DataFrame(rng.normal(size=(train_rows, len(FEATURES))), columns=FEATURES)
    weights = rng.normal(size=len(FEATURES))
    y = X.to_numpy() @ weights + rng.normal(size=len(X))
    fitted = {"rf": RandomForestRegressor(n_estimators=50, max_depth=10, random_state=0, n_jobs=1).fit(X, y),
              "lr": LogisticRegression(max_iter=1000).fit(X, y > 0),
              "pipe": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y > 0)}
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
            prediction = pa.array(estimator.predict(batch.select(FEATURES).to_pandas()))  # float64 or bool
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


def mlflow_prepare(paths: dict) -> dict:
    """In MLflow's interpreter: log the pickled models with ``mlflow.sklearn.log_model`` into a SQLite tracking
    store (and its registry) beside the data; returns the tracking URI and the model URIs."""
    import pickle

    import mlflow
    import pandas as pd

    common.mlflow_quiet()
    root = Path(paths["data"]).parent
    tracking_uri = common.sqlite_uri(root / "mlflow.db")
    mlflow.set_tracking_uri(tracking_uri)
    # explicit: the default ./mlruns would land in the worker's scratch cwd, deleted when this process exits
    experiment_id = mlflow.create_experiment("bench-predict", artifact_location=(root / "mlartifacts").as_uri())
    example = pd.read_parquet(paths["warmup"], columns=FEATURES).head()
    uris = {}
    for key in MODELS:
        with open(paths[f"{key}_pickle"], "rb") as f:
            model = pickle.load(f)
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"bench-{key}"):
            mlflow.sklearn.log_model(model, name="model", input_example=example,
                                     registered_model_name=f"bench-{key}", skops_trusted_types=SKOPS_TRUSTED[key])
        uris[key] = f"models:/bench-{key}/1"
    return {"tracking_uri": tracking_uri, "uris": uris}


def mlflow_side(paths: dict, model: str, mlflow_store: dict) -> dict:
    """MLflow's own batch path: ``pyfunc.load_model(uri).predict(pandas.read_parquet(path))`` -> ``to_parquet``."""
    import time

    import mlflow
    import pandas as pd

    common.mlflow_quiet()
    mlflow.set_tracking_uri(mlflow_store["tracking_uri"])
    out = Path(paths["data"]).with_name(f"mlflow_{model}.parquet")
    t0 = time.perf_counter()
    pyfunc = mlflow.pyfunc.load_model(mlflow_store["uris"][model])
    load_seconds = time.perf_counter() - t0

    def score(source: str) -> None:
        frame = pd.read_parquet(source)
        frame["prediction"] = pyfunc.predict(frame[FEATURES])
        frame.to_parquet(out, index=False)

    score(paths["warmup"])
    t0 = time.perf_counter()
    score(paths["data"])
    seconds = time.perf_counter() - t0
    return {"rate": paths["rows"] / seconds, "seconds": seconds, "peak_mb": _peak_mb(),
            "load_seconds": load_seconds}


def run(scale: str | int | float) -> list[dict]:
    """Per model: throughput and peak-memory rows against the hand-written floor, the SQL face's throughput,
    and throughput and peak-memory rows against MLflow's pyfunc (its rows say so when MLflow is absent).

    The sides alternate ``REPEATS`` times (fresh subprocesses each), and each figure is the median, so
    that a neighbour's load on a shared machine hits both sides alike.
    """
    import tempfile

    rows = rows_for(scale)
    repeats = 1 if rows <= QUICK_ROWS else REPEATS
    results = []
    with tempfile.TemporaryDirectory(prefix="duckml-bench-predict-") as folder:
        paths = common.run_side("duckml", _MODULE, "prepare", {"rows": rows, "folder": folder})
        mlflow_store, mlflow_error = common.try_side("mlflow", _MODULE, "mlflow_prepare", {"paths": paths})
        for model, label in MODELS.items():
            got: dict[str, list[dict]] = {"duckml_side": [], "sql_side": [], "floor_side": [], "mlflow_side": []}
            if model == "rf":  # the same duckml.predict with the fast tree walk switched off: scikit-learn's loop
                got["sklearn_walk"] = []
            errors: dict[str, list[str]] = {side: [] for side in got}
            errors["mlflow_side"].append(mlflow_error)
            for _ in range(repeats):
                for side in got:
                    kwargs = {"paths": paths, "model": model}
                    if side == "mlflow_side":
                        if mlflow_store is None:
                            continue
                        kwargs["mlflow_store"] = mlflow_store
                    env = {"DUCKML_FAST_TREES": "0"} if side == "sklearn_walk" else None
                    result, error = common.try_side("mlflow" if side == "mlflow_side" else "duckml",
                                                    _MODULE, "duckml_side" if side == "sklearn_walk" else side,
                                                    kwargs, env)
                    got[side].append(result) if result else errors[side].append(error)

            def median(side: str, key: str) -> float | None:
                values = [r[key] for r in got[side]]
                return common.median(values) if values else None

            duck_errors = errors["duckml_side"] + errors["sql_side"] + errors["floor_side"]
            workload = f"predict {label}, {rows:,} x (id + 20) -> Parquet"
            floor_note = f"median of {repeats}; floor: pyarrow iter_batches + predict + ParquetWriter, 1 thread"
            results.append(common.row(
                f"{workload}: duckml.predict()", median("duckml_side", "rate"), median("floor_side", "rate"),
                "rows/s", common.join_notes(*duck_errors, floor_note, "duckml: DuckDB reads, 2 scoring threads"),
                "hand-written floor"))
            if "sklearn_walk" in got:
                results.append(common.row(
                    f"{workload}: duckml.predict(), fast tree walk vs scikit-learn's", median("duckml_side", "rate"),
                    median("sklearn_walk", "rate"), "rows/s",
                    common.join_notes(*errors["sklearn_walk"], "baseline: DUCKML_FAST_TREES=0, same predictions"),
                    "scikit-learn's tree loop"))
            results.append(common.row(
                f"{workload}: peak RSS", median("duckml_side", "peak_mb"), median("floor_side", "peak_mb"), "MB",
                "whole subprocess, imports included", "hand-written floor"))
            results.append(common.row(
                f"{workload}: SQL COPY (FROM predict(...))", median("sql_side", "rate"),
                median("floor_side", "rate"), "rows/s",
                f"scoring UDF on DuckDB threads, 2,048-row vectors; peak {median('sql_side', 'peak_mb') or 0:.0f} MB",
                "hand-written floor"))
            load = median("mlflow_side", "load_seconds")
            sql_vs = common.ratio(median("sql_side", "rate"), median("mlflow_side", "rate"), "rows/s")
            results.append(common.row(
                f"{workload}: duckml.predict() vs MLflow pyfunc", median("duckml_side", "rate"),
                median("mlflow_side", "rate"), "rows/s",
                common.join_notes(*errors["mlflow_side"], f"median of {repeats}" if got["mlflow_side"] else "",
                                  "MLflow: pandas.read_parquet -> pyfunc.load_model(models:/...).predict -> "
                                  "to_parquet, whole file in memory",
                                  f"load_model {load:.2f} s untimed (duckml's load is in its warm-up)" if load else "",
                                  f"SQL COPY vs MLflow {sql_vs:.2f}x" if sql_vs else ""),
                MLFLOW_NAME))
            results.append(common.row(
                f"{workload}: peak RSS vs MLflow pyfunc", median("duckml_side", "peak_mb"),
                median("mlflow_side", "peak_mb"), "MB",
                "whole subprocess, imports included; MLflow's model was logged by another process", MLFLOW_NAME))
    return results


def main(argv: list[str]) -> int:
    scale = "quick" if "--quick" in argv else "full"
    if "--no-mlflow" not in argv:  # run.py decides this for the suite; standalone, look like it does
        python, why = common.find_mlflow_python(os.environ.get("DUCKML_BENCH_MLFLOW_PYTHON"))
        common.SETTINGS.mlflow_python, common.SETTINGS.mlflow_missing_reason = python, "" if python else why
    for r in run(scale):
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "-"
        duck = f"{r['duckml']:,.0f}" if r["duckml"] else "-"
        base = f"{r['baseline']:,.0f}" if r["baseline"] else "-"
        print(f"{r['workload']:<90} duckml {duck:>12} {r['baseline_name'][:20]:<20} {base:>12} {r['unit']:<7} ratio {ratio}  {r['notes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
