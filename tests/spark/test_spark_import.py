"""`import duckml` (and the layers below duckml.spark) never loads PySpark: it is an optional extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # a subprocess, for a clean sys.modules


def test_importing_duckml_and_its_scoring_does_not_import_pyspark():
    code = ("import sys, duckml, duckml.scoring, duckml.compiler, duckml.models.registry; duckml.predict; "
            "assert not [m for m in sys.modules if m.startswith('pyspark')], 'pyspark imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
