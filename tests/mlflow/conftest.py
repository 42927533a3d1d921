"""The MLflow drop-in tests: each test's store is the usual fresh one; a URI set through
``duckml.mlflow.set_tracking_uri`` is forgotten afterwards."""

from __future__ import annotations

import pytest

collect_ignore_glob = ["scripts/*.py"]  # MLflow scripts, run by test_scripts.py, never imported as modules


@pytest.fixture(autouse=True)
def _forget_tracking_uri():
    yield
    from duckml.mlflow import config

    config.forget_tracking_uri()
