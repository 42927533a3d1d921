"""Shared machinery of the benchmark suite: sides in subprocesses, timing, result rows.

Each workload module (``bench_<name>.py``) has ``run(scale) -> list[dict]``. Its measuring code runs in a
fresh subprocess per side (``python -m benchmarks._worker``), so the import state, caches and memory of one
side never help or hurt the other, and MLflow may live in another interpreter (its own venv) than duckml.

A row is ``{"workload", "duckml", "baseline", "ratio", "unit", "notes"}`` plus optional ``"baseline_name"``.
``ratio`` is always *how many times better duckml is*: baseline/duckml for times and sizes, duckml/baseline for
rates, so a ratio above 1 favours duckml whatever the unit.

>>> row("x", 2.0, 10.0, "ms")["ratio"]
5.0
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULT_MARKER = "@@BENCH-RESULT@@ "
HIGHER_IS_BETTER = {"points/s", "rows/s", "calls/s", "runs/s"}


class Settings:
    """What run.py decided for this session: the MLflow interpreter (or why there is none)."""

    mlflow_python: str | None = None
    mlflow_missing_reason: str = "MLflow not looked for"
    mlflow_version: str | None = None
    timeout: float = 1800.0


SETTINGS = Settings()


class SideError(RuntimeError):
    """A side's subprocess failed; the message holds the tail of its stderr."""


def find_mlflow_python(explicit: str | None = None) -> tuple[str | None, str]:
    """Return (interpreter, reason): the first Python that can ``import mlflow``, or None and why not.

    Order: ``explicit`` (``--mlflow-python``), ``$DUCKML_BENCH_MLFLOW_PYTHON``, the current interpreter.

    >>> find_mlflow_python("/nonexistent/python")[0] is None
    True
    """
    candidates = [c for c in (explicit, os.environ.get("DUCKML_BENCH_MLFLOW_PYTHON")) if c]
    if not candidates:
        candidates = [sys.executable]
    for python in candidates:
        if not shutil.which(python) and not Path(python).is_file():
            return None, f"MLflow interpreter {python!r} does not exist"
        probe = subprocess.run(
            [python, "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
            capture_output=True, text=True, timeout=120,
        )
        if probe.returncode == 0:
            return python, probe.stdout.strip()
    return None, ("MLflow is not installed (pip install 'duckml[bench]', or point "
                  "--mlflow-python / DUCKML_BENCH_MLFLOW_PYTHON at a Python that has mlflow==3.17.2)")


def mlflow_available() -> bool:
    return SETTINGS.mlflow_python is not None


def _worker_env(extra: dict | None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # MLflow and alembic chatter on stderr; telemetry must not touch the network mid-benchmark
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env.setdefault("DO_NOT_TRACK", "true")
    env.setdefault("GIT_PYTHON_REFRESH", "quiet")
    env.pop("DUCKML_STORE", None)
    if extra:
        env.update(extra)
    return env


def run_side(side: str, module: str, func: str, kwargs: dict, env: dict | None = None) -> dict:
    """Run ``benchmarks.<module>.<func>(**kwargs)`` in a fresh subprocess of the side's interpreter.

    ``side`` is ``"duckml"`` (this interpreter) or ``"mlflow"`` (the MLflow one). Returns the function's dict.
    """
    python = sys.executable if side == "duckml" else SETTINGS.mlflow_python
    if python is None:
        raise SideError(SETTINGS.mlflow_missing_reason)
    module = module.rsplit(".", 1)[-1]
    # a scratch working folder: MLflow drops ./mlruns or ./mlflow.db into the cwd when it feels like it
    with tempfile.TemporaryDirectory(prefix="duckml-bench-cwd-") as cwd:
        proc = subprocess.run(
            [python, "-m", "benchmarks._worker", module, func, json.dumps(kwargs)],
            capture_output=True, text=True, cwd=cwd, env=_worker_env(env), timeout=SETTINGS.timeout,
        )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    raise SideError(f"{module}.{func} on {side} exited {proc.returncode}: " + " | ".join(tail))


def try_side(side: str, module: str, func: str, kwargs: dict, env: dict | None = None) -> tuple[dict | None, str]:
    """Like run_side, but a failure or a missing MLflow becomes (None, reason) for the table's notes."""
    if side == "mlflow" and not mlflow_available():
        return None, ""  # said once above and below the table, and in the baseline cell
    try:
        return run_side(side, module, func, kwargs, env), ""
    except (SideError, subprocess.TimeoutExpired) as exc:
        return None, f"{side} failed: {str(exc)[:300]}"


def median(values: list[float]) -> float:
    return statistics.median(values)



def timed(fn, repeats: int, idle: float = 0.0):
    """Median seconds of ``repeats`` calls after one warm-up call, and the last call's result.

    ``idle`` seconds of sleep before each call measure a call that starts cold, not as part of a burst
    (duckml keeps the file attached only briefly after a burst of reads; see the README).

    >>> seconds, result = timed(lambda: 42, repeats=3)
    >>> result, seconds >= 0
    (42, True)
    """
    out, result = [], None
    for i in range(repeats + 1):
        if idle:
            time.sleep(idle)
        t0 = time.perf_counter()
        result = fn()
        if i > 0:
            out.append(time.perf_counter() - t0)
    return median(out), result

def time_command(argv: list[str], repeats: int, env: dict | None = None, cwd: Path | None = None) -> tuple[float, str]:
    """Median wall seconds of a command after one warm-up run, and the first error line if it failed."""
    times, error = [], ""
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=_worker_env(env), cwd=cwd or REPO_ROOT,
                              timeout=300)
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or ["(no stderr)"]
            error = f"exit {proc.returncode}: {lines[-1][:200]}"
        if i > 0:
            times.append(dt)
    return median(times), error


def ratio(duckml: float | None, baseline: float | None, unit: str) -> float | None:
    """How many times better duckml is (>1 favours duckml), or None when a side is missing or zero."""
    if duckml is None or baseline is None or duckml == 0 or baseline == 0:
        return None
    return duckml / baseline if unit in HIGHER_IS_BETTER else baseline / duckml


def row(workload: str, duckml: float | None, baseline: float | None, unit: str, notes: str = "",
        baseline_name: str = "MLflow 3.17.2 (SQLite)") -> dict:
    """One result row; ratio follows the module docstring's rule."""
    return {"workload": workload, "duckml": duckml, "baseline": baseline,
            "ratio": ratio(duckml, baseline, unit), "unit": unit, "notes": notes,
            "baseline_name": baseline_name}


def join_notes(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def dir_size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (0 when absent).

    >>> dir_size(Path("/nonexistent"))
    0
    """
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mlflow_quiet() -> None:
    """Silence MLflow's and alembic's INFO logging inside an MLflow side process."""
    import logging

    for name in ("mlflow", "alembic", "sqlalchemy", "mlflow.store.db.utils"):
        logging.getLogger(name).setLevel(logging.ERROR)


def scratch_dir(prefix: str) -> Path:
    """A temporary folder removed when the side's process exits."""
    import atexit

    path = Path(tempfile.mkdtemp(prefix=f"duckml-bench-{prefix}-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def sqlite_uri(path: Path) -> str:
    return "sqlite:///" + str(Path(path).resolve())


# MLflow 3.17 defaults to sqlite:///mlflow.db; its file store is in "maintenance mode" and refuses to open
# unless this opt-out is set, so it is measured as a second, legacy baseline.
FILE_STORE_ENV = {"MLFLOW_ALLOW_FILE_STORE": "true"}


def mlflow_stores() -> list[tuple[str, str, dict | None]]:
    """(store kind, baseline name, env) pairs to measure; just SQLite when MLflow is absent (one row per figure)."""
    stores = [("sqlite", "MLflow 3.17.2 (SQLite)", None)]
    if mlflow_available():
        stores.append(("file", "MLflow 3.17.2 (file store)", FILE_STORE_ENV))
    return stores
