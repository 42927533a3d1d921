"""import-mlflow on hostile or broken MLflow stores (issue 22): the importer reads only what it was given.

Symlinks and artifact roots outside the tracking folder are skipped and reported; metric points outside
years 1900..9999 are counted and skipped; YAML aliases, bad names and malformed tables are refused with
one ``Error:`` line, and the target store is left as it was.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import duckml
from duckml.cli import cli
from duckml.interop.checks import points_in_range
from duckml.interop.mlflow_import import import_mlflow
from duckml.tracking.validation import check_step, timestamp_us

from .mlflow_fixtures import RUN_CHILD, RUN_FAILED, RUN_PARENT, T0, build_file_store, build_sqlite_store

SECRET = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
TABLES = ["experiments", "runs", "params", "tags", "metrics", "artifacts", "registered_models", "model_versions",
          "model_aliases"]


@pytest.fixture
def ssh_dir(tmp_path) -> Path:
    """A folder outside every MLflow store, holding a private key."""
    folder = tmp_path / "home" / ".ssh"
    folder.mkdir(parents=True)
    (folder / "id_ed25519").write_text(SECRET)
    return folder


@pytest.fixture
def mlruns(tmp_path) -> Path:
    return build_file_store(tmp_path / "mlflow")


def _run_dir(mlruns: Path) -> Path:
    return mlruns / "1" / RUN_PARENT


def _artifact_dir(mlruns: Path) -> Path:
    return mlruns / "_artifacts" / RUN_PARENT / "artifacts"


def _edit_yaml(path: Path, **changes) -> None:
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))


def _stored_text() -> str:
    """Every param, tag and artifact path of every run, as one text."""
    with duckml.get_store().read() as con:
        rows = con.execute("SELECT key || '=' || value FROM params UNION ALL SELECT key || '=' || value FROM tags "
                           "UNION ALL SELECT path FROM artifacts").fetchall()
    return "\n".join(r[0] for r in rows)


def _counts() -> dict[str, int]:
    with duckml.get_store().read() as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def _store_with_one_run() -> dict[str, int]:
    duckml.set_experiment("mine")
    with duckml.start_run():
        duckml.log_param("p", "1")
        duckml.log_metric("m", 1.0)
    duckml.flush()
    return _counts()


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a ClickException, not a crash
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# -- 3: symlinks and outside roots ------------------------------------------------------------------------------
def test_symlinked_param_and_tag_files_are_not_read(mlruns, ssh_dir):
    (_run_dir(mlruns) / "params" / "stolen").symlink_to(ssh_dir / "id_ed25519")
    (_run_dir(mlruns) / "tags" / "stolen").symlink_to(ssh_dir / "id_ed25519")
    report = import_mlflow(mlruns)
    assert "stolen" not in duckml.get_run(RUN_PARENT).data.params
    assert "stolen" not in duckml.get_run(RUN_PARENT).data.tags
    assert "PRIVATE KEY" not in _stored_text()
    assert duckml.get_run(RUN_PARENT).data.params == {"C": "0.1", "model": "lr"}  # the rest came across
    assert sum("symlink" in note for note in report.notes) == 2


def test_a_symlinked_params_folder_is_not_read(mlruns, ssh_dir):
    shutil.rmtree(_run_dir(mlruns) / "params")
    (_run_dir(mlruns) / "params").symlink_to(ssh_dir, target_is_directory=True)
    report = import_mlflow(mlruns)
    assert duckml.get_run(RUN_PARENT).data.params == {}
    assert "PRIVATE KEY" not in _stored_text() and "id_ed25519" not in _stored_text()
    assert any("symlink" in note and "params" in note for note in report.notes)


def test_symlinked_metric_and_meta_files_are_not_read(mlruns, ssh_dir):
    (ssh_dir / "points").write_text(f"{T0} 42.0 0\n")
    (_run_dir(mlruns) / "metrics" / "stolen").symlink_to(ssh_dir / "points")
    outside_run = ssh_dir / ("e" * 32)
    shutil.copytree(mlruns / "2" / RUN_FAILED, outside_run)
    _edit_yaml(outside_run / "meta.yaml", run_id="e" * 32, run_uuid="e" * 32)
    (mlruns / "2" / ("e" * 32)).symlink_to(outside_run, target_is_directory=True)
    import_mlflow(mlruns)
    assert "stolen" not in duckml.get_run(RUN_PARENT).data.metrics
    with duckml.get_store().read() as con:
        stored = sorted(r[0] for r in con.execute("SELECT run_id FROM runs").fetchall())
    assert stored == sorted([RUN_PARENT, RUN_CHILD, RUN_FAILED])


def test_a_symlinked_artifacts_folder_is_not_read(mlruns, ssh_dir):
    shutil.rmtree(_artifact_dir(mlruns))
    _artifact_dir(mlruns).symlink_to(ssh_dir, target_is_directory=True)
    report = import_mlflow(mlruns)
    assert duckml.list_artifacts(RUN_PARENT) == []
    assert "id_ed25519" not in _stored_text()
    assert any("symlink" in note for note in report.notes)


def test_a_symlinked_file_inside_artifacts_is_not_read(mlruns, ssh_dir):
    (_artifact_dir(mlruns) / "docs" / "key.txt").symlink_to(ssh_dir / "id_ed25519")
    report = import_mlflow(mlruns)
    assert {f.path for f in duckml.list_artifacts(RUN_PARENT, "docs")} == {"docs/notes.txt"}
    assert any("symlink" in note and "key.txt" in note for note in report.notes)


def test_an_artifact_root_outside_the_tracking_folder_is_skipped_unless_allowed(mlruns, ssh_dir):
    _edit_yaml(_run_dir(mlruns) / "meta.yaml", artifact_uri=ssh_dir.as_uri())
    report = import_mlflow(mlruns)
    assert duckml.list_artifacts(RUN_PARENT) == []
    assert any(str(ssh_dir) in note and "--artifact-root-ok" in note for note in report.notes)
    assert {f.path for f in duckml.list_artifacts(RUN_CHILD, "docs")} == {"docs/notes.txt"}  # inside: imported

    duckml.reset_state(flush=False)
    duckml.set_store(ssh_dir.parent / "other.duckdb")
    allowed = import_mlflow(mlruns, artifact_roots_ok=[ssh_dir])
    assert [f.path for f in duckml.list_artifacts(RUN_PARENT)] == ["id_ed25519"]
    assert not any(str(ssh_dir) in note for note in allowed.notes)


@pytest.mark.parametrize("where", ["elsewhere", "beside mlflow.db"])
def test_an_artifact_uri_in_mlflow_db_outside_the_tracking_folder_is_skipped(tmp_path, ssh_dir, where):
    uri = build_sqlite_store(tmp_path / "mlflow")
    if where == "beside mlflow.db":  # the database's folder may be a home directory: only mlruns/ is MLflow's
        ssh_dir = Path(shutil.move(ssh_dir, tmp_path / "mlflow" / ".ssh"))
    con = sqlite3.connect(tmp_path / "mlflow" / "mlflow.db")
    con.execute("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?", [ssh_dir.as_uri(), RUN_CHILD])
    con.commit()
    con.close()
    report = import_mlflow(uri)
    assert duckml.list_artifacts(RUN_CHILD) == []
    assert "id_ed25519" not in _stored_text()
    assert any(str(ssh_dir) in note for note in report.notes)


def test_cli_artifact_root_ok_names_roots_to_read(mlruns, ssh_dir):
    _edit_yaml(_run_dir(mlruns) / "meta.yaml", artifact_uri=ssh_dir.as_uri())
    refused = CliRunner().invoke(cli, ["import-mlflow", str(mlruns)])
    assert refused.exit_code == 0 and "--artifact-root-ok" in refused.stderr
    duckml.reset_state(flush=False)
    other = str(ssh_dir.parent / "other.duckdb")
    allowed = CliRunner().invoke(cli, ["--store", other, "import-mlflow", str(mlruns),
                                       "--artifact-root-ok", str(ssh_dir), "--artifact-root-ok", str(mlruns)])
    assert allowed.exit_code == 0, allowed.output
    duckml.set_store(other)
    assert [f.path for f in duckml.list_artifacts(RUN_PARENT)] == ["id_ed25519"]


# -- 4: timestamps and steps ------------------------------------------------------------------------------------
def test_metric_timestamps_outside_years_1900_9999_are_counted_not_wrapped(tmp_path):
    uri = build_sqlite_store(tmp_path / "mlflow")
    con = sqlite3.connect(tmp_path / "mlflow" / "mlflow.db")
    con.executemany("INSERT INTO metrics VALUES ('far', 1.0, ?, ?, ?, 0)",
                    [(10**16, RUN_CHILD, 0), (2**63 - 1, RUN_CHILD, 1), (-(2**63), RUN_CHILD, 2),
                     (T0, RUN_CHILD, 3)])
    con.commit()
    con.close()
    report = import_mlflow(uri)
    assert report.metric_points_skipped == 3
    assert any("3 metric point(s)" in line and "1900" in line for line in report.summary())
    history = duckml.get_metric_history(RUN_CHILD, "far")
    assert history["step"].to_list() == [3]
    with duckml.get_store().read() as con:
        con.execute("SELECT * FROM metrics").fetchall()  # every stored timestamp is readable
        assert con.execute("SELECT min(timestamp) >= TIMESTAMP '1900-01-01' FROM metrics").fetchone()[0]


def test_file_store_points_out_of_range_are_counted(mlruns):
    with open(_run_dir(mlruns) / "metrics" / "loss", "a") as handle:
        handle.write(f"{10**16} 1.0 7\n{T0} 1.0 {2**64}\n{T0} 1.0 {-(2**63) - 1}\n")
    report = import_mlflow(mlruns)
    assert report.metric_points_skipped == 3
    assert sorted(duckml.get_metric_history(RUN_PARENT, "loss")["step"].to_list()) == [0, 1, 1, 2]


_BIG = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([
    -(2**63), 2**63 - 1, 2**63, 10**16, -2_208_988_800_000, -2_208_988_800_001, 253_402_300_799_999,
    253_402_300_800_000]))


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ms=_BIG, step=_BIG)
def test_importers_keep_exactly_the_points_log_metric_accepts(ms, step):
    try:
        timestamp_us(ms)
        check_step(step)
        accepted = True
    except duckml.InvalidInputError:
        accepted = False
    assert points_in_range([step], [ms]).tolist() == [accepted]  # the file store's Python ints
    if -(2**63) <= ms < 2**63 and -(2**63) <= step < 2**63:  # SQLite's and bundles' int64 columns
        assert points_in_range(np.array([step]), np.array([ms])).tolist() == [accepted]


@pytest.mark.parametrize("column", ["start_time", "end_time"])
def test_a_run_time_in_year_200000_is_refused(tmp_path, column):
    uri = build_sqlite_store(tmp_path / "mlflow")
    con = sqlite3.connect(tmp_path / "mlflow" / "mlflow.db")
    con.execute(f"UPDATE runs SET {column} = 6249223180800000 WHERE run_uuid = ?", [RUN_CHILD])
    con.commit()
    con.close()
    with pytest.raises(duckml.InvalidInputError, match=f"{RUN_CHILD}.*1900"):
        import_mlflow(uri)
    with duckml.get_store().read() as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


# -- 5: hostile YAML and names --------------------------------------------------------------------------------
def test_yaml_aliases_are_refused(mlruns):
    laughs = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level, (inner, outer) in enumerate(zip("abcde", "bcdef")):
        laughs.append(f"{outer}: &{outer} [" + ", ".join([f"*{inner}"] * 9) + "]")
    laughs.append("name: *f")
    (mlruns / "1" / "meta.yaml").write_text("\n".join(laughs) + "\n")
    with pytest.raises(duckml.InvalidInputError, match=r"meta\.yaml.*alias"):
        import_mlflow(mlruns)


@pytest.mark.parametrize("name", ["x" * 300, "bad\nname", "  "])
def test_experiment_names_follow_the_api_rules(mlruns, name):
    _edit_yaml(mlruns / "1" / "meta.yaml", name=name)
    with pytest.raises(duckml.InvalidNameError, match="experiment name"):
        import_mlflow(mlruns)


def test_a_huge_param_file_is_refused_without_reading_it_whole(mlruns):
    with open(_run_dir(mlruns) / "params" / "C", "wb") as handle:
        handle.truncate(64 << 20)  # sparse: 64 MiB of zeros, no disk used
    with pytest.raises(duckml.InvalidInputError, match="params/C is larger than"):
        import_mlflow(mlruns)


def test_a_key_file_name_that_is_not_utf8_is_refused(mlruns):
    import os

    fd = os.open(bytes(_run_dir(mlruns) / "params") + b"/\xff", os.O_WRONLY | os.O_CREAT)
    os.write(fd, b"1")
    os.close(fd)
    with pytest.raises(duckml.InvalidNameError, match="param key.*not valid Unicode"):
        import_mlflow(mlruns)


def test_a_param_file_that_is_not_utf8_is_refused(mlruns):
    (_run_dir(mlruns) / "params" / "C").write_bytes(b"\xff\xfe0.1")
    with pytest.raises(duckml.InvalidInputError, match="UTF-8"):
        import_mlflow(mlruns)


# -- 6: malformed MLflow tables -------------------------------------------------------------------------------
BROKEN_DB = {
    "null timestamp": f"UPDATE metrics SET timestamp = NULL WHERE run_uuid = '{RUN_CHILD}'",
    "text timestamp": f"UPDATE metrics SET timestamp = 'soon' WHERE run_uuid = '{RUN_CHILD}'",
    "null step": f"UPDATE metrics SET step = NULL WHERE run_uuid = '{RUN_CHILD}'",
    "text value": f"UPDATE metrics SET value = 'abc' WHERE run_uuid = '{RUN_CHILD}'",
    "null metric run": f"UPDATE metrics SET run_uuid = NULL WHERE run_uuid = '{RUN_CHILD}'",
    "oversized start": f"UPDATE runs SET start_time = 1e300 WHERE run_uuid = '{RUN_CHILD}'",
    "text creation time": "UPDATE experiments SET creation_time = 'yesterday' WHERE experiment_id = 1",
    "invalid utf-8": f"UPDATE params SET key = CAST(x'ff41' AS TEXT) WHERE run_uuid = '{RUN_CHILD}'",
    "missing column": "ALTER TABLE metrics DROP COLUMN is_nan",
    "status PWNED": f"UPDATE runs SET status = 'PWNED' WHERE run_uuid = '{RUN_CHILD}'",
    "empty run id": f"UPDATE runs SET run_uuid = '' WHERE run_uuid = '{RUN_FAILED}'",
    "text version": "UPDATE model_versions SET version = 'two' WHERE version = 2",
    "model name with /": "UPDATE registered_models SET name = 'a/b'",
    "null experiment name": "UPDATE experiments SET name = NULL WHERE experiment_id = 2",
    "control char in key": f"UPDATE tags SET key = 'a' || char(10) || 'b' WHERE run_uuid = '{RUN_CHILD}'",
}


def _broken_db(tmp_path, statement: str) -> str:
    uri = build_sqlite_store(tmp_path / "mlflow")
    con = sqlite3.connect(tmp_path / "mlflow" / "mlflow.db")
    con.execute(statement)
    con.commit()
    con.close()
    return uri


@pytest.mark.parametrize("case", list(BROKEN_DB))
def test_malformed_mlflow_tables_give_one_error(tmp_path, case):
    uri = _broken_db(tmp_path, BROKEN_DB[case])
    with pytest.raises(duckml.InvalidInputError):
        import_mlflow(uri)
    before = _store_with_one_run()
    result = CliRunner().invoke(cli, ["import-mlflow", uri])
    line = _one_error_line(result)
    assert "mlflow.db" in line or "MLflow" in line, line
    if case == "missing column":
        assert "table metrics has no column is_nan" in line
    assert _counts() == before


def test_malformed_mlruns_give_one_error(mlruns):
    (_run_dir(mlruns) / "metrics" / "loss").write_text("1700000000000 not-a-number 0\n")
    before = _store_with_one_run()
    line = _one_error_line(CliRunner().invoke(cli, ["import-mlflow", str(mlruns)]))
    assert "metrics/loss" in line and "line 1" in line
    assert _counts() == before


def test_a_version_whose_run_is_not_in_the_mlflow_store_is_skipped(tmp_path):
    _store_with_one_run()
    own = duckml.search_runs(experiment_names=["mine"])["run_id"][0]  # the importing store's own run
    uri = _broken_db(tmp_path, f"UPDATE model_versions SET run_id = '{own}', source = 'runs:/{own}/model' "
                               "WHERE version = 2")
    report = import_mlflow(uri)
    assert [v[:2] for v in report.versions_imported] == [("churn-model", 1)]
    assert any("version 2" in note and own in note for note in report.notes)
    with duckml.get_store().read() as con:
        assert con.execute("SELECT version FROM model_versions WHERE name = 'churn-model'").fetchall() == [(1,)]
