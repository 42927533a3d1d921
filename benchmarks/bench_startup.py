"""Start-up costs a user feels: ``import`` time and a CLI listing runs.

``python -c "import duckml"`` against ``python -c "import mlflow"``; ``duckml runs list`` against
``mlflow runs list --experiment-id 0``, each on a small existing store (20 runs). Wall time of a fresh process,
median after one warm-up; the bare interpreter's start-up is in the notes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks import common

SCALES = {"quick": {"repeats": 1, "runs": 5}, "full": {"repeats": 7, "runs": 20}}


def make_duckml_store(path: str, runs: int) -> dict:
    import duckml

    duckml.set_store(path)
    for i in range(runs):
        with duckml.start_run(run_name=f"run-{i}"):
            duckml.log_params({"model": "rf", "depth": str(i)})
            duckml.log_metric("rmse", 1.0 / (i + 1))
    duckml.flush()
    return {"runs": runs}


def make_mlflow_store(uri: str, runs: int) -> dict:
    import mlflow

    common.mlflow_quiet()
    mlflow.set_tracking_uri(uri)
    for i in range(runs):
        with mlflow.start_run(run_name=f"run-{i}"):
            mlflow.log_params({"model": "rf", "depth": str(i)})
            mlflow.log_metric("rmse", 1.0 / (i + 1))
    return {"runs": runs}


def _script(python: str, name: str) -> list[str]:
    """The console script beside the interpreter, else ``python -m name``."""
    script = Path(python).parent / name
    return [str(script)] if script.exists() else [python, "-m", name]


def run(scale: str) -> list[dict]:
    cfg = SCALES[scale]
    reps = cfg["repeats"]
    folder = common.scratch_dir("startup")
    floor, _ = common.time_command([sys.executable, "-c", "pass"], reps)
    duck_imp, duck_err = common.time_command([sys.executable, "-c", "import duckml"], reps)
    ml_imp = ml_floor = ml_cli = None
    ml_err = ml_cli_err = ""
    duck_cli, duck_cli_err = None, ""
    try:
        store = str(folder / "cli.duckdb")
        common.run_side("duckml", __name__, "make_duckml_store", {"path": store, "runs": cfg["runs"]})
        duck_cli, duck_cli_err = common.time_command(_script(sys.executable, "duckml") + ["--store", store, "runs", "list"],
                                                     reps)
    except common.SideError as exc:
        duck_cli_err = str(exc)[:300]
    if common.mlflow_available():
        py = common.SETTINGS.mlflow_python
        ml_floor, _ = common.time_command([py, "-c", "pass"], reps)
        ml_imp, ml_err = common.time_command([py, "-c", "import mlflow"], reps)
        uri = common.sqlite_uri(folder / "mlflow.db")
        try:
            common.run_side("mlflow", __name__, "make_mlflow_store", {"uri": uri, "runs": cfg["runs"]})
            ml_cli, ml_cli_err = common.time_command(_script(py, "mlflow") + ["runs", "list", "--experiment-id", "0"],
                                                     reps, env={"MLFLOW_TRACKING_URI": uri})
        except common.SideError as exc:
            ml_cli_err = str(exc)[:300]
    bare = f"bare python -c pass {floor * 1e3:.0f} ms" + (f" (MLflow's venv {ml_floor * 1e3:.0f} ms)" if ml_floor else "")
    return [
        common.row("import time", duck_imp * 1e3, ml_imp * 1e3 if ml_imp else None, "ms",
                   common.join_notes(duck_err and "duckml " + duck_err, ml_err, bare), "MLflow 3.17.2"),
        common.row(f"CLI start-up: runs list ({cfg['runs']} runs)", duck_cli * 1e3 if duck_cli else None,
                   ml_cli * 1e3 if ml_cli else None, "ms",
                   common.join_notes(duck_cli_err and "duckml " + duck_cli_err, ml_cli_err,
                                     "`duckml runs list` vs `mlflow runs list --experiment-id 0`")),
    ]
