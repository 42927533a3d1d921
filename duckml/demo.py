"""The end-to-end example: the seeds' weekly-sales story on a fresh store.

Every week each store reports its sales. We train models that forecast next week's sales from the last
four weeks, with several algorithms and two training datasets, track every try as a run, compare the runs
in SQL, register the best model as ``champion``, and let PREDICT forecast the new week into a table.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl

FEATURES = ["lag_1", "lag_2", "lag_3", "lag_4", "week_sin", "week_cos", "store_size"]
DEFAULT_FOLDER = "duckml-demo"
# Marks a folder the demo made, so running the demo again replaces its own store and nothing else.
_MARKER = ".duckml-demo"
_MADE = ("duckml.duckdb", "duckml.duckdb.wal", "duckml.artifacts", "new_week.parquet", "sales_last_year.parquet",
         "sales_all_weeks.parquet")


def make_sales(n_stores: int = 30, n_weeks: int = 110, seed: int = 7) -> pl.DataFrame:
    """Deterministic weekly sales: per-store level, yearly season, trend and noise."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0.5, 2.0, n_stores)
    weeks = np.arange(n_weeks)
    season = 1 + 0.25 * np.sin(2 * np.pi * weeks / 52) + 0.1 * np.cos(4 * np.pi * weeks / 52)
    sales = (1000 * size[:, None] * season[None, :] * (1 + 0.002 * weeks)[None, :]
             + rng.normal(0, 40, (n_stores, n_weeks)))
    return pl.DataFrame({
        "store": np.repeat(np.arange(n_stores), n_weeks),
        "week": np.tile(weeks, n_stores),
        "store_size": np.repeat(size, n_weeks),
        "sales": sales.ravel(),
    })


def with_features(sales: pl.DataFrame) -> pl.DataFrame:
    """This week's and the three previous weeks' sales, the week's place in the year; target = next week."""
    return sales.sort("store", "week").with_columns(
        [pl.col("sales").shift(i).over("store").alias(f"lag_{i + 1}") for i in range(4)]
        + [(2 * np.pi * pl.col("week") / 52).sin().alias("week_sin"),
           (2 * np.pi * pl.col("week") / 52).cos().alias("week_cos"),
           pl.col("sales").shift(-1).over("store").alias("next_week_sales")])


def _show(frame: pl.DataFrame) -> str:
    with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=40, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True):
        return str(frame)


def prepare_folder(directory: str | None) -> Path:
    """The demo's folder: ``./duckml-demo`` by default. A folder a previous demo made is reused (its store
    replaced, so repeated demos leave one folder, not one each); any other folder must hold no store.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "d"
    >>> prepare_folder(str(folder)) == folder and (folder / ".duckml-demo").exists()
    True
    """
    import duckml

    root = Path(directory) if directory else Path(DEFAULT_FOLDER)
    store_path = root / "duckml.duckdb"
    if (root / _MARKER).exists():
        duckml.reset_state()  # this process may still hold the previous demo's store open
        for name in _MADE:
            target = root / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
    elif store_path.exists():
        raise duckml.InvalidInputError(f"{store_path} exists; the demo needs a fresh folder (--dir)")
    root.mkdir(parents=True, exist_ok=True)
    (root / _MARKER).write_text("made by `duckml demo`; running it again replaces this folder's store\n")
    return root


def run_demo(directory: str | None = None, echo=print, spark: bool = False) -> Path:
    """Run the whole story in ``directory`` (default ``./duckml-demo``); return the store path. ``spark=True``
    also scores the new week with the champion on a Spark local cluster into a Parquet forecast table
    (``forecasts_spark/``).

    >>> from duckml.demo import make_sales
    >>> make_sales(n_stores=2, n_weeks=3).shape
    (6, 4)
    """
    import duckml
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    root = prepare_folder(directory)
    store_path = root / "duckml.duckdb"
    duckml.set_store(store_path)
    echo(f"store: {store_path}")

    data = with_features(make_sales()).drop_nulls()
    last_week = int(data["week"].max())
    test = data.filter(pl.col("week") > last_week - 12)
    datasets = {
        "sales_last_year": data.filter((pl.col("week") > last_week - 64) & (pl.col("week") <= last_week - 12)),
        "sales_all_weeks": data.filter(pl.col("week") <= last_week - 12),
    }
    for name, frame in datasets.items():
        frame.write_parquet(root / f"{name}.parquet")
    # the new week arrives without its outcome: PREDICT forecasts it
    new_week = with_features(make_sales()).filter(pl.col("week") == int(make_sales()["week"].max()))
    new_week.select(["store", "week", (pl.col("week") + 1).alias("forecast_week"), *FEATURES]).write_parquet(
        root / "new_week.parquet")

    models = {
        "ridge": (lambda: make_pipeline(StandardScaler(), Ridge(alpha=1.0)), {"alpha": 1.0}),
        "random_forest": (lambda: RandomForestRegressor(n_estimators=60, max_depth=8, random_state=0),
                          {"n_estimators": 60, "max_depth": 8}),
        "gradient_boosting": (lambda: GradientBoostingRegressor(n_estimators=120, max_depth=3,
                                                                learning_rate=0.05, random_state=0),
                              {"n_estimators": 120, "max_depth": 3, "learning_rate": 0.05}),
    }
    duckml.set_experiment("weekly-sales")
    for dataset_name, train in datasets.items():
        x_train, y_train = train.select(FEATURES).to_pandas(), train["next_week_sales"].to_numpy()
        x_test, y_test = test.select(FEATURES).to_pandas(), test["next_week_sales"].to_numpy()
        for model_name, (build, params) in models.items():
            with duckml.start_run(run_name=f"{model_name}@{dataset_name}"):
                duckml.log_params({"model": model_name, "training_data": dataset_name, **params})
                duckml.set_tag("purpose", "demo")
                duckml.log_input(str(root / f"{dataset_name}.parquet"), name=dataset_name, context="training")
                model = build().fit(x_train, y_train)
                if model_name == "gradient_boosting":  # a metric history: loss per boosting stage
                    duckml.log_metric_series("train_loss", model.train_score_)
                predicted = model.predict(x_test)
                rmse = float(np.sqrt(mean_squared_error(y_test, predicted)))
                duckml.log_metrics({"rmse": rmse, "mae": float(mean_absolute_error(y_test, predicted)),
                                    "r2": float(r2_score(y_test, predicted))})
                duckml.log_text(f"{model_name} trained on {dataset_name}: test RMSE {rmse:.2f}\n",
                                "report.txt")
                duckml.log_model(model, name="model", input_example=x_train.head(5),
                                 registered_model_name="sales-forecast")
                echo(f"  run {model_name:>17} on {dataset_name:<15}  rmse {rmse:8.2f}")

    store = duckml.connect()
    echo("\nRuns compared in SQL (runs_overview), best first:")
    echo(_show(store.sql("""
        SELECT run_name, params['model'] AS model, params['training_data'] AS training_data,
               round(metrics['rmse'], 2) AS rmse, round(metrics['r2'], 4) AS r2
        FROM runs_overview WHERE experiment_name = 'weekly-sales' ORDER BY metrics['rmse']""").pl()))

    best = store.sql("""
        SELECT v.version FROM model_versions v JOIN runs_overview r USING (run_id)
        WHERE v.name = 'sales-forecast' ORDER BY r.metrics['rmse'] LIMIT 1""").fetchone()[0]
    duckml.set_registered_model_alias("sales-forecast", "champion", best)
    echo(f"\nRegistered model 'sales-forecast': alias champion -> version {best}")
    echo(_show(store.sql("""SELECT name, version, aliases, round(metrics['rmse'], 2) AS rmse
                          FROM model_versions_overview ORDER BY version""").pl()))

    # duckml.predict records the job (model version, source, rows, time): /predictions and the model
    # version page of the UI list it, which a CREATE TABLE … AS SELECT … FROM predict(…) would not
    duckml.predict("models:/sales-forecast@champion", str(root / "new_week.parquet"), output="forecasts")
    echo("\nPREDICT with the champion into table `forecasts` (first rows):")
    echo(_show(store.sql("SELECT store, forecast_week, round(prediction, 1) AS forecast_sales "
                         "FROM forecasts ORDER BY store LIMIT 5").pl()))
    # PREDICT without Python: the champion compiled to a table macro stored in the file, run by a plain
    # duckdb connection (what a BI tool or the duckdb CLI does; no duckml, no scikit-learn involved)
    macro = duckml.compile_model("models:/sales-forecast@champion")
    duckml.flush()
    store.release()
    import duckdb

    plain = duckdb.connect(str(store_path), read_only=True)
    try:
        week = plain.execute(f"SELECT store, round(prediction, 1) AS forecast_sales FROM {macro}(?) "
                             "ORDER BY store LIMIT 5", [str(root / "new_week.parquet")]).pl()
    finally:
        plain.close()
    echo(f"\nThe champion compiled to SQL ({macro}); a plain duckdb connection scores the new week "
         "(the same forecasts):")
    echo(_show(week))
    store_arg = _shell_quote(str(store_path))
    echo("\nLook at it yourself:")
    echo(f"  duckml --store {store_arg} ui                 # runs, charts, compare, the model, in the browser")
    echo(f"  duckml --store {store_arg} runs list --order-by 'metrics.rmse ASC'")
    echo(f"  duckml --store {store_arg} sql \"SELECT store, forecast_week, prediction FROM forecasts\"")
    echo(f"Any DuckDB client reads the file too (no duckml needed): SELECT * FROM runs_overview; "
         f"SELECT * FROM {macro}('{root / 'new_week.parquet'}');")
    if spark:
        spark_forecast(root, echo)
    return store_path


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def spark_forecast(root: Path, echo=print) -> Path:
    """The same PREDICT where a cluster's data lives: the champion scores the new week on the executors of
    a Spark ``local-cluster`` (two executor processes) and the forecast is written as Parquet, with its
    lineage in the store. Uses the active Spark session if there is one."""
    import duckml.spark
    from duckml.spark.scoring import require_pyspark

    sql = require_pyspark()
    session = sql.SparkSession.getActiveSession()
    own = session is None
    if own:
        echo("\nStarting a Spark local cluster (2 executors) ...")
        session = (sql.SparkSession.builder.master("local-cluster[2,1,1024]").appName("duckml-demo")
                   .config("spark.ui.showConsoleProgress", "false").getOrCreate())
        session.sparkContext.setLogLevel("ERROR")
    try:
        out = root / "forecasts_spark"
        week = session.read.parquet(str(root / "new_week.parquet"))
        duckml.spark.predict(week, "models:/sales-forecast@champion", output=str(out), mode="overwrite")
        forecast = (pl.read_parquet(str(out / "*.parquet"))
                    .select("store", (pl.col("week") + 1).alias("forecast_week"),
                            pl.col("prediction").alias("forecast_sales")).sort("store"))
    finally:
        if own:
            session.stop()
    echo(f"\nPREDICT on Spark (duckml.spark.predict) wrote {out} (first rows):")
    echo(_show(forecast.head(5)))
    return out
