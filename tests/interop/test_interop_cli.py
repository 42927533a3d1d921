"""duckml import-mlflow / export / import through click's CliRunner, and one real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from click.testing import CliRunner

import duckml
from duckml.cli import cli

from .mlflow_fixtures import RUN_CHILD, RUN_PARENT, build_sqlite_store

REPO = Path(__file__).resolve().parents[2]


def _invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_import_mlflow_reports_on_stderr_and_again_adds_nothing(tmp_path):
    uri = build_sqlite_store(tmp_path / "mlflow")
    first = _invoke("import-mlflow", uri)
    assert first.exit_code == 0, first.output
    assert first.stdout == ""
    assert "runs imported: 3" in first.stderr and "pickled models NOT loadable: 1" in first.stderr
    second = _invoke("import-mlflow", uri)
    assert second.exit_code == 0 and "runs imported: 0" in second.stderr and "already present: 3" in second.stderr


def test_import_mlflow_conflicts_exit_non_zero_and_name_the_run(tmp_path):
    uri = build_sqlite_store(tmp_path / "mlflow")
    _invoke("import-mlflow", uri)
    duckml.set_tag("edited", "yes", run_id=RUN_CHILD)
    duckml.flush()
    result = _invoke("import-mlflow", uri)
    assert result.exit_code == 1
    assert f"CONFLICT, not overwritten: {RUN_CHILD}" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: 1 item(s) exist here")


def test_bad_tracking_uri_is_one_error_line():
    result = _invoke("import-mlflow", "http://tracking.example.com")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: tracking URI 'http://tracking.example.com' is not supported")


def test_export_then_import_into_another_store(tmp_path):
    uri = build_sqlite_store(tmp_path / "mlflow")
    a, b = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    assert _invoke("--store", a, "import-mlflow", uri).exit_code == 0
    exported = _invoke("--store", a, "export", str(tmp_path / "h.zip"), "-e", "churn")
    assert exported.exit_code == 0, exported.output
    assert "exported 2 run(s)" in exported.stderr
    imported = _invoke("--store", b, "import", str(tmp_path / "h.zip"))
    assert imported.exit_code == 0, imported.output
    assert "runs imported: 2" in imported.stderr and "churn-model: source version 1 -> version 1" in imported.stderr
    again = _invoke("--store", b, "import", str(tmp_path / "h.zip"))
    assert "runs imported: 0; already present: 2" in again.stderr
    missing = _invoke("--store", a, "export", str(tmp_path / "x.zip"), "--run", "nope")
    assert missing.exit_code == 1 and missing.stderr.strip() == "Error: no run with id 'nope'"


@pytest.mark.slow
def test_real_subprocess_round_trip(tmp_path):
    uri = build_sqlite_store(tmp_path / "mlflow")
    env = {**os.environ, "DUCKML_STORE": str(tmp_path / "a.duckdb"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    imported = subprocess.run([sys.executable, "-m", "duckml", "import-mlflow", uri], capture_output=True,
                              text=True, env=env, cwd=REPO, timeout=300)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == "" and "runs imported: 3" in imported.stderr
    exported = subprocess.run([sys.executable, "-m", "duckml", "export", str(tmp_path / "h"), "--run", RUN_PARENT],
                              capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "h" / "duckml_bundle.json").is_file()
