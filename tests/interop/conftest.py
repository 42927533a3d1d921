"""Interop tests: the store fixture comes from tests/conftest.py; autolog is always switched off afterwards."""

from __future__ import annotations

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: multi-process, MLflow-made stores or benchmark-ish tests")


@pytest.fixture(autouse=True)
def _autolog_off():
    yield
    from duckml.interop import autolog

    autolog.autolog(disable=True)
