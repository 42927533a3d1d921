"""duckml import of hostile or broken bundles (issue 22): every record passes the API's checks, zips are read
manifest first within a size limit, and each refusal is one ``Error:`` line naming the user's file."""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import duckml
from duckml.cli import cli
from duckml.interop.bundle import MANIFEST, STORE_FILE, import_bundle
from duckml.store import Store, schema

RUN = "f" * 32
OTHER = "0" * 32
TABLES = ["experiments", "runs", "params", "tags", "metrics", "registered_models", "model_versions", "model_aliases"]


def _bundle(folder: Path, *statements: str, manifest=None) -> Path:
    """A bundle folder made by hand: one run with params, tags, two points, model 'm' v1 @champion."""
    folder.mkdir(parents=True)
    store = Store(folder / STORE_FILE)
    store.flush()  # the current schema
    store.release()
    shutil.rmtree(folder / "bundle.artifacts", ignore_errors=True)
    con = duckdb.connect(str(folder / STORE_FILE))
    con.execute("INSERT INTO experiments VALUES ('e1', 'handover', 'active', TIMESTAMP '2024-01-01', "
                "TIMESTAMP '2024-01-01')")
    con.execute(f"INSERT INTO runs VALUES ('{RUN}', 'e1', 'r', 'FINISHED', TIMESTAMP '2024-01-01', "
                "TIMESTAMP '2024-01-02', 'active', NULL)")
    con.execute(f"INSERT INTO params VALUES ('{RUN}', 'C', '1')")
    con.execute(f"INSERT INTO tags VALUES ('{RUN}', 't', 'v')")
    con.execute(f"INSERT INTO metrics VALUES ('{RUN}', 'loss', 0.5, 0, TIMESTAMP '2024-01-01'), "
                f"('{RUN}', 'loss', 0.4, 1, TIMESTAMP '2024-01-01 00:00:01')")
    con.execute("INSERT INTO registered_models VALUES ('m', NULL, TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-01')")
    con.execute(f"INSERT INTO model_versions VALUES ('m', 1, '{RUN}', 'runs:/{RUN}/model', NULL, "
                "TIMESTAMP '2024-01-01')")
    con.execute("INSERT INTO model_aliases VALUES ('m', 'champion', 1)")
    for statement in statements:
        con.execute(statement)
    con.close()
    manifest = {"format": 1, "schema_version": schema.code_version()} if manifest is None else manifest
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


def _zip(folder: Path, target: Path, compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(target, "w", compression=compression) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return target


def _counts() -> dict[str, int]:
    with duckml.get_store().read() as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def _own_run() -> str:
    duckml.set_experiment("mine")
    with duckml.start_run() as run:
        duckml.log_param("p", "1")
    duckml.flush()
    return run.info.run_id


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """The temp folder the importer unpacks into, to see what it wrote there."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_a_hand_made_bundle_imports(tmp_path):
    report = import_bundle(_zip(_bundle(tmp_path / "b"), tmp_path / "b.zip"))
    assert report.runs_imported == [RUN] and report.metric_points_skipped == 0
    assert duckml.get_model_version_by_alias("m", "champion").run_id == RUN


# -- 4: timestamps and steps ------------------------------------------------------------------------------------
@pytest.mark.parametrize("stamp", ["'infinity'", "make_timestamp(200000, 1, 1, 0, 0, 0)", "TIMESTAMP '1800-01-01'"])
def test_metric_points_out_of_range_are_counted_not_stored(tmp_path, stamp):
    bundle = _bundle(tmp_path / "b", f"UPDATE metrics SET timestamp = {stamp} WHERE step = 1")
    report = import_bundle(bundle)
    assert report.metric_points_skipped == 1
    assert duckml.get_metric_history(RUN, "loss")["step"].to_list() == [0]
    with duckml.get_store().read() as con:
        con.execute("SELECT * FROM metrics").fetchall()


# -- 6: records the API would refuse ----------------------------------------------------------------------------
HOSTILE = {
    "empty run id": "INSERT INTO runs VALUES ('', 'e1', 'x', 'FINISHED', TIMESTAMP '2024-01-01', NULL, 'active', "
                    "NULL)",
    "model name with /": "UPDATE registered_models SET name = 'a/b'; UPDATE model_versions SET name = 'a/b'; "
                         "UPDATE model_aliases SET name = 'a/b'",
    "model name with @": "UPDATE registered_models SET name = 'a@b'; UPDATE model_versions SET name = 'a@b'; "
                         "UPDATE model_aliases SET name = 'a@b'",
    "status PWNED": "UPDATE runs SET status = 'PWNED'",
    "stage PWNED": "UPDATE runs SET lifecycle_stage = 'PWNED'",
    "version of a run not in the bundle": f"UPDATE model_versions SET run_id = '{OTHER}', "
                                          f"source_uri = 'runs:/{OTHER}/model'",
    "version source in another run": f"UPDATE model_versions SET source_uri = 'runs:/{OTHER}/model'",
    "alias of a version not in the bundle": "UPDATE model_aliases SET version = 7",
    "alias that looks like a version": "UPDATE model_aliases SET alias = 'v2'",
    "orphan param": "INSERT INTO params VALUES ('nope', 'k', 'v')",
    "orphan metric": "INSERT INTO metrics VALUES ('nope', 'k', 1, 0, TIMESTAMP '2024-01-01')",
    "orphan version": f"INSERT INTO model_versions VALUES ('ghost', 1, '{RUN}', 'runs:/{RUN}/m', NULL, "
                      "TIMESTAMP '2024-01-01')",
    "orphan experiment tag": "INSERT INTO experiment_tags VALUES ('nope', 'k', 'v')",
    "run of no experiment": "UPDATE runs SET experiment_id = 'zz'",
    "year 200000 start": "UPDATE runs SET start_time = make_timestamp(200000, 1, 1, 0, 0, 0)",
    "infinite end": "UPDATE runs SET end_time = 'infinity'",
    "NULL step": "ALTER TABLE metrics ALTER COLUMN step DROP NOT NULL; UPDATE metrics SET step = NULL WHERE step = 1",
    "NULL timestamp": "ALTER TABLE metrics ALTER COLUMN timestamp DROP NOT NULL; "
                      "UPDATE metrics SET timestamp = NULL WHERE step = 1",
    "empty experiment name": "UPDATE experiments SET name = ''",
    "experiment id with a slash": "UPDATE experiments SET experiment_id = '../x'; "
                                  "UPDATE runs SET experiment_id = '../x'",
    "control character in a param key": "UPDATE params SET key = 'a' || chr(10) || 'b'",
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_records_the_api_would_refuse_refuse_the_bundle(tmp_path, case):
    own = _own_run()
    before = _counts()
    bundle = _bundle(tmp_path / "b", *HOSTILE[case].split("; "))
    with pytest.raises(duckml.InvalidInputError) as refused:
        import_bundle(bundle)
    assert str(bundle) in str(refused.value)
    assert _counts() == before
    assert duckml.get_run(own).data.params == {"p": "1"}


def test_a_version_pointing_at_the_importers_own_run_is_refused(tmp_path):
    own = _own_run()
    bundle = _bundle(tmp_path / "b", f"UPDATE model_versions SET run_id = '{own}', source_uri = 'runs:/{own}/model'")
    before = _counts()
    with pytest.raises(duckml.InvalidInputError, match=f"{own}.*not in the bundle"):
        import_bundle(bundle)
    assert _counts() == before


# -- 5 and 6: zips ----------------------------------------------------------------------------------------------
def test_a_zip_bomb_without_manifest_is_refused_before_unpacking(tmp_path, private_tmp):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("data.bin", "w") as member:
            for _ in range(64):
                member.write(bytes(1 << 20))
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(duckml.InvalidInputError, match="not a duckml bundle") as refused:
        import_bundle(bomb)
    assert str(bomb) in str(refused.value) and str(private_tmp) not in str(refused.value)
    assert _bytes_under(private_tmp) < 1 << 20


def test_declared_sizes_over_the_limit_are_refused_before_unpacking(tmp_path, private_tmp):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps({"format": 1, "schema_version": schema.code_version()}))
        with archive.open(STORE_FILE, "w") as member:
            for _ in range(64):
                member.write(bytes(1 << 20))
    with pytest.raises(duckml.InvalidInputError, match="more than") as refused:
        import_bundle(bomb, max_bytes=16 << 20)
    assert str(bomb) in str(refused.value) and str(private_tmp) not in str(refused.value)
    assert _bytes_under(private_tmp) < 1 << 20


def _damaged(kind: str, tmp_path: Path) -> Path:
    target = tmp_path / f"{kind}.zip"
    if kind == "empty":
        target.write_bytes(b"")
    elif kind == "not a zip":
        target.write_text("hello")
    elif kind == "truncated":
        whole = _zip(_bundle(tmp_path / "b"), tmp_path / "whole.zip").read_bytes()
        target.write_bytes(whole[: len(whole) // 2])
    elif kind == "CRC-damaged":
        _zip(_bundle(tmp_path / "b"), target, compression=zipfile.ZIP_STORED)
        with zipfile.ZipFile(target) as archive:
            info = archive.getinfo(STORE_FILE)
        data = bytearray(target.read_bytes())
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        data[start + 5000] ^= 0xFF
        target.write_bytes(bytes(data))
    elif kind == "manifest is a list":
        _zip(_bundle(tmp_path / "b", manifest=[1, 2]), target)
    elif kind == "manifest is not JSON":
        folder = _bundle(tmp_path / "b")
        (folder / MANIFEST).write_bytes(b"\xff{")
        _zip(folder, target)
    elif kind == "bundle.duckdb is not DuckDB":
        folder = _bundle(tmp_path / "b")
        (folder / STORE_FILE).write_bytes(b"this is not a database" * 100)
        _zip(folder, target)
    return target


DAMAGED = ["empty", "not a zip", "truncated", "CRC-damaged", "manifest is a list", "manifest is not JSON",
           "bundle.duckdb is not DuckDB"]


@pytest.mark.parametrize("kind", DAMAGED)
def test_damaged_zips_give_one_error_naming_the_users_file(tmp_path, private_tmp, kind):
    bundle = _damaged(kind, tmp_path)
    with pytest.raises(duckml.InvalidInputError) as refused:
        import_bundle(bundle)
    message = str(refused.value)
    assert str(bundle) in message and str(private_tmp) not in message
    assert str(duckml.get_store().path) not in message and "--store" not in message  # the store is not to blame


# -- the CLI ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", DAMAGED + ["orphan param", "status PWNED", "NULL step"])
def test_cli_import_of_a_broken_bundle_is_one_error_line(tmp_path, private_tmp, kind):
    _own_run()
    before = _counts()
    bundle = _damaged(kind, tmp_path) if kind in DAMAGED else _zip(_bundle(tmp_path / "b", *HOSTILE[kind].split("; ")),
                                                                   tmp_path / "h.zip")
    result = CliRunner().invoke(cli, ["import", str(bundle)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(bundle) in errors[0], result.stderr
    assert _counts() == before


@pytest.mark.parametrize("linked", ["object", "objects folder"])
def test_a_symlinked_object_in_a_bundle_folder_is_not_read(tmp_path, linked):
    import hashlib

    secret = tmp_path / "home" / "id_ed25519"
    secret.parent.mkdir()
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    sha = hashlib.sha256(secret.read_bytes()).hexdigest()
    bundle = _bundle(tmp_path / "b", f"INSERT INTO artifacts VALUES ('{RUN}', 'key.txt', {secret.stat().st_size}, "
                                     f"'{sha}', 'text/plain', TIMESTAMP '2024-01-01')")
    objects = bundle / "bundle.artifacts" / "objects"
    if linked == "object":
        (objects / sha[:2]).mkdir(parents=True)
        (objects / sha[:2] / sha).symlink_to(secret)
    else:
        (secret.parent / sha[:2]).mkdir()
        shutil.copy(secret, secret.parent / sha[:2] / sha)
        objects.parent.mkdir()
        objects.symlink_to(secret.parent, target_is_directory=True)
    with pytest.raises(duckml.NotFoundError, match="symlink"):
        import_bundle(bundle)
    with duckml.get_store().read() as con:
        assert con.execute("SELECT count(*) FROM artifacts").fetchone()[0] == 0
