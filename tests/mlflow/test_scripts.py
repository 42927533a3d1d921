"""MLflow scripts run unchanged (imports aside) under ``import duckml.mlflow as mlflow`` and print the same facts
as under MLflow 3.17.2 (recorded in ``scripts/<name>.mlflow.out``; ``test_recorded_outputs_are_mlflows`` checks
the recordings against a real MLflow when one is installed)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.mlflow.scripts import SCRIPTS, as_duckml, expected, run_script

SCRIPT_NAMES = sorted(p.stem for p in SCRIPTS.glob("*.py"))


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_prints_what_it_prints_under_mlflow(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    printed = run_script(name, str(tmp_path / "mlruns.duckdb"))
    assert printed == expected(name)


def test_imports_are_the_only_change():
    source = (SCRIPTS / "client_lowlevel.py").read_text()
    changed = [(a, b) for a, b in zip(source.splitlines(), as_duckml(source).splitlines()) if a != b]
    assert changed and all(a.lstrip().startswith(("import mlflow", "from mlflow")) for a, _ in changed)


MLFLOW_PYTHON = os.environ.get("DUCKML_MLFLOW_PYTHON", "/work/venv-mlflow/bin/python")


@pytest.mark.slow
@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_recorded_outputs_are_mlflows(name, tmp_path):
    """Re-run a script under real MLflow (a separate interpreter: CI does not install MLflow)."""
    if not shutil.which(MLFLOW_PYTHON) and not os.path.exists(MLFLOW_PYTHON):
        pytest.skip(f"no MLflow interpreter at {MLFLOW_PYTHON} (set DUCKML_MLFLOW_PYTHON)")
    env = {**os.environ, "TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([MLFLOW_PYTHON, str(SCRIPTS / f"{name}.py")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == expected(name)
