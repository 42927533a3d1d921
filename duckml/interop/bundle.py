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
import zlib
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import duckdb
import numpy as np

from duckml.store import schema
from duckml.store.objects import OBJECTS, object_path
from duckml.errors import InvalidInputError, NotFoundError, SchemaError, StoreError, UnsafePathError
from duckml.interop.checks import MAX_US, MIN_US, check_source
from duckml.interop.merge import MergeReport, merge
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
from duckml.interop.source_files import SourceTree
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
# A bundle is someone else's file: a zip is opened manifest first and unpacked only within a size limit (a
# bomb cannot fill the disk), its members are read with their sizes and CRCs checked, and every record of
# its store passes the API's checks (``checks.py``). Errors name the user's file, never the temp folder.
MAX_MANIFEST_BYTES = 1 << 20
_FREE_SPACE_MARGIN = 64 << 20
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)
_OBJECTS_PREFIX = f"{Path(STORE_FILE).stem}.artifacts/{OBJECTS}/"


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (*_ZIP_ERRORS, OSError) as error:
        raise InvalidInputError(f"bundle {path} is not a readable zip file ({error})") from None


def _bundle_members(archive: zipfile.ZipFile, path: Path) -> tuple[zipfile.ZipInfo, list[zipfile.ZipInfo], str]:
    """The manifest, the members to unpack (store file and objects) and their folder prefix in the zip."""
    members = archive.infolist()
    for member in members:
        name = PurePosixPath(member.filename)
        if name.is_absolute() or ".." in name.parts or "\\" in member.filename or ":" in member.filename:
            raise UnsafePathError(f"bundle {path} holds an unsafe path {member.filename!r}; it was not imported")
    manifests = {m.filename: m for m in members if PurePosixPath(m.filename).name == MANIFEST
                 and len(PurePosixPath(m.filename).parts) <= 2}
    if MANIFEST in manifests:
        manifest, prefix = manifests[MANIFEST], ""
    elif len(manifests) == 1:
        manifest = next(iter(manifests.values()))
        prefix = manifest.filename[: -len(MANIFEST)]
    elif manifests:
        raise InvalidInputError(f"{path} holds {len(manifests)} bundles ({', '.join(sorted(manifests))}); "
                                "zip one bundle per file")
    else:
        raise InvalidInputError(f"{path} is not a duckml bundle (no {MANIFEST} in it)")
    wanted = [m for m in members if not m.is_dir() and (
        m.filename == prefix + STORE_FILE or m.filename.startswith(prefix + _OBJECTS_PREFIX))]
    return manifest, wanted, prefix


def _unpack_limit(work: Path, max_bytes: int | None) -> tuple[int, str]:
    if max_bytes is not None:
        return max_bytes, "the limit given"
    free = shutil.disk_usage(work).free - _FREE_SPACE_MARGIN
    return max(free, 0), "the free space for temporary files"


def _unzip(path: Path, into: Path, max_bytes: int | None = None) -> Path:
    """Unpack a zipped bundle's store file and objects into ``into`` after reading its manifest; returns ``into``."""
    with _open_zip(path) as archive:
        manifest, wanted, prefix = _bundle_members(archive, path)
        if manifest.file_size > MAX_MANIFEST_BYTES:
            raise InvalidInputError(f"bundle {path}: its {MANIFEST} declares {manifest.file_size} bytes; a manifest "
                                    f"is a few hundred")
        try:
            manifest_bytes = archive.read(manifest)
        except _ZIP_ERRORS as error:
            raise InvalidInputError(f"bundle {path}: {manifest.filename} is damaged ({error})") from None
        _parse_manifest(manifest_bytes, path)
        declared = sum(m.file_size for m in wanted)
        limit, what = _unpack_limit(into.parent, max_bytes)
        if declared > limit:
            raise InvalidInputError(f"bundle {path} would unpack to {declared:,} bytes, more than {what} "
                                    f"({limit:,} bytes); it was not imported")
        for member in wanted:
            target = into / member.filename[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            _unpack_member(archive, member, target, path)
    into.mkdir(parents=True, exist_ok=True)
    (into / MANIFEST).write_bytes(manifest_bytes)
    return into


def _unpack_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, path: Path) -> None:
    """Copy one member, counting its bytes against its declared size (zipfile checks the CRC at the end)."""
    written = 0
    try:
        with archive.open(member) as source, open(target, "wb") as out:
            while chunk := source.read(1 << 20):
                written += len(chunk)
                if written > member.file_size:
                    raise InvalidInputError(f"bundle {path}: {member.filename} holds more than the "
                                            f"{member.file_size:,} bytes it declares; it was not imported")
                out.write(chunk)
    except _ZIP_ERRORS as error:
        raise InvalidInputError(f"bundle {path}: {member.filename} is damaged ({error})") from None


def _parse_manifest(data: bytes, label: Path) -> dict:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except ValueError as error:
        raise InvalidInputError(f"bundle {label}: {MANIFEST} is not valid JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise InvalidInputError(f"bundle {label}: {MANIFEST} holds a {type(manifest).__name__}, not an object")
    if manifest.get("format") != FORMAT:
        raise SchemaError(f"bundle {label} has format {manifest.get('format')!r:.40}; this duckml reads format "
                          f"{FORMAT}")
    version = manifest.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version > schema.code_version():
        raise SchemaError(f"bundle {label} was written with schema version {version!r:.40}; this duckml knows "
                          f"{schema.code_version()}: upgrade duckml")
    return manifest


def _read_manifest(folder: Path, label: Path) -> dict:
    tree = SourceTree(folder)
    if tree.file(folder / MANIFEST) is None:
        raise InvalidInputError(f"{label} is not a duckml bundle (no {MANIFEST})")
    return _parse_manifest(tree.read_bytes(folder / MANIFEST, MAX_MANIFEST_BYTES), label)


def read_bundle(folder: Path, work: Path, label: Path | None = None) -> ImportSource:
    """An ``ImportSource`` from a bundle folder; its store file is copied into ``work`` and migrated there.
    ``label`` is what errors call the bundle (the user's zip when ``folder`` is where it was unpacked)."""
    label = label or folder
    _read_manifest(folder, label)
    if SourceTree(folder).file(folder / STORE_FILE) is None:
        raise InvalidInputError(f"bundle {label} has no {STORE_FILE}")
    copy = work / STORE_FILE
    shutil.copyfile(folder / STORE_FILE, copy)
    bundle_store = Store(copy)
    objects = folder / (Path(STORE_FILE).stem + ".artifacts") / OBJECTS
    try:
        with bundle_store.read() as con:
            return _records(con, objects)
    except StoreError as error:
        reason = str(error).split(";")[0].replace(str(copy), STORE_FILE)
        raise InvalidInputError(f"bundle {label}: its {STORE_FILE} cannot be opened ({reason})") from None
    except duckdb.Error as error:
        raise InvalidInputError(f"bundle {label}: its {STORE_FILE} cannot be read: "
                                f"{' '.join(str(error).split())[:300]}") from None
    except (InvalidInputError, NotFoundError) as error:
        raise type(error)(f"bundle {label}: {error}; nothing was imported") from None
    finally:
        bundle_store.release()


def _q(con, query: str) -> list[tuple]:
    return con.execute(query).fetchall()


def _us(column: str) -> str:
    """SQL: a TIMESTAMP column as epoch microseconds; ±infinity as a value outside every range, so it is
    refused or counted by the checks rather than read as NULL."""
    return (f"CASE WHEN {column} IS NULL THEN NULL WHEN isfinite({column}) THEN epoch_us({column}) "
            f"ELSE 9223372036854775807 END")


def _owned(owners: dict, key, table: str, what: str):
    if key not in owners:
        raise InvalidInputError(f"table {table} has a row for {what} {key!r:.80}, which the bundle does not hold")
    return owners[key]


def _records(con, objects: Path) -> ImportSource:
    source = ImportSource()
    tree = SourceTree(objects)
    object_folders = tree.dir(objects.parent) and tree.dir(objects)  # neither may be a symlink
    names = {}
    for eid, name, stage, created, updated in _q(con, "SELECT experiment_id, name, lifecycle_stage, "
                                                      f"{_us('creation_time')}, {_us('last_update_time')} "
                                                      "FROM experiments"):
        record = ExperimentRecord(name, stage, created, updated, preferred_id=eid)
        names[eid] = record
        source.experiments.append(record)
    for eid, key, value in _q(con, "SELECT experiment_id, key, value FROM experiment_tags"):
        _owned(names, eid, "experiment_tags", "experiment").tags[key] = value
    runs = {}
    for run_id, eid, name, status, start, end, stage, parent in _q(
            con, f"SELECT run_id, experiment_id, run_name, status, {_us('start_time')}, {_us('end_time')}, "
                 "lifecycle_stage, parent_run_id FROM runs ORDER BY start_time, run_id"):
        experiment = _owned(names, eid, "runs", "experiment")
        runs[run_id] = RunRecord(run_id, experiment.name, name, status, start, end, stage, parent)
    for table in ("params", "tags"):
        for run_id, key, value in _q(con, f"SELECT run_id, key, value FROM {table}"):
            getattr(_owned(runs, run_id, table, "run"), table)[key] = value
    _read_points(con, runs, source)
    for run_id, path, size, sha, media, created in _q(con, "SELECT run_id, path, size, sha256, media_type, "
                                                           f"{_us('created_at')} FROM artifacts ORDER BY run_id, path"):
        run = _owned(runs, run_id, "artifacts", "run")
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise InvalidInputError(f"artifact {path!r} of run {run_id} has an invalid sha256 {sha!r:.80}")
        local = objects / sha[:2] / sha
        if object_folders is None or tree.dir(objects / sha[:2]) is None or tree.file(local) is None:
            raise NotFoundError(f"artifact {path!r} of run {run_id}: object {sha} is missing from the bundle "
                                "(or is a symlink, which an import does not follow)")
        run.artifacts.append(ArtifactRecord(path, local, sha, size, media, created))
    for run_id, dataset_id, context in _q(con, "SELECT run_id, dataset_id, context FROM run_inputs"):
        _owned(runs, run_id, "run_inputs", "run").inputs.append((dataset_id, context))
    source.runs = list(runs.values())
    for row in _q(con, "SELECT dataset_id, name, digest, source, source_type, schema, row_count, "
                       f"{_us('created_at')} FROM datasets"):
        source.datasets.append(DatasetRecord(*row))
    models = {}
    for name, description, created, updated in _q(con, f"SELECT name, description, {_us('created_at')}, "
                                                       f"{_us('last_updated_at')} FROM registered_models"):
        models[name] = RegisteredModelRecord(name, created, updated, description)
    for name, key, value in _q(con, "SELECT name, key, value FROM registered_model_tags"):
        _owned(models, name, "registered_model_tags", "model").tags[key] = value
    versions = {}
    for name, version, run_id, src, description, created in _q(
            con, f"SELECT name, version, run_id, source_uri, description, {_us('created_at')} FROM model_versions"):
        versions[(name, version)] = ModelVersionRecord(name, version, run_id, src, created, description)
        _owned(models, name, "model_versions", "model").versions.append(versions[(name, version)])
    for name, version, key, value in _q(con, "SELECT name, version, key, value FROM model_version_tags"):
        _owned(versions, (name, version), "model_version_tags", "model version").tags[key] = value
    for name, alias, version in _q(con, "SELECT name, alias, version FROM model_aliases"):
        _owned(models, name, "model_aliases", "model").aliases[alias] = version
    source.models = list(models.values())
    return source


def _read_points(con, runs: dict[str, RunRecord], source: ImportSource) -> None:
    """Every metric point; a NULL step or time is an error, a time outside years 1900..9999 is counted and left out."""
    for (run_id,) in _q(con, "SELECT DISTINCT run_id FROM metrics"):
        _owned(runs, run_id, "metrics", "run")
    broken = _q(con, "SELECT run_id, key, step IS NULL FROM metrics WHERE step IS NULL OR timestamp IS NULL LIMIT 1")
    if broken:
        run_id, key, no_step = broken[0]
        raise InvalidInputError(f"metric {key!r:.80} of run {run_id} has a point with no "
                                f"{'step' if no_step else 'timestamp'} (NULL)")
    points = con.execute("SELECT run_id, key, coalesce(value, 'NaN'::DOUBLE) AS value, step::BIGINT AS step, "
                         f"{_us('timestamp')} AS ts FROM metrics").fetchnumpy()
    stamps = np.asarray(points["ts"], dtype=np.int64)
    keep = (stamps >= MIN_US) & (stamps <= MAX_US)
    source.points_skipped += int(len(keep) - keep.sum())
    for run_id, columns in group_points(points["run_id"][keep], points["key"][keep], points["value"][keep],
                                        points["step"][keep], stamps[keep]).items():
        runs[run_id].metrics.extend(*columns)


def import_bundle(bundle: str | os.PathLike, store: Store | None = None, progress=None,
                  max_bytes: int | None = None) -> MergeReport:
    """Merge a bundle (folder or ``.zip``) into the store; a conflicting run raises ``RunConflictError``.

    A zip is unpacked only if its members' declared sizes fit in ``max_bytes`` (default: the free space
    for temporary files). Every record is checked as the API checks it; nothing is written on an error.

    >>> report = duckml.interop.bundle.import_bundle("handover.zip")  # doctest: +SKIP
    >>> len(report.runs_imported), len(report.runs_skipped)  # doctest: +SKIP
    (12, 0)
    """
    store = store or get_store()
    path = Path(bundle)
    if not path.exists():
        raise NotFoundError(f"bundle {path} does not exist")
    with tempfile.TemporaryDirectory(prefix="duckml-bundle-in-") as tmp:
        work = Path(tmp)
        folder = _unzip(path, work / "unzipped", max_bytes) if path.is_file() else path
        source = read_bundle(folder, work, label=path)
        check_source(source, f"bundle {path}", closed=True)
        if progress:
            progress(f"bundle holds {len(source.runs)} run(s) in {len(source.experiments)} experiment(s)")
        store.create()  # importing is writing: it creates the store if there is none
        return merge(store, source, versions="renumber", on_conflict="raise", progress=progress)
