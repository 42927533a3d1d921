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
- MLflow: ``mlflow.pyfunc.spark_udf`` of the same model logged by ``mlflow.sklearn.log_model`` (only when mlflow
  is importable: it is in the ``bench`` extra; otherwise the column says it was not measured);
- floor: the hand-written loop: the pickled model broadcast, unpickled per partition in ``mapInArrow``,
  ``batch.to_pandas()`` -> ``predict`` -> the batch with the prediction appended.
Every job ends in Spark's ``noop`` sink (the whole plan runs, nothing is written), after one warm-up run
(workers started, model loaded); the median of ``--repeats`` runs is reported as rows/s.

Standalone: ``python benchmarks/bench_spark.py --rows 200000 [--repeats 1]``; ``python -m benchmarks --only
spark`` runs it from the suite (``DUCKML_BENCH_SPARK_ROWS`` sets the rows there).
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
CROSSOVER = {"rf10x4": (10, 4), "rf50x4": (50, 4), "rf50x6": (50, 6), "rf50x8": (50, 8)}


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


def prepare(folder: Path, rows: int, keys: list[str]) -> dict:
    """Write the Parquet source, fit the models, log them to a store (and to MLflow when importable)."""
    import warnings

    import pyarrow as pa
    import pyarrow.parquet as pq

    import duckml

    source = folder / "source"
    source.mkdir()
    per_file = -(-rows // FILES)
    for i in range(FILES):
        part = _frame(min(per_file, rows - i * per_file), seed=100 + i)
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), source / f"part-{i}.parquet")
    train = _frame(TRAIN_ROWS, seed=1)
    duckml.set_store(folder / "bench.duckdb")
    fitted, uris, mlflow_uris = {}, {}, {}
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
    try:
        import mlflow
        import mlflow.sklearn

        mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
        for key, (model, columns) in fitted.items():
            with mlflow.start_run():
                info = mlflow.sklearn.log_model(model, name="model", input_example=train[columns].head())
            mlflow_uris[key] = info.model_uri
        mlflow_note = ""
    except ImportError:
        mlflow_note = "MLflow not importable here (pip install -e '.[bench]'): spark_udf NOT measured"
    return {"source": str(source), "fitted": fitted, "uris": uris, "mlflow": mlflow_uris, "mlflow_note": mlflow_note}


def _session():
    from pyspark.sql import SparkSession

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


def _time(make_df, repeats: int) -> float:
    """Median seconds of running the plan into the noop sink, after one warm-up run."""
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        make_df().write.format("noop").mode("overwrite").save()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(rows: int, repeats: int, keys: list[str], sides: list[str]) -> tuple[dict, dict]:
    """{key: {side: rows/s or None}} and the notes, on one cluster."""
    from pyspark.sql import functions as F

    import duckml.spark

    with tempfile.TemporaryDirectory(prefix="duckml-bench-spark-") as tmp:
        prepared = prepare(Path(tmp), rows, keys)
        spark = _session()
        try:
            rates, notes = {}, {"mlflow": prepared["mlflow_note"]}
            for key in keys:
                model, columns = prepared["fitted"][key]
                uri = prepared["uris"][key]
                df = lambda: spark.read.parquet(prepared["source"])  # noqa: E731
                got = {}
                if "duckml" in sides:
                    got["duckml"] = _time(lambda: duckml.spark.predict(df(), uri), repeats)
                if "compiled" in sides:
                    t0 = time.perf_counter()
                    function = duckml.spark.register(spark, uri, f"bench_{key}", engine="sql")
                    notes[f"{key} register"] = time.perf_counter() - t0
                    got["compiled"] = _time(lambda: df().select("*", function(*columns).alias("prediction")),
                                            repeats)
                if "mlflow" in sides and key in prepared["mlflow"]:
                    import mlflow.pyfunc

                    udf = mlflow.pyfunc.spark_udf(spark, prepared["mlflow"][key], result_type="double")
                    got["mlflow"] = _time(lambda: df().withColumn("prediction", udf(*columns)), repeats)
                if "floor" in sides:
                    got["floor"] = _time(lambda: _hand_written(spark, df(), model, columns), repeats)
                rates[key] = {side: rows / seconds for side, seconds in got.items()}
                print(f"[bench_spark] {key}: " + ", ".join(f"{s} {r:,.0f} rows/s" for s, r in rates[key].items()),
                      file=sys.stderr, flush=True)
        finally:
            spark.stop()
    return rates, notes


def run(scale: str | int | float) -> list[dict]:
    """Rows for ``python -m benchmarks --only spark``."""
    from benchmarks import common

    rows = int(os.environ.get("DUCKML_BENCH_SPARK_ROWS") or (QUICK_ROWS if scale == "quick" else FULL_ROWS))
    keys = ["pipe", "ridge", "rf"] + (list(CROSSOVER) if scale != "quick" else [])
    rates, notes = measure(rows, 1 if scale == "quick" else 3, keys, ["duckml", "compiled", "mlflow", "floor"])
    return _rows(common, rates, notes, rows)


def _rows(common, rates: dict, notes: dict, rows: int) -> list[dict]:
    out = []
    for key, got in rates.items():
        label = {"pipe": "Pipeline(StandardScaler, LogisticRegression)", "ridge": "ColumnTransformer + Ridge",
                 "rf": "RandomForest 50 x depth 6"}.get(key, f"crossover forest {key}")
        out.append(common.row(f"Spark {label}: duckml.spark.predict, {rows:,} rows", got.get("duckml"),
                              got.get("floor"), "rows/s", "", "hand-written mapInArrow"))
        out.append(common.row(f"Spark {label}: compiled SQL function, {rows:,} rows", got.get("compiled"),
                              got.get("floor"), "rows/s", f"register {notes.get(f'{key} register', 0):.1f} s",
                              "hand-written mapInArrow"))
        out.append(common.row(f"Spark {label}: duckml.spark.predict vs spark_udf", got.get("duckml"),
                              got.get("mlflow"), "rows/s", notes["mlflow"], "MLflow spark_udf"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=FULL_ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["pipe", "ridge", "rf", *CROSSOVER],
                        choices=["pipe", "ridge", "rf", *CROSSOVER])
    args = parser.parse_args(argv)
    rates, notes = measure(args.rows, args.repeats, args.models, ["duckml", "compiled", "mlflow", "floor"])
    if notes["mlflow"]:
        print(notes["mlflow"])
    print(f"{'model':<8} {'duckml':>12} {'compiled':>12} {'spark_udf':>12} {'hand loop':>12}  "
          "duckml/loop  compiled/loop  duckml/udf")
    for key, got in rates.items():
        def cell(side):
            return f"{got[side]:>12,.0f}" if got.get(side) else f"{'—':>12}"

        def ratio(a, b):
            return f"{got[a] / got[b]:.2f}x" if got.get(a) and got.get(b) else "—"

        print(f"{key:<8} {cell('duckml')} {cell('compiled')} {cell('mlflow')} {cell('floor')}  "
              f"{ratio('duckml', 'floor'):>11}  {ratio('compiled', 'floor'):>13}  {ratio('duckml', 'mlflow'):>10}")
    registers = {k: round(v, 1) for k, v in notes.items() if k.endswith("register")}
    print(f"register (compile + CREATE FUNCTION) seconds: {registers}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
