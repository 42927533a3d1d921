"""Autolog's cost on a ~1 ms ``fit``: a Ridge on 2,000 × 10 floats, fitted with and without autolog.

Rows: the time of one autologged ``fit`` (run start and end, params, training metrics, the model with its
signature and input example, the dataset), against the same ``fit`` with autolog off measured in the same
process (the overhead ratio), and against ``mlflow.sklearn.autolog()`` on a SQLite store. A lighter
setting (``log_models=False``) is measured on both sides too. The runs logged are counted back.
"""

from __future__ import annotations

from benchmarks import common

SCALES = {"quick": {"repeats": 5}, "full": {"repeats": 25}}
ROWS, FEATURES = 2_000, 10


def _data():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, FEATURES))
    return x, x @ rng.normal(size=FEATURES) + rng.normal(scale=0.1, size=ROWS)


def duckml_side(repeats: int) -> dict:
    import warnings

    from sklearn.linear_model import Ridge

    import duckml

    warnings.simplefilter("ignore")
    duckml.set_store(str(common.scratch_dir("autolog") / "bench.duckdb"))
    duckml.set_experiment("bench-autolog")
    x, y = _data()
    plain, _ = common.timed(lambda: Ridge().fit(x, y), repeats * 4)
    duckml.autolog()
    full, _ = common.timed(lambda: Ridge().fit(x, y), repeats)
    duckml.autolog(log_models=False)
    light, _ = common.timed(lambda: Ridge().fit(x, y), repeats)
    duckml.autolog(disable=True)
    logged = len(duckml.search_runs(experiment_names=["bench-autolog"]))
    return {"plain": plain, "full": full, "light": light, "runs": logged, "expected": 2 * (repeats + 1)}


def mlflow_side(repeats: int) -> dict:
    import warnings

    import mlflow
    from sklearn.linear_model import Ridge

    warnings.simplefilter("ignore")
    common.mlflow_quiet()
    tmp = common.scratch_dir("autolog-mlflow")
    mlflow.set_tracking_uri(common.sqlite_uri(tmp / "mlflow.db"))
    mlflow.set_experiment("bench-autolog")
    x, y = _data()
    plain, _ = common.timed(lambda: Ridge().fit(x, y), repeats * 4)
    mlflow.sklearn.autolog(silent=True, log_input_examples=True)
    full, _ = common.timed(lambda: Ridge().fit(x, y), repeats)
    mlflow.sklearn.autolog(silent=True, log_models=False)
    light, _ = common.timed(lambda: Ridge().fit(x, y), repeats)
    return {"plain": plain, "full": full, "light": light}


def run(scale: str) -> list[dict]:
    cfg = SCALES[scale]
    duck, duck_err = common.try_side("duckml", __name__, "duckml_side", cfg)
    ml, ml_err = common.try_side("mlflow", __name__, "mlflow_side", cfg)
    count = ""
    if duck:
        count = ("every fit logged one run" if duck["runs"] == duck["expected"]
                 else f"RUN COUNT DIFFERS: {duck['runs']} logged, {duck['expected']} expected")
    ms = (lambda side, key: side[key] * 1e3 if side else None)
    plain = f"plain fit {duck['plain'] * 1e3:.2f} ms" if duck else ""
    return [
        common.row("autologged fit (model, signature, example, dataset, metrics)", ms(duck, "full"),
                   ms(ml, "full"), "ms", common.join_notes(duck_err, ml_err, count, plain),
                   "MLflow 3.17.2 sklearn autolog (SQLite)"),
        common.row("autologged fit, log_models=False", ms(duck, "light"), ms(ml, "light"), "ms",
                   common.join_notes(duck_err, ml_err), "MLflow 3.17.2 sklearn autolog (SQLite)"),
        common.row("autologged fit against the same fit without autolog", ms(duck, "full"), ms(duck, "plain"),
                   "ms", "ratio below 1: the overhead factor of logging one run per fit", "no autolog (duckml)"),
    ]
