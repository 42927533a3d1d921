"""PREDICT on Spark: duckml.spark.predict, the compiled Spark SQL function, MLflow's spark_udf and the
hand-written mapInArrow loop, on one ``local-cluster[2,1,1024]`` (two executor JVMs, one core each).

Workload (issue 26): N rows (default 2,000,000) of an ``id`` string, a ``city`` string and 20 float64
features in Parquet (8 files, so both executors get partitions), scored by
- ``pipe``: Pipeline(StandardScaler, LogisticRegression) on the 20 features;
- ``ridge``: ColumnTransformer(StandardScaler on the 20 features, OneHotEncoder on ``city``) + Ridge;
- ``rf``: RandomForestRegressor(50 trees, depth 6) on the 20 features;
- the crossover: forests of growing size, compiled SQL against the Python path.
Each model is fitted on 20,000 rows and scored by:
- duckml: ``duckml.spark.predict(df, "models:/bench-<key>/1")`` (mapInArrow, the model file's bytes broadcast);
- compiled: ``duckml.spark.register(spark, uri, name)`` then ``df.select("*", fn(...))`` (a SQL expression);
- MLflow: ``mlflow.pyfunc.spark_udf`` of the same fitted model logged by ``mlflow.sklearn.log_model`` (SQLite
  store), in the MLflow interpreter (``--mlflow-python`` / ``DUCKML_BENCH_MLFLOW_PYTHON``, the suite's "other
  interpreter": MLflow 3.17.2 pins another pyarrow than duckml's venv) with its own Spark session of the same
  config on the same Parquet files (same partitions); that session times the hand-written loop too, so the
  drift of a loaded machine between the two sessions shows;
- floor: the hand-written loop: the pickled model broadcast, unpickled per partition in ``mapInArrow``,
  ``batch.select(inputs).to_pandas()`` -> ``predict`` -> the batch with the prediction appended (the same
  output columns as ``duckml.spark.predict``).
Every job reads the Parquet files and ends in Spark's ``noop`` sink (the whole plan runs, every prediction is
computed, nothing is written). Each side has one warm-up run (workers started, model loaded), then the sides
take turns for ``--repeats`` rounds, so a change in the machine's load hits them alike; the median is reported
as rows/s. The crossover forests score ``--crossover-rows`` rows (compiled forests run slowly in Spark).

``--bound`` also times a ``mapInArrow`` that appends zeros and runs no model: the cost of Spark's Arrow transfer
alone, which bounds every mapInArrow scorer.

Standalone: ``python benchmarks/bench_spark.py --rows 200000 [--repeats 3] [--mlflow-python PATH] [--bound]``;
``python -m benchmarks --only spark`` runs it from the suite (``DUCKML_BENCH_SPARK_ROWS`` sets the rows there).
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/bench_spark.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FULL_ROWS, QUICK_ROWS = 2_000_000, 100_000
TRAIN_ROWS = 20_000
FEATURES = [f"f{i:02d}" for i in range(20)]
FILES = 8
CROSSOVER = {"rf1x4": (1, 4), "rf3x4": (3, 4), "rf10x4": (10, 4), "rf50x6": (50, 6)}
# compiled forests add their trees with aggregate(), which Spark runs interpreted (a 50-tree forest scored a
# few hundred rows/s): the crossover scores fewer rows, and the 50-tree forest of the main table (the same as
# rf50x6) is compiled only there
CROSSOVER_ROWS = 20_000


def _models():
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    models = {
        "pipe": (Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression(max_iter=300))]), FEATURES, True),
        "ridge": (Pipeline([("prep", ColumnTransformer([("num", StandardScaler(), FEATURES),
                                                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])])),
                            ("ridge", Ridge(alpha=1.0))]), FEATURES + ["city"], False),
        "rf": (RandomForestRegressor(n_estimators=50, max_depth=6, random_state=0, n_jobs=1), FEATURES, False),
    }
    for key, (trees, depth) in CROSSOVER.items():
        models[key] = (RandomForestRegressor(n_estimators=trees, max_depth=depth, random_state=0, n_jobs=1),
                       FEATURES, False)
    return models


def _frame(rows: int, seed: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    frame.insert(0, "id", [f"r{i}" for i in range(rows)])
    frame["city"] = rng.choice(["oslo", "rome", "lima", "kyiv", "pune"], rows)
    return frame


def _target(frame, classify: bool):
    signal = frame[FEATURES[:5]].sum(axis=1) + (frame["city"] == "rome") * 0.5
    return (signal > 0).astype(int) if classify else signal


def _write_source(folder: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    per_file = -(-rows // FILES)
    for i in range(FILES):
        part = _frame(min(per_file, rows - i * per_file), seed=100 + i)
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), folder / f"part-{i}.parquet")


def prepare(folder: Path, rows: int, keys: list[str], crossover_rows: int = CROSSOVER_ROWS) -> dict:
    """Write the Parquet sources, fit the models, log them to a duckml store (and pickle them for the
    MLflow side, which logs the same fitted models to MLflow)."""
    import warnings

    import duckml

    _write_source(folder / "source", rows)
    if any(key in CROSSOVER for key in keys):
        _write_source(folder / "crossover", crossover_rows)
    train = _frame(TRAIN_ROWS, seed=1)
    duckml.set_store(folder / "bench.duckdb")
    fitted, uris = {}, {}
    all_models = _models()
    for key in keys:
        model, columns, classify = all_models[key]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(train[columns], _target(train, classify))
        with duckml.start_run():
            duckml.log_model(model, "model", input_example=train[columns].head(), registered_model_name=f"bench-{key}")
        fitted[key], uris[key] = (model, columns), f"models:/bench-{key}/1"
    duckml.flush()
    # the MLflow side (another interpreter) logs the very same fitted models
    (folder / "fitted.pkl").write_bytes(pickle.dumps(fitted))
    return {"fitted": fitted, "uris": uris}


def _session():
    from pyspark.sql import SparkSession

    # the executors' Python workers run this interpreter (duckml's venv, or the MLflow one), not PATH's python3
    os.environ["PYSPARK_PYTHON"] = sys.executable

    spark = (SparkSession.builder.master("local-cluster[2,1,1024]").appName("duckml-bench-spark")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.memory", "2g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _hand_written(spark, df, model, columns):
    """The loop a Spark user writes by hand: a pickled model, unpickled per partition."""
    import pyarrow as pa
    from pyspark.sql.types import DoubleType, StructField, StructType

    blob = spark.sparkContext.broadcast(pickle.dumps(model))

    def loop(batches):
        loaded = pickle.loads(blob.value)
        for batch in batches:
            X = batch.select(columns).to_pandas()
            yield batch.append_column("prediction", pa.array(loaded.predict(X).astype("float64")))

    return df.mapInArrow(loop, StructType(df.schema.fields + [StructField("prediction", DoubleType())]))


def _transfer_only(df):
    """The bound of every mapInArrow scorer: the batches go to Python and back with a column of zeros
    appended, and no model runs (what Spark's Arrow transfer alone costs)."""
    import numpy as np
    import pyarrow as pa
    from pyspark.sql.types import DoubleType, StructField, StructType

    def append_zeros(batches):
        for batch in batches:
            yield batch.append_column("prediction", pa.array(np.zeros(batch.num_rows)))

    return df.mapInArrow(append_zeros, StructType(df.schema.fields + [StructField("prediction", DoubleType())]))


def _run(make_df) -> float:
    t0 = time.perf_counter()
    make_df().write.format("noop").mode("overwrite").save()
    return time.perf_counter() - t0


def _time_sides(makers: dict, repeats: int) -> dict:
    """{side: median seconds} of running each side's plan into the noop sink: one warm-up run per side,
    then ``repeats`` rounds in which the sides take turns."""
    for make_df in makers.values():
        _run(make_df)
    times = {side: [] for side in makers}
    for _ in range(repeats):
        for side, make_df in makers.items():
            times[side].append(_run(make_df))
    return {side: statistics.median(values) for side, values in times.items()}


def mlflow_side(folder: str, keys: list[str], rows: dict, repeats: int) -> dict:
    """In the MLflow interpreter: log the fitted models with ``mlflow.sklearn``, score them with
    ``mlflow.pyfunc.spark_udf`` and the hand-written loop on a session of the same config.
    Returns {"seconds": {key: {"mlflow": s, "floor": s}}, "partitions": n, "versions": {...}}."""
    import warnings

    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    import pyspark

    from benchmarks import common

    common.mlflow_quiet()
    warnings.filterwarnings("ignore")
    fitted = pickle.loads((Path(folder) / "fitted.pkl").read_bytes())
    train = _frame(TRAIN_ROWS, seed=1)
    mlflow.set_tracking_uri(common.sqlite_uri(Path(folder) / "mlflow.db"))
    spark = _session()
    try:
        _warm_up(spark, folder)
        seconds = {}
        for key in keys:
            model, columns = fitted[key]
            with mlflow.start_run():
                # cloudpickle: MLflow 3.17's default skops format refuses the trees of a forest
                info = mlflow.sklearn.log_model(model, name="model", input_example=train[columns].head(),
                                                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE)
            udf = mlflow.pyfunc.spark_udf(spark, info.model_uri, result_type="double")
            df = lambda: spark.read.parquet(source_of(folder, key))  # noqa: B023,E731
            seconds[key] = _time_sides({
                "mlflow": lambda: df().withColumn("prediction", udf(*columns)),
                "floor": lambda: _hand_written(spark, df(), model, columns)}, repeats)
            print(f"[bench_spark mlflow side] {key}: " + ", ".join(
                f"{s} {rows[key] / t:,.0f} rows/s" for s, t in seconds[key].items()), file=sys.stderr, flush=True)
        partitions = spark.read.parquet(source_of(folder, "")).rdd.getNumPartitions()
    finally:
        spark.stop()
    return {"seconds": seconds, "partitions": partitions,
            "versions": {"mlflow": mlflow.__version__, "pyspark": pyspark.__version__}}


def _warm_up(spark, folder: str | Path) -> None:
    """Read the source into the sink a few times first: the JVM compiles the Parquet path during a session's
    first jobs, which otherwise slowed whichever model came first (its compiled side ~20% in one run)."""
    folders = [source_of(folder, "")] + ([source_of(folder, "rf1x4")]
                                         if Path(source_of(folder, "rf1x4")).exists() else [])
    for _ in range(3):
        for source in folders:  # the crossover's own files too: its first forest ran ~40% slower without
            _run(lambda source=source: spark.read.parquet(source))


def source_of(folder: str | Path, key: str) -> str:
    """The Parquet folder a model scores: the crossover forests have a smaller one of their own."""
    return str(Path(folder) / ("crossover" if key in CROSSOVER else "source"))


def measure(rows: int, repeats: int, keys: list[str], sides: list[str],
            crossover_rows: int = CROSSOVER_ROWS) -> tuple[dict, dict]:
    """{key: {side: rows/s}} and the notes: duckml's sides and the hand loop on one cluster, then the MLflow
    side in its interpreter (when there is one) on a cluster of the same config, on the same files."""
    from benchmarks import common

    import duckml.spark
    from duckml.compiler import node_count

    with tempfile.TemporaryDirectory(prefix="duckml-bench-spark-") as tmp:
        prepared = prepare(Path(tmp), rows, keys, crossover_rows)
        counts = {key: crossover_rows if key in CROSSOVER else rows for key in keys}
        spark = _session()
        rates, notes = {}, {}
        try:
            notes["partitions"] = spark.read.parquet(source_of(tmp, "")).rdd.getNumPartitions()
            _warm_up(spark, tmp)
            for key in keys:
                model, columns = prepared["fitted"][key]
                uri = prepared["uris"][key]
                df = lambda: spark.read.parquet(source_of(tmp, key))  # noqa: B023,E731
                makers = {}
                if "duckml" in sides:
                    makers["duckml"] = lambda: duckml.spark.predict(df(), uri)  # noqa: B023
                if "compiled" in sides and key != "rf":
                    t0 = time.perf_counter()
                    function = duckml.spark.register(spark, uri, f"bench_{key}", engine="sql")
                    notes[f"{key} register"] = time.perf_counter() - t0
                    makers["compiled"] = lambda: df().select("*", function(*columns).alias("prediction"))  # noqa
                if "floor" in sides and key not in CROSSOVER:
                    makers["floor"] = lambda: _hand_written(spark, df(), model, columns)  # noqa: B023
                if "bound" in sides and key not in CROSSOVER:
                    makers["bound"] = lambda: _transfer_only(df())  # noqa: B023
                rates[key] = {side: counts[key] / t for side, t in _time_sides(makers, repeats).items()}
                notes[f"{key} nodes"] = node_count(model)
                print(f"[bench_spark] {key}: " + ", ".join(f"{s} {r:,.0f} rows/s" for s, r in rates[key].items()),
                      file=sys.stderr, flush=True)
        finally:
            spark.stop()
        mlflow_keys = [key for key in keys if key not in CROSSOVER]
        notes["mlflow"] = ""
        if "mlflow" in sides and mlflow_keys:
            if common.SETTINGS.mlflow_python is None:
                notes["mlflow"] = f"spark_udf NOT measured: {common.SETTINGS.mlflow_missing_reason}"
            else:
                got, error = common.try_side("mlflow", "bench_spark", "mlflow_side",
                                             {"folder": tmp, "keys": mlflow_keys, "rows": counts,
                                              "repeats": repeats})
                notes["mlflow"] = error
                if got:
                    notes["mlflow partitions"] = got["partitions"]
                    notes["mlflow versions"] = got["versions"]
                    for key, seconds in got["seconds"].items():
                        rates[key]["mlflow"] = counts[key] / seconds["mlflow"]
                        rates[key]["mlflow floor"] = counts[key] / seconds["floor"]
    return rates, notes


def _use_mlflow_python(explicit: str | None = None) -> None:
    """Find the MLflow interpreter when no suite run has (``python benchmarks/bench_spark.py``)."""
    from benchmarks import common

    if common.SETTINGS.mlflow_python is None and common.SETTINGS.mlflow_missing_reason == "MLflow not looked for":
        python, why = common.find_mlflow_python(explicit)
        common.SETTINGS.mlflow_python = python
        common.SETTINGS.mlflow_missing_reason = "" if python else why


def run(scale: str | int | float) -> list[dict]:
    """Rows for ``python -m benchmarks --only spark``."""
    from benchmarks import common

    rows = int(os.environ.get("DUCKML_BENCH_SPARK_ROWS") or (QUICK_ROWS if scale == "quick" else FULL_ROWS))
    keys = ["pipe", "ridge", "rf"] + (list(CROSSOVER) if scale != "quick" else [])
    rates, notes = measure(rows, 1 if scale == "quick" else 3, keys, ["duckml", "compiled", "mlflow", "floor"])
    return _rows(common, rates, notes, rows)


LABELS = {"pipe": "Pipeline(StandardScaler, LogisticRegression)", "ridge": "ColumnTransformer + Ridge",
          "rf": "RandomForest 50 x depth 6"}


def _rows(common, rates: dict, notes: dict, rows: int) -> list[dict]:
    out = []
    for key, got in rates.items():
        if key in CROSSOVER:
            out.append(common.row(f"Spark crossover forest {key} ({notes[f'{key} nodes']:,} nodes, "
                                  f"{CROSSOVER_ROWS:,} rows): compiled SQL vs duckml.spark.predict",
                                  got.get("compiled"), got.get("duckml"), "rows/s",
                                  f"register {notes.get(f'{key} register', 0):.1f} s", "duckml.spark.predict"))
            continue
        label = LABELS[key]
        out.append(common.row(f"Spark {label}: duckml.spark.predict, {rows:,} rows", got.get("duckml"),
                              got.get("floor"), "rows/s", "", "hand-written mapInArrow"))
        out.append(common.row(f"Spark {label}: compiled SQL function, {rows:,} rows", got.get("compiled"),
                              got.get("floor"), "rows/s", f"register {notes.get(f'{key} register', 0):.1f} s",
                              "hand-written mapInArrow"))
        loop = got.get("mlflow floor")
        via = (f"; via the hand loop of each session {got['duckml'] / got['floor'] * loop / got['mlflow']:.2f}x"
               if loop and got.get("mlflow") and got.get("duckml") and got.get("floor") else "")
        out.append(common.row(f"Spark {label}: duckml.spark.predict vs spark_udf", got.get("duckml"),
                              got.get("mlflow"), "rows/s",
                              common.join_notes(notes["mlflow"], f"hand loop in the MLflow session {loop:,.0f} "
                                                f"rows/s{via}" if loop else ""), "MLflow spark_udf"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=FULL_ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["pipe", "ridge", "rf", *CROSSOVER],
                        choices=["pipe", "ridge", "rf", *CROSSOVER])
    parser.add_argument("--crossover-rows", type=int, default=CROSSOVER_ROWS,
                        help="rows scored by the crossover forests (compiled forests run slowly in Spark)")
    parser.add_argument("--mlflow-python", help="a Python with mlflow==3.17.2 and pyspark (default: "
                                                "$DUCKML_BENCH_MLFLOW_PYTHON, else this one)")
    parser.add_argument("--no-mlflow", action="store_true", help="skip spark_udf")
    parser.add_argument("--bound", action="store_true",
                        help="also time a mapInArrow that appends zeros and runs no model (the transfer's cost)")
    args = parser.parse_args(argv)
    sides = ["duckml", "compiled", "floor"] + ([] if args.no_mlflow else ["mlflow"]) + (["bound"] if args.bound else [])
    if not args.no_mlflow:
        _use_mlflow_python(args.mlflow_python)
    rates, notes = measure(args.rows, args.repeats, args.models, sides, args.crossover_rows)
    if notes["mlflow"]:
        print(notes["mlflow"])
    print(f"{args.rows:,} rows x {len(FEATURES)} features, {notes['partitions']} partitions "
          f"(MLflow session: {notes.get('mlflow partitions', '—')}, {notes.get('mlflow versions', '')}), "
          f"median of {args.repeats} alternating rounds")
    # duckml/udf compares two sessions run one after the other; "via loop" divides out the drift of the
    # machine's load between them: (duckml / loop in duckml's session) x (loop / spark_udf in MLflow's)
    print(f"{'model':<8} {'duckml':>10} {'compiled':>10} {'spark_udf':>10} {'hand loop':>10} {'loop@mlflow':>11}  "
          "duckml/loop  compiled/loop  duckml/udf  duckml/udf via loop")
    for key, got in rates.items():
        if key in CROSSOVER:
            continue

        def cell(side, width=10):
            return f"{got[side]:>{width},.0f}" if got.get(side) else f"{'—':>{width}}"

        def ratio(a, b):
            return f"{got[a] / got[b]:.2f}x" if got.get(a) and got.get(b) else "—"

        bridged = (f"{got['duckml'] / got['floor'] * got['mlflow floor'] / got['mlflow']:.2f}x"
                   if all(got.get(side) for side in ("duckml", "floor", "mlflow", "mlflow floor")) else "—")
        print(f"{key:<8} {cell('duckml')} {cell('compiled')} {cell('mlflow')} {cell('floor')} "
              f"{cell('mlflow floor', 11)}  {ratio('duckml', 'floor'):>11}  {ratio('compiled', 'floor'):>13}  "
              f"{ratio('duckml', 'mlflow'):>10}  {bridged:>19}")
    bounds = {key: got["bound"] for key, got in rates.items() if got.get("bound")}
    for key, rate in bounds.items():
        print(f"{key}: transfer only (mapInArrow appending zeros, no model) {rate:,.0f} rows/s; "
              f"duckml at {rates[key]['duckml'] / rate:.2f}x of it, the hand loop at {rates[key]['floor'] / rate:.2f}x")
    crossover = [key for key in rates if key in CROSSOVER]
    if crossover:
        print(f"crossover, {args.crossover_rows:,} rows: forest    nodes   duckml   compiled  compiled/duckml")
        for key in crossover:
            got = rates[key]
            trees, depth = CROSSOVER[key]
            nodes = notes[f"{key} nodes"]
            print(f"{'':>30}{trees:>3}x{depth:<4} {nodes:>6} {got['duckml']:>8,.0f} {got['compiled']:>10,.0f} "
                  f"{got['compiled'] / got['duckml']:>10.2f}x")
    registers = {k: round(v, 1) for k, v in notes.items() if k.endswith("register")}
    print(f"register (compile + CREATE FUNCTION) seconds: {registers}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
