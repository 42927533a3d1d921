"""Read an MLflow tracking store without the ``mlflow`` package: its SQLite database or its ``mlruns/`` folder.

Both readers return an ``ImportSource`` (``records.py``). What MLflow stores differently from what was logged
is undone here: a NaN metric is a ``0`` with ``is_nan`` set in SQLite, and ±inf is clamped to ±DBL_MAX there
(both come back as NaN/±inf); file-store run statuses are enum numbers. MLflow 3 keeps a model logged from
a run outside the run's artifacts (``<experiment>/models/m-<id>/artifacts``, registry source
``models:/m-<id>``): its files become artifacts of the run under the model's name, and the version's
source becomes ``runs:/<run>/<name>``, so duckml resolves it like any model of the run.

The SQLite database is opened read-only (``mode=ro`` URI). The tables read exist in MLflow's alembic
versions since 2.0 (``datasets``/``inputs`` since 2.4, aliases since 2.3, ``logged_models`` since 3.0);
missing ones are simply empty.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np

from duckml.errors import InvalidInputError, NotFoundError
from duckml.interop.records import (
    ArtifactRecord,
    DatasetRecord,
    ExperimentRecord,
    ImportSource,
    ModelVersionRecord,
    RegisteredModelRecord,
    RunRecord,
    group_points,
    ms_to_us,
)

_DBL_MAX = sys.float_info.max
_FILE_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
RUN_NAME_TAG = "mlflow.runName"
PARENT_TAG = "mlflow.parentRunId"
CONTEXT_TAG = "mlflow.data.context"


def local_path(uri: str | None) -> Path | None:
    """The local folder behind an MLflow artifact URI (``file://`` or a plain path), else None.

    >>> str(local_path("file:///tmp/mlruns/1/abc/artifacts"))
    '/tmp/mlruns/1/abc/artifacts'
    >>> local_path("s3://bucket/x") is None
    True
    """
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(uri)
    return None


def _walk(root: Path | None, prefix: str = "") -> list[ArtifactRecord]:
    """Every regular file under ``root`` (symlinks are not followed: they could point anywhere)."""
    if root is None or not root.is_dir():
        return []
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            relative = path.relative_to(root).as_posix()
            found.append(ArtifactRecord(f"{prefix}/{relative}" if prefix else relative, path))
    return found


def _run_name(name, tags: dict) -> str | None:
    return name or tags.get(RUN_NAME_TAG)


def _finish_runs(source: ImportSource, logged_models: dict[str, tuple[str, str, Path | None]]) -> None:
    """Attach MLflow 3 logged models to their runs and point registry sources at run paths."""
    runs = {r.run_id: r for r in source.runs}
    placed: dict[str, str] = {}
    for model_id, (run_id, name, location) in logged_models.items():
        run = runs.get(run_id)
        if run is None or location is None:
            continue
        taken = {a.path.split("/", 1)[0] for a in run.artifacts}
        path = name if name not in taken else f"{name}-{model_id}"
        run.artifacts.extend(_walk(location, path))
        placed[model_id] = f"runs:/{run_id}/{path}"
    for model in source.models:
        for version in model.versions:
            version.source_uri = _version_source(version, placed, runs)


def _version_source(version: ModelVersionRecord, placed: dict[str, str], runs: dict[str, RunRecord]) -> str:
    source = version.source_uri or ""
    if source.startswith("models:/m-") and source[len("models:/"):] in placed:
        return placed[source[len("models:/"):]]
    if source.startswith("runs:/"):
        return source
    run = runs.get(version.run_id or "")
    if run is not None:
        marker = f"/{run.run_id}/artifacts/"
        if marker in source:
            return f"runs:/{run.run_id}/{source.split(marker, 1)[1].strip('/')}"
    return source


# -- SQLite ------------------------------------------------------------------------------------------------------
def _tables(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _columns(con, table: str) -> set[str]:
    return {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}


def read_sqlite(path: str | os.PathLike, progress=None) -> ImportSource:
    """Read an MLflow SQLite tracking database (opened read-only)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"MLflow database {path} does not exist")
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = _tables(con)
        if not {"experiments", "runs", "metrics", "params", "tags"} <= tables:
            raise InvalidInputError(f"{path} is not an MLflow tracking database (no experiments/runs tables)")
        return _read_sqlite(con, tables, progress)
    finally:
        con.close()


def _read_sqlite(con, tables: set[str], progress) -> ImportSource:
    source = ImportSource()
    experiments = {}
    for eid, name, stage, created, updated in con.execute(
            "SELECT experiment_id, name, lifecycle_stage, creation_time, last_update_time FROM experiments"):
        experiments[str(eid)] = ExperimentRecord(name, stage or "active", ms_to_us(created or 0),
                                                 ms_to_us(updated or created or 0))
    for key, value, eid in con.execute("SELECT key, value, experiment_id FROM experiment_tags"):
        if str(eid) in experiments:
            experiments[str(eid)].tags[key] = value
    source.experiments = list(experiments.values())
    runs = {}
    for run_id, name, status, start, end, stage, artifact_uri, eid in con.execute(
            "SELECT run_uuid, name, status, start_time, end_time, lifecycle_stage, artifact_uri, experiment_id "
            "FROM runs ORDER BY start_time, run_uuid"):
        if str(eid) not in experiments:
            continue
        run = RunRecord(run_id, experiments[str(eid)].name, name, status or "FINISHED", ms_to_us(start or 0),
                        ms_to_us(end), stage or "active")
        run.artifacts = _walk(local_path(artifact_uri))
        runs[run_id] = run
    for key, value, run_id in con.execute("SELECT key, value, run_uuid FROM params"):
        if run_id in runs:
            runs[run_id].params[key] = value
    for key, value, run_id in con.execute("SELECT key, value, run_uuid FROM tags"):
        if run_id in runs:
            runs[run_id].tags[key] = value
    count = _read_sqlite_metrics(con, runs)
    if progress:
        progress(f"read {len(experiments)} experiment(s), {len(runs)} run(s), {count} metric point(s)")
    for run in runs.values():
        _settle_tags(run)
    source.runs = list(runs.values())
    if {"datasets", "inputs"} <= tables:
        _read_sqlite_datasets(con, tables, source, runs)
    logged = {}
    if "logged_models" in tables:
        for model_id, run_id, name, location in con.execute(
                "SELECT model_id, source_run_id, name, artifact_location FROM logged_models"):
            logged[model_id] = (run_id, name or "model", local_path(location))
    if "registered_models" in tables:
        source.models = _read_sqlite_registry(con, tables)
    _finish_runs(source, logged)
    return source


def _read_sqlite_metrics(con, runs: dict[str, RunRecord]) -> int:
    """Every metric point, in bulk: column arrays, NaN and ±inf restored, split per run."""
    rows = con.execute("SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics").fetchall()
    if not rows:
        return 0
    run_ids, keys, values, stamps, steps, is_nan = zip(*rows)
    values = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    values[np.asarray(is_nan, dtype=bool)] = np.nan
    values[values == _DBL_MAX] = np.inf  # MLflow's SQL store clamps ±inf to ±DBL_MAX
    values[values == -_DBL_MAX] = -np.inf
    stamps = np.asarray(stamps, dtype=np.int64) * 1000
    steps = np.array([s or 0 for s in steps], dtype=np.int64)
    count = 0
    for run_id, (k, v, st, ts) in group_points(run_ids, keys, values, steps, stamps).items():
        if run_id in runs:
            runs[run_id].metrics.extend(k, v, st, ts)
            count += len(k)
    return count


def _settle_tags(run: RunRecord) -> None:
    run.run_name = _run_name(run.run_name, run.tags)
    run.tags.pop(RUN_NAME_TAG, None)  # duckml keeps the run name in its own column
    run.parent_run_id = run.tags.get(PARENT_TAG)


def _read_sqlite_datasets(con, tables, source: ImportSource, runs: dict) -> None:
    contexts = {}
    if "input_tags" in tables:
        for input_id, name, value in con.execute("SELECT input_uuid, name, value FROM input_tags"):
            if name == CONTEXT_TAG:
                contexts[input_id] = value
    wanted = set()
    for input_id, source_type, source_id, dest_type, dest_id in con.execute(
            "SELECT input_uuid, source_type, source_id, destination_type, destination_id FROM inputs"):
        if source_type == "DATASET" and dest_type == "RUN" and dest_id in runs:
            runs[dest_id].inputs.append((source_id, contexts.get(input_id) or "training"))
            wanted.add(source_id)
    for uuid, name, digest, stype, src, schema, profile in con.execute(
            "SELECT dataset_uuid, name, digest, dataset_source_type, dataset_source, dataset_schema, "
            "dataset_profile FROM datasets"):
        if uuid in wanted:
            source.datasets.append(DatasetRecord(uuid, name, digest, src or "", stype or "unknown", schema,
                                                 _row_count(profile), 0))


def _row_count(profile) -> int | None:
    try:
        value = json.loads(profile).get("num_rows") if profile else None
        return int(value) if value is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def _read_sqlite_registry(con, tables) -> list[RegisteredModelRecord]:
    models = {}
    for name, created, updated, description in con.execute(
            "SELECT name, creation_time, last_updated_time, description FROM registered_models"):
        models[name] = RegisteredModelRecord(name, ms_to_us(created or 0), ms_to_us(updated or created or 0),
                                             description)
    if "registered_model_tags" in tables:
        for key, value, name in con.execute("SELECT key, value, name FROM registered_model_tags"):
            if name in models:
                models[name].tags[key] = value
    versions = {}
    if "model_versions" in tables:
        for name, version, created, description, source, run_id, stage in con.execute(
                "SELECT name, version, creation_time, description, source, run_id, current_stage "
                "FROM model_versions"):
            if name in models:
                record = ModelVersionRecord(name, int(version), run_id, source or "", ms_to_us(created or 0),
                                            description)
                models[name].versions.append(record)
                versions[(name, int(version))] = record
    if "model_version_tags" in tables:
        for key, value, name, version in con.execute("SELECT key, value, name, version FROM model_version_tags"):
            if (name, int(version)) in versions:
                versions[(name, int(version))].tags[key] = value
    if "registered_model_aliases" in tables:
        for alias, version, name in con.execute("SELECT alias, version, name FROM registered_model_aliases"):
            if name in models:
                models[name].aliases[alias] = int(version)
    return list(models.values())


# -- the mlruns/ file store ----------------------------------------------------------------------------------
def _yaml(path: Path) -> dict:
    import yaml

    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return data if isinstance(data, dict) else {}


def _key_files(folder: Path) -> dict[str, str]:
    """Params/tags of the file store: one file per key (keys with '/' are nested folders)."""
    out = {}
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            out[path.relative_to(folder).as_posix()] = path.read_text(encoding="utf-8")
    return out


def read_file_store(root: str | os.PathLike, progress=None) -> ImportSource:
    """Read an MLflow ``mlruns/`` folder (the legacy file store)."""
    root = Path(root)
    if not root.is_dir():
        raise NotFoundError(f"MLflow store folder {root} does not exist")
    source = ImportSource()
    runs: dict[str, RunRecord] = {}
    logged: dict[str, tuple[str, str, Path | None]] = {}
    datasets: dict[str, DatasetRecord] = {}
    for exp_dir in sorted(p for p in root.iterdir() if p.is_dir() and (p / "meta.yaml").is_file()):
        meta = _yaml(exp_dir / "meta.yaml")
        if "name" not in meta:
            continue
        experiment = ExperimentRecord(str(meta["name"]), meta.get("lifecycle_stage") or "active",
                                      ms_to_us(meta.get("creation_time") or 0),
                                      ms_to_us(meta.get("last_update_time") or meta.get("creation_time") or 0),
                                      _key_files(exp_dir / "tags"))
        source.experiments.append(experiment)
        for ds_dir in sorted((exp_dir / "datasets").glob("*/meta.yaml")):
            d = _yaml(ds_dir)
            datasets[ds_dir.parent.name] = DatasetRecord(ds_dir.parent.name, str(d.get("name", "")),
                                                         str(d.get("digest", "")), d.get("source") or "",
                                                         d.get("source_type") or "unknown", d.get("schema"),
                                                         _row_count(d.get("profile")), 0)
        for model_meta in sorted((exp_dir / "models").glob("m-*/meta.yaml")):
            m = _yaml(model_meta)
            location = local_path(m.get("artifact_location")) or model_meta.parent / "artifacts"
            logged[str(m.get("model_id") or model_meta.parent.name)] = (m.get("source_run_id"),
                                                                          m.get("name") or "model", location)
        for run_meta in sorted(exp_dir.glob("*/meta.yaml")):
            run = _read_file_run(run_meta.parent, experiment.name)
            if run is not None:
                runs[run.run_id] = run
    source.runs = sorted(runs.values(), key=lambda r: (r.start_time, r.run_id))
    wanted = {d for r in source.runs for d, _ in r.inputs}
    source.datasets = [d for key, d in datasets.items() if key in wanted]
    if progress:
        points = sum(len(r.metrics) for r in source.runs)
        progress(f"read {len(source.experiments)} experiment(s), {len(runs)} run(s), {points} metric point(s)")
    source.models = _read_file_registry(root / "models")
    _finish_runs(source, logged)
    return source


def _read_file_run(run_dir: Path, experiment_name: str) -> RunRecord | None:
    meta = _yaml(run_dir / "meta.yaml")
    run_id = meta.get("run_id") or meta.get("run_uuid")
    if not run_id:
        return None
    status = meta.get("status")
    status = _FILE_STATUS.get(status, str(status)) if isinstance(status, int) else str(status or "FINISHED")
    run = RunRecord(str(run_id), experiment_name, meta.get("run_name") or meta.get("name") or None, status,
                    ms_to_us(meta.get("start_time") or 0), ms_to_us(meta.get("end_time")),
                    meta.get("lifecycle_stage") or "active")
    run.params = _key_files(run_dir / "params")
    run.tags = _key_files(run_dir / "tags")
    metrics_dir = run_dir / "metrics"
    if metrics_dir.is_dir():
        for path in sorted(p for p in metrics_dir.rglob("*") if p.is_file()):
            key = path.relative_to(metrics_dir).as_posix()
            for line in path.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    run.metrics.add(key, float(parts[1]), int(parts[2]) if len(parts) > 2 else 0,
                                    ms_to_us(int(parts[0])))
    artifact_root = local_path(meta.get("artifact_uri")) or run_dir / "artifacts"
    run.artifacts = _walk(artifact_root)
    for input_meta in sorted((run_dir / "inputs").glob("*/meta.yaml")):
        i = _yaml(input_meta)
        if i.get("source_type") == "DATASET":
            context = (i.get("tags") or {}).get(CONTEXT_TAG) or "training"
            run.inputs.append((str(i.get("source_id")), str(context)))
    _settle_tags(run)
    return run


def _read_file_registry(models_dir: Path) -> list[RegisteredModelRecord]:
    models = []
    for meta_path in sorted(models_dir.glob("*/meta.yaml")):
        meta = _yaml(meta_path)
        folder = meta_path.parent
        model = RegisteredModelRecord(str(meta.get("name") or folder.name),
                                      ms_to_us(meta.get("creation_timestamp") or 0),
                                      ms_to_us(meta.get("last_updated_timestamp") or 0),
                                      meta.get("description"), _key_files(folder / "tags"))
        aliases = dict(meta.get("aliases") or {})
        aliases.update(_key_files(folder / "aliases"))
        model.aliases = {str(k): int(v) for k, v in aliases.items()}
        for version_meta in sorted(folder.glob("version-*/meta.yaml")):
            v = _yaml(version_meta)
            model.versions.append(ModelVersionRecord(
                model.name, int(v["version"]), v.get("run_id"), str(v.get("source") or ""),
                ms_to_us(v.get("creation_timestamp") or 0), v.get("description"),
                _key_files(version_meta.parent / "tags")))
        models.append(model)
    return models


def read_tracking_uri(uri: str, progress=None) -> ImportSource:
    """An ``ImportSource`` from ``sqlite:///path.db``, ``file:///…/mlruns`` or a plain ``mlruns`` folder path."""
    if uri.startswith("sqlite:///"):
        return read_sqlite(unquote(uri[len("sqlite:///"):].split("?", 1)[0]), progress)
    if uri.startswith("sqlite:"):
        raise InvalidInputError(f"tracking URI {uri!r}: use sqlite:///relative.db or sqlite:////absolute/path.db")
    folder = local_path(uri)
    if folder is None:
        raise InvalidInputError(f"tracking URI {uri!r} is not supported: give sqlite:///mlflow.db or an mlruns/ "
                                "folder (remote tracking servers and databases other than SQLite are not read)")
    if folder.is_file():
        return read_sqlite(folder, progress)
    return read_file_store(folder, progress)
