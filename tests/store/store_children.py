"""Running duckml code in a child interpreter that imports this checkout's duckml."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child_env(store_path, **extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), DUCKML_STORE=str(store_path))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_child(code: str, store_path, timeout: float = 120, **extra) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter against ``store_path``; fail the test if it does not finish."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=child_env(store_path, **extra),
                          capture_output=True, text=True, timeout=timeout)


def start_child(code: str, store_path, **extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=child_env(store_path, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
