"""PREDICT compiled to SQL (issue 17): stored table macros run by a plain DuckDB connection, against the
hand-written pyarrow + ``model.predict`` loop, and the crossover where tree ensembles stop winning.

Workload: 2,000,000 rows in one Parquet file (row groups of 122,880 rows) of 20 float64 columns; the
ColumnTransformer pipeline reads a second file of 17 float64 columns (5% missing in two) and 3 text columns.
Models fitted on 20,000 rows of a pandas DataFrame:
- LogisticRegression (binary) on the 20 floats;
- ColumnTransformer(SimpleImputer+StandardScaler on 17 floats, OneHotEncoder on 3 text columns) + Ridge;
- one DecisionTreeRegressor of depth 8 on the 20 floats.

The goal (issue 22, >= 3x): the weekly forecast landing in a table. The same 2M x 20 floats with an ``id``
column; ``sql_table_side`` runs ``CREATE TABLE forecast AS SELECT id, prediction FROM store.<macro>(src)`` on a
plain DuckDB connection to a database of its own (the store attached read-only), ``floor_table_side`` the loop
a user writes: pyarrow ``iter_batches`` -> ``predict`` -> an Arrow table of (id, prediction) ``INSERT``ed into
a table of a DuckDB file. Both are timed from the first statement to the last commit.

Sides (each a fresh subprocess; one warm-up on a 10,000-row file, then the file once, timed):
- compiled SQL: ``duckml.compile_model(uri)`` stored the macro beforehand (untimed); a plain
  ``duckdb.connect(store, read_only=True)``, no duckml import, runs
  ``COPY (SELECT * FROM predict_<name>_v1('data.parquet')) TO 'out.parquet'`` on DuckDB's threads.
- floor: ``pyarrow.parquet.ParquetFile.iter_batches()`` -> ``batch.to_pandas()`` -> ``model.predict`` ->
  ``ParquetWriter.write_batch``, single-threaded, as in bench_predict.
- UDF path (crossover only): ``duckml.predict(uri, data, output='out.parquet')`` on a copy of the model that has
  no compiled form, in a store without big macros, i.e. what predict() does when it keeps the Python UDF.

Crossover: RandomForestRegressor and GradientBoostingRegressor of several sizes (trees × depth; the total node
count is what SQL's cost follows) on ``CROSS_ROWS`` rows (100,000 at full scale: the slow end of the SQL side would
otherwise take minutes), SQL against the UDF path. The ratio is SQL / UDF: above 1, SQL wins and predict() should
use it; ``duckml.compiler.macro.SQL_NODE_LIMIT`` is set from this table.

Scale: ``run("full")`` 2M rows (crossover 100k), ``run("quick")`` 20k (crossover 5k rows, two small ensembles).
Standalone: ``python benchmarks/bench_compile.py [--quick] [--headline]`` (``--headline``: no crossover).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/bench_compile.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402

FULL_ROWS, QUICK_ROWS = 2_000_000, 20_000
FULL_CROSS_ROWS, QUICK_CROSS_ROWS = 100_000, 5_000
TRAIN_ROWS, QUICK_TRAIN_ROWS = 20_000, 3_000
QUICK_CROSSOVER = ("rf_10x4", "gb_30x3")  # the smoke scale fits and scores two small ensembles only
ROW_GROUP = 122_880
WARMUP_ROWS = 10_000
FLOATS = [f"f{i:02d}" for i in range(20)]
CT_FLOATS = FLOATS[:17]
CT_TEXT = ["region", "channel", "segment"]
HEADLINE = {"lr": ("LogisticRegression", "data"), "ct": ("ColumnTransformer + Ridge", "ct_data"),
            "tree": ("DecisionTree depth 8", "data")}
CROSSOVER = {"rf_10x4": ("RandomForest", 10, 4), "rf_10x6": ("RandomForest", 10, 6),
             "rf_20x8": ("RandomForest", 20, 8), "rf_50x10": ("RandomForest", 50, 10),
             "gb_30x3": ("GradientBoosting", 30, 3), "gb_100x3": ("GradientBoosting", 100, 3),
             "gb_300x3": ("GradientBoosting", 300, 3)}
_MODULE = "bench_compile"


def _write(path: Path, n: int, seed: int, with_text: bool, with_id: bool = False) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    floats = CT_FLOATS if with_text else FLOATS
    fields = [(f, pa.float64()) for f in floats] + ([(t, pa.string()) for t in CT_TEXT] if with_text else [])
    if with_id:
        fields = [("id", pa.int64())] + fields
    schema = pa.schema(fields)
    levels = {"region": ["north", "south", "east", "west"], "channel": ["web", "store", "phone"],
              "segment": ["a", "b", "c", "d", "e"]}
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, n, ROW_GROUP):
            m = min(ROW_GROUP, n - start)
            block = rng.normal(size=(m, len(floats)))
            columns = {f: block[:, i] for i, f in enumerate(floats)}
            if with_id:
                columns["id"] = np.arange(start, start + m, dtype=np.int64)
            if with_text:
                for f in floats[:2]:
                    columns[f] = np.where(rng.random(m) < 0.05, np.nan, columns[f])
                for t in CT_TEXT:
                    columns[t] = rng.choice(levels[t], size=m)
            writer.write_table(pa.table(columns, schema=schema))


def prepare(rows: int, cross_rows: int, folder: str, crossover: list[str], train_rows: int) -> dict:
    """Write the files, fit every model, pickle it for the floor, log and register it, compile the ones the
    SQL side runs (untimed: compiling is a one-off)."""
    import pickle
    import time
    import warnings

    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    import duckml
    from duckml.compiler import node_count

    warnings.simplefilter("ignore")
    root = Path(folder)
    files = {"data": root / "data.parquet", "ct_data": root / "ct_data.parquet",
             "cross_data": root / "cross.parquet", "warmup": root / "warm.parquet", "ct_warmup": root / "ctw.parquet",
             "id_data": root / "id_data.parquet", "id_warmup": root / "idw.parquet"}
    _write(files["data"], rows, 1, False)
    _write(files["id_data"], rows, 1, False, with_id=True)  # the same rows with an id: the weekly forecast's key
    _write(files["id_warmup"], WARMUP_ROWS, 4, False, with_id=True)
    _write(files["ct_data"], rows, 2, True)
    _write(files["cross_data"], cross_rows, 3, False)
    _write(files["warmup"], WARMUP_ROWS, 4, False)
    _write(files["ct_warmup"], WARMUP_ROWS, 5, True)
    train = pd.read_parquet(files["data"]).head(train_rows)
    ct_train = pd.read_parquet(files["ct_data"]).head(train_rows)
    rng = np.random.default_rng(0)
    y = train.to_numpy() @ rng.normal(size=len(FLOATS)) + rng.normal(size=len(train))
    ct_y = np.nan_to_num(ct_train[CT_FLOATS].to_numpy()) @ rng.normal(size=len(CT_FLOATS)) + \
        (ct_train.region == "north") * 2.0
    preprocess = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), CT_FLOATS),
        ("cat", OneHotEncoder(handle_unknown="ignore"), CT_TEXT)])
    models = {"lr": (LogisticRegression(max_iter=1000).fit(train, y > 0), train),
              "ct": (make_pipeline(preprocess, Ridge()).fit(ct_train, ct_y), ct_train),
              "tree": (DecisionTreeRegressor(max_depth=8, random_state=0).fit(train, y), train)}
    for key in crossover:
        family, trees, depth = CROSSOVER[key]
        estimator = (RandomForestRegressor(n_estimators=trees, max_depth=depth, random_state=0, n_jobs=1)
                     if family == "RandomForest" else
                     GradientBoostingRegressor(n_estimators=trees, max_depth=depth, random_state=0))
        models[key] = (estimator.fit(train, y), train)
    duckml.set_store(root / "store.duckdb")
    out = {k: str(v) for k, v in files.items()}
    out.update(rows=rows, cross_rows=cross_rows, store=str(root / "store.duckdb"),
               udf_store=str(root / "udf_store.duckdb"), nodes={}, compile_seconds={})
    for key, (model, frame) in models.items():
        with open(root / f"{key}.pkl", "wb") as f:
            pickle.dump(model, f)
        if key in CROSSOVER:
            # an uncompiled copy in a store of its own: what predict() runs when it keeps the UDF. Its own
            # store, because DuckDB loads every stored macro on each attach (a 5 MB forest macro: ~0.4 s)
            duckml.set_store(root / "udf_store.duckdb")
            with duckml.start_run(run_name=f"udf-{key}"):
                duckml.log_model(model, "model", input_example=frame.head(), registered_model_name=f"udf-{key}")
            duckml.flush()
        duckml.set_store(root / "store.duckdb")
        with duckml.start_run(run_name=f"bench-{key}"):
            duckml.log_model(model, "model", input_example=frame.head(), registered_model_name=f"bench-{key}")
        t0 = time.perf_counter()
        out[f"{key}_macro"] = duckml.compile_model(f"models:/bench-{key}/1")
        out["compile_seconds"][key] = time.perf_counter() - t0
        out["nodes"][key] = node_count(model)
        out[f"{key}_pickle"] = str(root / f"{key}.pkl")
    duckml.flush()
    duckml.get_store().release()
    return out


def _source(paths: dict, key: str, warm: bool) -> str:
    if key in CROSSOVER:
        return paths["warmup"] if warm else paths["cross_data"]
    data = HEADLINE[key][1]
    return paths[("ct_warmup" if data == "ct_data" else "warmup") if warm else data]


def _rows(paths: dict, key: str) -> int:
    return paths["cross_rows"] if key in CROSSOVER else paths["rows"]


def sql_side(paths: dict, key: str, output: str = "all") -> dict:
    """A plain DuckDB connection on the store file runs the stored macro; duckml is not imported.

    ``output="prediction"`` writes the prediction column alone (both sides), which takes the Parquet writer's
    cost of copying 20 input columns out of the comparison."""
    import time

    import duckdb

    assert "duckml" not in sys.modules
    con = duckdb.connect(paths["store"], read_only=True)
    out = Path(paths["data"]).with_name(f"sql_{key}.parquet")

    def score(source: str) -> None:
        quoted = source.replace("'", "''")
        columns = "*" if output == "all" else "prediction"
        con.execute(f"COPY (SELECT {columns} FROM {paths[key + '_macro']}('{quoted}')) TO '{out}' (FORMAT parquet)")

    score(_source(paths, key, warm=True))
    t0 = time.perf_counter()
    score(_source(paths, key, warm=False))
    seconds = time.perf_counter() - t0
    return {"rate": _rows(paths, key) / seconds, "seconds": seconds}


def _fresh_database(path: Path):
    import duckdb

    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    return duckdb.connect(str(path))


def sql_table_side(paths: dict, key: str) -> dict:
    """The weekly forecast landing in a table: a plain DuckDB connection on a database of its own attaches
    the store read-only and runs ``CREATE TABLE forecast AS SELECT id, prediction FROM store.<macro>(src)``.
    Timed from the statement to its commit; duckml is not imported."""
    import time

    assert "duckml" not in sys.modules
    target = Path(paths["data"]).with_name(f"sql_table_{key}.duckdb")

    def score(source: str) -> float:
        con = _fresh_database(target)
        con.execute(f"ATTACH '{paths['store']}' AS store (READ_ONLY)")
        quoted = source.replace("'", "''")
        t0 = time.perf_counter()
        con.execute(f"CREATE TABLE forecast AS SELECT id, prediction FROM store.{paths[key + '_macro']}('{quoted}')")
        seconds = time.perf_counter() - t0
        assert con.execute("SELECT count(*) FROM forecast").fetchone()[0] > 0
        con.close()
        return seconds

    score(paths["id_warmup"])
    seconds = score(paths["id_data"])
    return {"rate": paths["rows"] / seconds, "seconds": seconds}


def floor_table_side(paths: dict, key: str) -> dict:
    """The loop a user writes for the same table: pyarrow batches -> ``model.predict`` -> an Arrow table of
    (id, prediction) inserted into a table of a DuckDB database (created from the first batch)."""
    import pickle
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(paths[f"{key}_pickle"], "rb") as f:
        estimator = pickle.load(f)
    target = Path(paths["data"]).with_name(f"floor_table_{key}.duckdb")
    features = list(estimator.feature_names_in_)

    def score(source: str) -> float:
        con = _fresh_database(target)
        t0 = time.perf_counter()
        created = False
        for batch in pq.ParquetFile(source).iter_batches():
            scored = pa.table({"id": batch.column("id"),
                               "prediction": estimator.predict(batch.select(features).to_pandas())})
            con.execute("INSERT INTO forecast SELECT * FROM scored" if created
                        else "CREATE TABLE forecast AS SELECT * FROM scored")
            created = True
        seconds = time.perf_counter() - t0
        assert con.execute("SELECT count(*) FROM forecast").fetchone()[0] > 0
        con.close()
        return seconds

    score(paths["id_warmup"])
    seconds = score(paths["id_data"])
    return {"rate": paths["rows"] / seconds, "seconds": seconds}


def floor_side(paths: dict, key: str, output: str = "all") -> dict:
    import pickle
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(paths[f"{key}_pickle"], "rb") as f:
        estimator = pickle.load(f)
    out = Path(paths["data"]).with_name(f"floor_{key}.parquet")

    def score(source: str) -> None:
        writer = None
        for batch in pq.ParquetFile(source).iter_batches():
            prediction = pa.array(estimator.predict(batch.to_pandas()))
            if output == "all":
                scored = pa.RecordBatch.from_arrays(batch.columns + [prediction],
                                                    names=batch.schema.names + ["prediction"])
            else:
                scored = pa.RecordBatch.from_arrays([prediction], names=["prediction"])
            if writer is None:
                writer = pq.ParquetWriter(out, scored.schema)
            writer.write_batch(scored)
        writer.close()

    score(_source(paths, key, warm=True))
    t0 = time.perf_counter()
    score(_source(paths, key, warm=False))
    seconds = time.perf_counter() - t0
    return {"rate": _rows(paths, key) / seconds, "seconds": seconds}


def udf_side(paths: dict, key: str) -> dict:
    """duckml.predict() on the uncompiled copy: DuckDB reads, the Python UDF path scores."""
    import time

    import duckml

    duckml.set_store(paths["udf_store"])
    out = Path(paths["data"]).with_name(f"udf_{key}.parquet")
    uri = f"models:/udf-{key}/1"
    duckml.predict(uri, _source(paths, key, warm=True), output=str(out))
    t0 = time.perf_counter()
    duckml.predict(uri, _source(paths, key, warm=False), output=str(out))
    seconds = time.perf_counter() - t0
    return {"rate": _rows(paths, key) / seconds, "seconds": seconds}


def run(scale: str | int | float, headline_only: bool = False) -> list[dict]:
    """Headline rows (compiled SQL vs the floor) and the crossover rows (compiled SQL vs the UDF path)."""
    import tempfile

    quick = scale == "quick"
    rows = QUICK_ROWS if quick else FULL_ROWS
    cross_rows = QUICK_CROSS_ROWS if quick else FULL_CROSS_ROWS
    repeats = 1 if quick else 3
    results = []
    with tempfile.TemporaryDirectory(prefix="duckml-bench-compile-") as folder:
        crossover = [] if headline_only else list(QUICK_CROSSOVER if quick else CROSSOVER)
        paths = common.run_side("duckml", _MODULE, "prepare",
                                {"rows": rows, "cross_rows": cross_rows, "folder": folder, "crossover": crossover,
                                 "train_rows": QUICK_TRAIN_ROWS if quick else TRAIN_ROWS})

        def measure(key: str, sides: list[str], times: int, **options) -> dict[str, float | None]:
            got = {side: [] for side in sides}
            errors = []
            for _ in range(times):
                for side in sides:
                    result, error = common.try_side("duckml", _MODULE, side, {"paths": paths, "key": key, **options})
                    got[side].append(result["rate"]) if result else errors.append(error)
            medians = {side: common.median(v) if v else None for side, v in got.items()}
            medians["errors"] = common.join_notes(*errors)
            return medians

        m = measure("lr", ["sql_table_side", "floor_table_side"], repeats)
        results.append(common.row(
            f"compiled SQL LogisticRegression, {rows:,} rows x 20 features -> (id, prediction) in a DuckDB table",
            m["sql_table_side"], m["floor_table_side"], "rows/s",
            common.join_notes(m["errors"], f"median of {repeats}; goal >= 3x; plain duckdb CREATE TABLE AS SELECT id, "
                              "prediction FROM the macro vs pyarrow iter_batches + predict + Arrow INSERT into a "
                              "table of a DuckDB file; both timed to the commit"),
            "hand-written floor"))
        for key, (label, _) in HEADLINE.items():
            m = measure(key, ["sql_side", "floor_side"], repeats)
            results.append(common.row(
                f"compiled SQL {label}, {rows:,} rows -> Parquet", m["sql_side"], m["floor_side"], "rows/s",
                common.join_notes(m["errors"], f"median of {repeats}; plain duckdb COPY (FROM macro) vs pyarrow "
                                  f"iter_batches + predict + ParquetWriter; {paths['nodes'][key]} tree nodes; "
                                  f"compile {paths['compile_seconds'][key]:.2f} s"),
                "hand-written floor"))
        m = measure("lr", ["sql_side", "floor_side"], repeats, output="prediction")
        results.append(common.row(
            f"compiled SQL LogisticRegression, {rows:,} rows -> Parquet of predictions only", m["sql_side"],
            m["floor_side"], "rows/s",
            common.join_notes(m["errors"], f"median of {repeats}; as above, both sides write the prediction column "
                              "alone: the scoring without the Parquet writer's copy of 20 input columns"),
            "hand-written floor"))
        for key in crossover:
            family, trees, depth = CROSSOVER[key]
            m = measure(key, ["sql_side", "udf_side", "floor_side"], 1)
            floor = f"; floor {m['floor_side']:,.0f} rows/s" if m["floor_side"] else ""
            results.append(common.row(
                f"crossover {family} {trees}x depth {depth} ({paths['nodes'][key]:,} nodes), {cross_rows:,} rows",
                m["sql_side"], m["udf_side"], "rows/s",
                common.join_notes(m["errors"], f"SQL macro vs duckml.predict() UDF path{floor}; "
                                  f"compile {paths['compile_seconds'][key]:.1f} s"),
                "UDF path"))
    return results


def main(argv: list[str]) -> int:
    scale = "quick" if "--quick" in argv else "full"
    for r in run(scale, headline_only="--headline" in argv):
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "-"
        duck = f"{r['duckml']:,.0f}" if r["duckml"] else "-"
        base = f"{r['baseline']:,.0f}" if r["baseline"] else "-"
        print(f"{r['workload']:<72} sql {duck:>11} {r['baseline_name'][:18]:<18} {base:>11} {r['unit']:<6} "
              f"ratio {ratio}  {r['notes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
