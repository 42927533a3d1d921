"""The parity table (duckml/mlflow/parity.py) against the package: every call it says is there is there with
MLflow 3.17.2's parameters (recorded in mlflow_signatures.json), every missing call is missing, pending calls
are pending exactly while duckml lacks what they forward to, and docs/mlflow-parity.md is the rendered table."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
from pathlib import Path

import pytest

import duckml
import duckml.mlflow
from duckml.mlflow.parity import ENTRIES, render

HERE = Path(__file__).parent
SIGNATURES = json.loads((HERE / "mlflow_signatures.json").read_text())
DOCS = HERE.parents[1] / "docs" / "mlflow-parity.md"
PRESENT = ("same", "differs", "pending", "extra")


def resolve(call: str):
    """``duckml.mlflow``'s object for ``mlflow.x``, ``mlflow.sub.x`` or ``MlflowClient.x``; None if absent."""
    parts = call.split(".")
    if parts[0] == "MlflowClient":
        return duckml.mlflow.MlflowClient if len(parts) == 1 else getattr(duckml.mlflow.MlflowClient, parts[1], None)
    module = duckml.mlflow
    if len(parts) > 2:
        try:
            module = importlib.import_module("duckml.mlflow." + ".".join(parts[1:-1]))
        except ImportError:
            return None
    return getattr(module, parts[-1], None)


def _available(needs: str) -> bool:
    name, _, param = needs.partition(":")
    function = getattr(duckml, name, None)
    return function is not None and (not param or param in inspect.signature(function).parameters)


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.status in PRESENT], ids=lambda e: e.call)
def test_present_calls_take_mlflows_parameters_in_mlflows_order(entry):
    found = resolve(entry.call)
    assert callable(found), f"{entry.call} is marked {entry.status} but duckml.mlflow has no such call"
    if entry.status == "extra":
        return
    ours = [p for p in inspect.signature(found).parameters.values() if p.name != "self"]
    takes_any_keyword = any(p.kind == p.VAR_KEYWORD for p in ours)
    positional = [p.name for p in ours if p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY)]
    names = {p.name for p in ours}
    for index, (name, kind) in enumerate(n for n in SIGNATURES[entry.call] if n[1] == "positional"):
        assert index < len(positional) and positional[index] == name, \
            f"{entry.call}: MLflow's positional parameter {index} is {name!r}, duckml's is {positional[index:index+1]}"
    for name, kind in SIGNATURES[entry.call]:
        assert name in names or takes_any_keyword, f"{entry.call} does not take MLflow's {name}="


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.status == "missing"], ids=lambda e: e.call)
def test_missing_calls_are_missing(entry):
    assert resolve(entry.call) is None, f"{entry.call} exists now: give it its status in duckml/mlflow/parity.py"


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.needs or e.status == "pending"], ids=lambda e: e.call)
def test_pending_calls_are_pending_exactly_while_duckml_lacks_their_function(entry):
    assert entry.needs, f"{entry.call} is pending on nothing"
    assert (entry.status == "pending") != _available(entry.needs), \
        f"duckml.{entry.needs} {'exists' if _available(entry.needs) else 'is missing'}: update {entry.call}'s status"


def test_every_mlflow_call_of_the_table_has_its_recorded_signature():
    in_table = {e.call for e in ENTRIES if e.status != "extra"}
    assert in_table == set(SIGNATURES), "record MLflow's signatures again (test_recorded_signatures_are_mlflows)"
    assert len({e.call for e in ENTRIES}) == len(ENTRIES), "a call is listed twice"


def test_docs_page_is_the_rendered_table():
    if os.environ.get("DUCKML_WRITE_PARITY"):
        DOCS.write_text(render())
    assert DOCS.read_text() == render(), "run DUCKML_WRITE_PARITY=1 pytest tests/mlflow/test_parity.py"


MLFLOW_PYTHON = os.environ.get("DUCKML_MLFLOW_PYTHON", "/work/venv-mlflow/bin/python")


@pytest.mark.slow
def test_recorded_signatures_are_mlflows(tmp_path):
    if not os.path.exists(MLFLOW_PYTHON):
        pytest.skip(f"no MLflow interpreter at {MLFLOW_PYTHON} (set DUCKML_MLFLOW_PYTHON)")
    calls = tmp_path / "calls.json"
    calls.write_text(json.dumps(sorted(SIGNATURES)))
    program = f"""
import importlib, inspect, json, sys
import mlflow
out = {{}}
for call in json.load(open({str(calls)!r})):
    parts = call.split(".")
    if parts[0] == "MlflowClient":
        obj = mlflow.MlflowClient if len(parts) == 1 else getattr(mlflow.MlflowClient, parts[1])
    else:
        module = importlib.import_module(".".join(parts[:-1]))
        obj = getattr(module, parts[-1])
    out[call] = [[p.name, "keyword" if p.kind == p.KEYWORD_ONLY else "positional"]
                 for p in inspect.signature(obj).parameters.values()
                 if p.name != "self" and not p.name.startswith("_") and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
json.dump(out, sys.stdout)
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([MLFLOW_PYTHON, "-c", program], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == SIGNATURES
