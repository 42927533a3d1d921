"""``duckml export`` / ``duckml import``: hand runs to a teammate as a bundle, merge a bundle into a store.

A bundle is one folder (or a ``.zip`` of it)::

    <bundle>/duckml_bundle.json        {"format": 1, "schema_version": 4, "runs": 12, ...}
    <bundle>/bundle.duckdb             a duckml store holding only the chosen runs
    <bundle>/bundle.artifacts/objects/ their artifact objects (content-addressed, as in any store)

It holds the chosen experiments' runs (or the runs named) with their params, tags, every metric point,
artifacts and datasets, and the registered-model versions that come from those runs, with their aliases
and tags. Import opens a *copy* of the bundle's store file through duckml, so a bundle written by an
older duckml is migrated like any store, then merges it (``merge.py``): ids kept, an identical run
skipped, a run that exists with other content an error naming it (nothing is written then); versions
not already present get the next numbers, tagged ``duckml.source_version``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from duckml.store import schema
from duckml.store.objects import OBJECTS, object_path
from duckml.errors import InvalidInputError, NotFoundError, SchemaError, UnsafePathError
from duckml.interop.merge import MergeReport, merge, to_us
from duckml.interop.records import (
    ArtifactRecord,
    DatasetRecord,
    ExperimentRecord,
    ImportSource,
    ModelVersionRecord,
    RegisteredModelRecord,
    RunRecord,
    group_points,
)
from duckml.sqlquote import quote_literal
from duckml.store import Store, get_store

MANIFEST = "duckml_bundle.json"
STORE_FILE = "bundle.duckdb"
FORMAT = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Copied table by table; each query selects the rows of the chosen runs (bound as $runs).
_RUN_TABLES = {
    "runs": "SELECT * FROM runs WHERE run_id IN (SELECT unnest($runs))",
    "params": "SELECT * FROM params WHERE run_id IN (SELECT unnest($runs))",
    "tags": "SELECT * FROM tags WHERE run_id IN (SELECT unnest($runs))",
    "metrics": "SELECT * FROM metrics WHERE run_id IN (SELECT unnest($runs))",
    "_duckml_latest": "SELECT * FROM _duckml_latest WHERE run_id IN (SELECT unnest($runs))",
    "_duckml_metric_summary": "SELECT * FROM _duckml_metric_summary WHERE run_id IN (SELECT unnest($runs))",
    "artifacts": "SELECT * FROM artifacts WHERE run_id IN (SELECT unnest($runs))",
    "run_inputs": "SELECT * FROM run_inputs WHERE run_id IN (SELECT unnest($runs))",
    "datasets": "SELECT * FROM datasets WHERE dataset_id IN "
                "(SELECT dataset_id FROM run_inputs WHERE run_id IN (SELECT unnest($runs)))",
    "experiments": "SELECT * FROM experiments WHERE experiment_id IN "
                   "(SELECT experiment_id FROM runs WHERE run_id IN (SELECT unnest($runs)))",
    "experiment_tags": "SELECT * FROM experiment_tags WHERE experiment_id IN "
                       "(SELECT experiment_id FROM runs WHERE run_id IN (SELECT unnest($runs)))",
    "model_versions": "SELECT * FROM model_versions WHERE run_id IN (SELECT unnest($runs))",
    "model_version_tags": "SELECT t.* FROM model_version_tags t JOIN model_versions v USING (name, version) "
                          "WHERE v.run_id IN (SELECT unnest($runs))",
    "model_aliases": "SELECT a.* FROM model_aliases a JOIN model_versions v USING (name, version) "
                     "WHERE v.run_id IN (SELECT unnest($runs))",
    "registered_models": "SELECT * FROM registered_models WHERE name IN "
                         "(SELECT name FROM model_versions WHERE run_id IN (SELECT unnest($runs)))",
    "registered_model_tags": "SELECT * FROM registered_model_tags WHERE name IN "
                             "(SELECT name FROM model_versions WHERE run_id IN (SELECT unnest($runs)))",
}


# -- export ------------------------------------------------------------------------------------------------------
def _chosen_runs(con, experiments, run_ids) -> list[str]:
    chosen: list[str] = []
    for name in experiments:
        rows = con.execute("SELECT experiment_id FROM experiments WHERE name = ? OR experiment_id = ?",
                           [name, name]).fetchall()
        if not rows:
            raise NotFoundError(f"no experiment named or with id {name!r}")
        chosen += [r[0] for r in con.execute(
            "SELECT run_id FROM runs WHERE experiment_id = ? AND lifecycle_stage = 'active' ORDER BY start_time",
            [rows[0][0]]).fetchall()]
    for run_id in run_ids:
        if not con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall():
            raise NotFoundError(f"no run with id {run_id!r}")
        chosen.append(run_id)
    if not experiments and not run_ids:
        chosen = [r[0] for r in con.execute(
            "SELECT r.run_id FROM runs r JOIN experiments e USING (experiment_id) "
            "WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active' ORDER BY r.start_time").fetchall()]
    return list(dict.fromkeys(chosen))


def export_bundle(bundle: str | os.PathLike, experiments=(), run_ids=(), store: Store | None = None,
                  progress=None) -> dict:
    """Write the chosen runs (all active runs when none are chosen) into a new bundle; return its manifest.

    >>> duckml.interop.bundle.export_bundle("handover.zip", experiments=["churn"])["runs"]  # doctest: +SKIP
    12
    """
    store = store or get_store()
    target = Path(bundle)
    if target.exists():
        raise InvalidInputError(f"bundle {target} already exists; choose a new path")
    as_zip = target.suffix.lower() == ".zip"
    with tempfile.TemporaryDirectory(prefix="duckml-bundle-") as tmp:
        folder = Path(tmp) / "bundle" if as_zip else target
        folder.mkdir(parents=True)
        try:
            manifest = _write_bundle(store, folder, list(experiments), list(run_ids), progress)
            if as_zip:
                _zip(folder, target)
        except BaseException:
            if not as_zip:
                shutil.rmtree(folder, ignore_errors=True)
            raise
    return manifest


def _write_bundle(store: Store, folder: Path, experiments: list[str], run_ids: list[str], progress) -> dict:
    bundle_store = Store(folder / STORE_FILE)  # a private handle: never the process-wide one of that path
    bundle_store.flush()  # creates the file with the current schema
    bundle_store.release()
    with store.read() as con:
        chosen = _chosen_runs(con, experiments, run_ids)
        if not chosen:
            raise InvalidInputError("nothing to export: the chosen experiments have no active runs")
        con.execute(f"ATTACH {quote_literal(str(bundle_store.path))} AS bundle_out")
        try:
            counts = {}
            for table, query in _RUN_TABLES.items():
                con.execute(f"INSERT INTO bundle_out.main.{table} BY NAME {query}", {"runs": chosen})
                counts[table] = con.execute(f"SELECT count(*) FROM bundle_out.main.{table}").fetchone()[0]
            con.execute("""INSERT INTO bundle_out.main.model_version_counters
                SELECT name, max(version) FROM bundle_out.main.model_versions GROUP BY name""")
            digests = [r[0] for r in con.execute("SELECT DISTINCT sha256 FROM bundle_out.main.artifacts").fetchall()]
        finally:
            con.execute("DETACH bundle_out")
    for sha in digests:
        source = object_path(store.artifact_root, sha)
        if not source.is_file():
            raise NotFoundError(f"artifact object {sha} is missing from {store.artifact_root}; run `duckml gc "
                                "--dry-run` to see what is damaged")
        destination = object_path(bundle_store.artifact_root, sha)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    shutil.rmtree(bundle_store.journal_dir, ignore_errors=True)
    manifest = {"format": FORMAT, "schema_version": schema.code_version(), "runs": len(chosen),
                "experiments": counts["experiments"], "metric_points": counts["metrics"],
                "artifact_objects": len(digests), "model_versions": counts["model_versions"],
                "source_store": str(store.path),
                "created_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat()}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    if progress:
        progress(f"exported {len(chosen)} run(s), {counts['metrics']} metric point(s), {len(digests)} artifact "
                 f"object(s), {counts['model_versions']} model version(s)")
    return manifest


def _zip(folder: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    os.replace(partial, target)


# -- import ------------------------------------------------------------------------------------------------------
def _unzip(archive_path: Path, into: Path) -> Path:
    with zipfile.ZipFile(archive_path) as archive:
        for member in archive.infolist():
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or "\\" in member.filename or ":" in member.filename:
                raise UnsafePathError(f"bundle {archive_path} holds an unsafe path {member.filename!r}; "
                                      "it was not imported")
        archive.extractall(into)
    return into


def _read_manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"{folder} is not a duckml bundle (no {MANIFEST})") from None
    except ValueError as error:
        raise InvalidInputError(f"{folder / MANIFEST} is not valid JSON: {error}") from None
    if manifest.get("format") != FORMAT:
        raise SchemaError(f"bundle {folder} has format {manifest.get('format')!r}; this duckml reads format {FORMAT}")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version > schema.code_version():
        raise SchemaError(f"bundle {folder} was written with schema version {version!r}; this duckml knows "
                          f"{schema.code_version()}: upgrade duckml")
    return manifest


def read_bundle(folder: Path, work: Path) -> ImportSource:
    """An ``ImportSource`` from a bundle folder; its store file is copied into ``work`` and migrated there."""
    _read_manifest(folder)
    if not (folder / STORE_FILE).is_file():
        raise InvalidInputError(f"bundle {folder} has no {STORE_FILE}")
    copy = work / STORE_FILE
    shutil.copyfile(folder / STORE_FILE, copy)
    bundle_store = Store(copy)
    objects = folder / (Path(STORE_FILE).stem + ".artifacts") / OBJECTS
    with bundle_store.read() as con:
        source = _records(con, objects)
    bundle_store.release()
    return source


def _q(con, query: str) -> list[tuple]:
    return con.execute(query).fetchall()


def _records(con, objects: Path) -> ImportSource:
    source = ImportSource()
    names = {}
    for eid, name, stage, created, updated in _q(con, "SELECT experiment_id, name, lifecycle_stage, creation_time, "
                                                      "last_update_time FROM experiments"):
        record = ExperimentRecord(name, stage, to_us(created), to_us(updated), preferred_id=eid)
        names[eid] = record
        source.experiments.append(record)
    for eid, key, value in _q(con, "SELECT experiment_id, key, value FROM experiment_tags"):
        names[eid].tags[key] = value
    runs = {}
    for run_id, eid, name, status, start, end, stage, parent in _q(
            con, "SELECT run_id, experiment_id, run_name, status, start_time, end_time, lifecycle_stage, "
                 "parent_run_id FROM runs ORDER BY start_time, run_id"):
        runs[run_id] = RunRecord(run_id, names[eid].name, name, status, to_us(start), to_us(end), stage, parent)
    for run_id, key, value in _q(con, "SELECT run_id, key, value FROM params"):
        runs[run_id].params[key] = value
    for run_id, key, value in _q(con, "SELECT run_id, key, value FROM tags"):
        runs[run_id].tags[key] = value
    points = con.execute("SELECT run_id, key, coalesce(value, 'NaN'::DOUBLE) AS value, step, "
                         "epoch_us(timestamp) AS ts FROM metrics").fetchnumpy()
    for run_id, columns in group_points(points["run_id"], points["key"], points["value"], points["step"],
                                        points["ts"]).items():
        runs[run_id].metrics.extend(*columns)
    for run_id, path, size, sha, media, created in _q(con, "SELECT run_id, path, size, sha256, media_type, "
                                                           "created_at FROM artifacts ORDER BY run_id, path"):
        if not _SHA256.match(sha or ""):
            raise InvalidInputError(f"bundle artifact {path!r} of run {run_id} has an invalid sha256 {sha!r}")
        local = objects / sha[:2] / sha
        if not local.is_file():
            raise NotFoundError(f"bundle artifact {path!r} of run {run_id}: object {sha} is missing from the bundle")
        runs[run_id].artifacts.append(ArtifactRecord(path, local, sha, size, media, to_us(created)))
    for run_id, dataset_id, context in _q(con, "SELECT run_id, dataset_id, context FROM run_inputs"):
        runs[run_id].inputs.append((dataset_id, context))
    source.runs = list(runs.values())
    for row in _q(con, "SELECT dataset_id, name, digest, source, source_type, schema, row_count, created_at "
                       "FROM datasets"):
        source.datasets.append(DatasetRecord(*row[:7], to_us(row[7])))
    models = {}
    for name, description, created, updated in _q(con, "SELECT name, description, created_at, last_updated_at "
                                                       "FROM registered_models"):
        models[name] = RegisteredModelRecord(name, to_us(created), to_us(updated), description)
    for name, key, value in _q(con, "SELECT name, key, value FROM registered_model_tags"):
        models[name].tags[key] = value
    versions = {}
    for name, version, run_id, src, description, created in _q(
            con, "SELECT name, version, run_id, source_uri, description, created_at FROM model_versions"):
        versions[(name, version)] = ModelVersionRecord(name, version, run_id, src, to_us(created), description)
        models[name].versions.append(versions[(name, version)])
    for name, version, key, value in _q(con, "SELECT name, version, key, value FROM model_version_tags"):
        versions[(name, version)].tags[key] = value
    for name, alias, version in _q(con, "SELECT name, alias, version FROM model_aliases"):
        models[name].aliases[alias] = version
    source.models = list(models.values())
    return source


def import_bundle(bundle: str | os.PathLike, store: Store | None = None, progress=None) -> MergeReport:
    """Merge a bundle (folder or ``.zip``) into the store; a conflicting run raises ``RunConflictError``.

    >>> report = duckml.interop.bundle.import_bundle("handover.zip")  # doctest: +SKIP
    >>> len(report.runs_imported), len(report.runs_skipped)  # doctest: +SKIP
    (12, 0)
    """
    store = store or get_store()
    store.create()  # importing is writing: it creates the store if there is none
    path = Path(bundle)
    if not path.exists():
        raise NotFoundError(f"bundle {path} does not exist")
    with tempfile.TemporaryDirectory(prefix="duckml-bundle-in-") as tmp:
        work = Path(tmp)
        folder = _unzip(path, work / "unzipped") if path.is_file() else path
        if path.is_file() and not (folder / MANIFEST).exists():
            inner = [p.parent for p in folder.glob(f"*/{MANIFEST}")]
            folder = inner[0] if len(inner) == 1 else folder
        source = read_bundle(folder, work)
        if progress:
            progress(f"bundle holds {len(source.runs)} run(s) in {len(source.experiments)} experiment(s)")
        return merge(store, source, versions="renumber", on_conflict="raise", progress=progress)
