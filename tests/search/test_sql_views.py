"""Every CONTRACT table and view, with its columns, from a plain duckdb client."""

from __future__ import annotations

import duckdb
import pytest

import duckml

CONTRACT_COLUMNS = {
    "experiments": {"experiment_id", "name"},
    "runs": {"run_id", "experiment_id", "status", "start_time", "end_time"},
    "params": {"run_id", "key", "value"},
    "tags": {"run_id", "key", "value"},
    "metrics": {"run_id", "key", "value", "step", "timestamp"},
    "artifacts": {"run_id", "path"},
    "datasets": {"dataset_id", "name", "digest", "source", "schema", "row_count"},
    "run_inputs": {"run_id", "dataset_id", "context"},
    "registered_models": {"name"},
    "model_versions": {"name", "version", "run_id", "source_uri", "created_at"},
    "model_aliases": {"name", "alias", "version"},
    "runs_overview": {"run_id", "experiment_id", "experiment_name", "run_name", "status", "start_time",
                      "end_time", "parent_run_id", "params", "metrics", "tags"},
    "latest_metrics": {"run_id", "key", "value", "step", "timestamp"},
    "metric_summary": {"run_id", "key", "min", "max", "last", "count"},
    "model_versions_overview": {"name", "version", "aliases", "run_id", "source_uri", "created_at", "metrics"},
}


def _log_one_run(folder):
    with duckml.start_run(run_name="r"):
        duckml.log_param("model", "rf")
        duckml.log_metric("rmse", 0.5)


@pytest.fixture(scope="module")
def plain(store_templates, tmp_path_factory):
    """A plain read-only duckdb client on a store holding one run (flushed by duckml, then closed).

    Its tests only read: one copy and one client serve the module instead of a run logged per test.
    """
    folder = tmp_path_factory.mktemp("sql-views")
    store_templates.copy_into("sql-views-one-run", _log_one_run, folder)
    con = duckdb.connect(str(store_templates.store_path(folder)), read_only=True)
    yield con
    con.close()


@pytest.mark.parametrize("name", sorted(CONTRACT_COLUMNS))
def test_contract_columns(plain, name):
    columns = {row[0] for row in plain.execute(f"DESCRIBE {name}").fetchall()}
    assert CONTRACT_COLUMNS[name] <= columns, CONTRACT_COLUMNS[name] - columns


def test_column_types(plain):
    types = dict((r[0], r[1]) for r in plain.execute("DESCRIBE metrics").fetchall())
    assert types["value"] == "DOUBLE" and types["step"] == "BIGINT" and types["timestamp"] == "TIMESTAMP"
    types = dict((r[0], r[1]) for r in plain.execute("DESCRIBE runs_overview").fetchall())
    assert types["params"] == "MAP(VARCHAR, VARCHAR)" and types["metrics"] == "MAP(VARCHAR, DOUBLE)"
    types = dict((r[0], r[1]) for r in plain.execute("DESCRIBE model_versions").fetchall())
    assert types["version"] == "INTEGER"


def test_map_access_and_bound_map_keys(plain):
    assert plain.execute("SELECT params['model'], metrics['rmse'] FROM runs_overview").fetchone() == ("rf", 0.5)
    assert plain.execute("SELECT count(*) FROM runs_overview WHERE metrics[?] < ?", ["rmse", 1.0]).fetchone() == (1,)
    assert plain.execute("SELECT metrics['absent'] FROM runs_overview").fetchone() == (None,)
