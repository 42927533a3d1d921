"""Every Python name in ../shared/CONTRACT.md exists; `import duckml` stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import duckml

CONTRACT_NAMES = [
    "set_store", "connect", "flush", "set_experiment", "start_run", "end_run", "active_run", "last_active_run",
    "log_param", "log_params", "log_metric", "log_metrics", "set_tag", "set_tags", "delete_tag",
    "log_artifact", "log_artifacts", "log_text", "log_dict", "log_figure", "log_input", "get_metric_history",
    "search_runs", "delete_run", "restore_run", "delete_experiment", "restore_experiment", "log_model",
    "register_model", "set_registered_model_alias", "delete_registered_model_alias", "load_model", "predict",
]


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_contract_name_exists(name):
    assert callable(getattr(duckml, name))
    assert name in duckml.__all__


def test_import_is_light():
    code = ("import sys, duckml; heavy = [m for m in ('sklearn', 'matplotlib', 'skops', 'pandas') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"import duckml loaded {out.stdout.strip()}"


def test_active_run_shortcuts(store):
    with duckml.start_run() as run:
        assert run.run_id == run.info.run_id == duckml.active_run().info.run_id
