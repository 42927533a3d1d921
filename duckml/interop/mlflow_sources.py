"""Read an MLflow tracking store without the ``mlflow`` package: its SQLite database or its ``mlruns/`` folder.

Both readers return an ``ImportSource`` (``records.py``). What MLflow stores differently from what was logged
is undone here: a NaN metric is a ``0`` with ``is_nan`` set in SQLite (it comes back as NaN); ±inf, clamped
to ±DBL_MAX there, stays ±DBL_MAX, which is what MLflow's own client reads back; file-store run statuses are enum numbers. MLflow 3 keeps a model logged from
a run outside the run's artifacts (``<experiment>/models/m-<id>/artifacts``, registry source
``models:/m-<id>``): its files become artifacts of the run under the model's name, and the version's
source becomes ``runs:/<run>/<name>``, so duckml resolves it like any model of the run.

The store is data someone handed over, read as such (``source_files.py``): no symlink is followed, an
artifact folder outside the tracking folder (the ``mlruns/`` folder, or the ``mlruns/`` and ``mlartifacts/``
folders beside ``mlflow.db``) is skipped with a note unless the caller names it in ``artifact_roots_ok``,
and YAML aliases are refused.
Every column has the SQLite storage type MLflow writes (checked with ``typeof`` before reading, so NULL,
text or oversized numbers give one error naming table and column); metric points outside years
1900..9999 are counted and left out before any unit conversion.

The SQLite database is opened read-only (``mode=ro`` URI). The tables read exist in MLflow's alembic
versions since 2.0 (``datasets``/``inputs`` since 2.4, aliases since 2.3, ``logged_models`` since 3.0);
missing ones are simply empty.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote

import numpy as np

from duckml.errors import InvalidInputError, NotFoundError
from duckml.interop.checks import points_in_range
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
from duckml.interop import mlflow_logged_models as logged_model_files
from duckml.interop.mlflow_rows import _key_files, _meta_ms, _meta_text, _select, _tables, local_path
from duckml.interop.source_files import SourceTree, inside

_FILE_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
RUN_NAME_TAG = "mlflow.runName"
PARENT_TAG = "mlflow.parentRunId"
CONTEXT_TAG = "mlflow.data.context"
EXPERIMENT_ID_TAG = "mlflow.source_experiment_id"  # the experiment's id in the MLflow store
VERSION_SOURCE_TAG = "mlflow.source_version_source"  # a model version's source as MLflow stored it
TRASH = ".trash"


class _Source:
    """What both readers share: the tree read without symlinks, the folders artifacts may come from, notes.

    ``tracking_roots`` are the folders of the store itself: the ``mlruns/`` folder, or for ``mlflow.db`` the
    ``mlruns/`` and ``mlartifacts/`` folders beside it, where MLflow writes artifacts by default (not the
    database's whole folder, which may be a home directory).
    """

    def __init__(self, folder: Path, tracking_roots: list[Path], origin: str, artifact_roots_ok=()):
        self.source = ImportSource()
        self.tree = SourceTree(folder, self.source.notes)
        self.origin = origin
        self.tracking_roots = tracking_roots
        self.bases = [*tracking_roots, *(Path(p) for p in artifact_roots_ok)]

    def artifacts(self, root: Path | None, prefix: str = "") -> list[ArtifactRecord]:
        """Every regular file under an artifact folder, if the folder may be read (see the module docstring)."""
        if root is None:
            return []
        checked, why = inside(root, self.bases)
        if checked is None and why.startswith("it is outside"):
            roots = " and ".join(str(p) for p in self.tracking_roots)
            allowed = " or a folder named with --artifact-root-ok" if len(self.bases) > len(self.tracking_roots) else ""
            self.source.notes.append(f"artifacts in {root} skipped: they are outside {roots}{allowed}; name "
                                     "their folder with --artifact-root-ok DIR (artifact_roots_ok=) to import them")
        elif checked is None:
            self.source.notes.append(f"artifacts in {root} skipped: {why}, and symlinks are not followed")
        if checked is None:
            return []
        return [ArtifactRecord(f"{prefix}/{relative}" if prefix else relative, path)
                for relative, path in self.tree.files(checked)]


def _keep_experiment_id(experiment: ExperimentRecord, mlflow_id: str) -> None:
    """MLflow's experiment id, as a tag: duckml makes its own ids, and ``duckml.mlflow`` finds the tag."""
    experiment.tags.setdefault(EXPERIMENT_ID_TAG, mlflow_id)


def _run_name(name, tags: dict) -> str | None:
    return name or tags.get(RUN_NAME_TAG)


def _finish_runs(reader: _Source, logged_models: list) -> None:
    """Attach MLflow 3 logged models to their runs and point registry sources at run paths."""
    source = reader.source
    runs = {r.run_id: r for r in source.runs}
    placed = logged_model_files.place(reader, logged_models, runs)
    for model in source.models:
        for version in model.versions:
            if version.source_uri:
                version.tags.setdefault(VERSION_SOURCE_TAG, version.source_uri)
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


def _keep_points(reader: _Source, steps, stamps_ms) -> np.ndarray:
    keep = points_in_range(steps, stamps_ms)
    reader.source.points_skipped += int(len(keep) - keep.sum())
    return keep


# -- SQLite ------------------------------------------------------------------------------------------------------
def read_sqlite(path: str | os.PathLike, progress=None, artifact_roots_ok=()) -> ImportSource:
    """Read an MLflow SQLite tracking database (opened read-only)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"MLflow database {path} does not exist")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        tables = _tables(con)
    except sqlite3.Error as error:
        raise InvalidInputError(f"{path} is not an SQLite database: {error}") from None
    try:
        if not {"experiments", "runs", "metrics", "params", "tags"} <= tables:
            raise InvalidInputError(f"{path} is not an MLflow tracking database (no experiments/runs tables)")
        folder = Path(os.path.abspath(path)).parent
        reader = _Source(folder, [folder / "mlruns", folder / "mlartifacts"], f"MLflow database {path}",
                         artifact_roots_ok)
        return _read_sqlite(con, path, tables, reader, progress)
    finally:
        con.close()


def _read_sqlite(con, path: Path, tables: set[str], reader: _Source, progress) -> ImportSource:
    source = reader.source
    experiments = {}
    for eid, name, stage, created, updated in _select(con, path, "experiments", {
            "experiment_id": "id", "name": "text", "lifecycle_stage": "text?", "creation_time": "int?",
            "last_update_time": "int?"}):
        experiments[str(eid)] = ExperimentRecord(name, stage or "active", ms_to_us(created or 0),
                                                 ms_to_us(updated or created or 0))
        _keep_experiment_id(experiments[str(eid)], str(eid))
    if "experiment_tags" in tables:
        for key, value, eid in _select(con, path, "experiment_tags",
                                       {"key": "text", "value": "text?", "experiment_id": "id"}):
            if str(eid) in experiments:
                experiments[str(eid)].tags[key] = value
    source.experiments = list(experiments.values())
    runs = {}
    for run_id, name, status, start, end, stage, artifact_uri, eid in _select(con, path, "runs", {
            "run_uuid": "text", "name": "text?", "status": "text?", "start_time": "int?", "end_time": "int?",
            "lifecycle_stage": "text?", "artifact_uri": "text?", "experiment_id": "id"},
            "ORDER BY start_time, run_uuid"):
        if str(eid) not in experiments:
            continue
        run = RunRecord(run_id, experiments[str(eid)].name, name, status or "FINISHED", ms_to_us(start or 0),
                        ms_to_us(end), stage or "active")
        run.artifacts = reader.artifacts(local_path(artifact_uri))
        runs[run_id] = run
    for table, attribute in (("params", "params"), ("tags", "tags")):
        for key, value, run_id in _select(con, path, table, {"key": "text", "value": "text?", "run_uuid": "text"}):
            if run_id in runs:
                getattr(runs[run_id], attribute)[key] = value
    count = _read_sqlite_metrics(con, path, runs, reader)
    if progress:
        progress(f"read {len(experiments)} experiment(s), {len(runs)} run(s), {count} metric point(s)")
    for run in runs.values():
        _settle_tags(run)
    source.runs = list(runs.values())
    if {"datasets", "inputs"} <= tables:
        _read_sqlite_datasets(con, path, tables, source, runs)
    logged = logged_model_files.read_sqlite(con, path, tables, {eid: e.name for eid, e in experiments.items()},
                                            source)
    if "registered_models" in tables:
        source.models = _read_sqlite_registry(con, path, tables)
    _finish_runs(reader, logged)
    return source


def _read_sqlite_metrics(con, path: Path, runs: dict[str, RunRecord], reader: _Source) -> int:
    """Every metric point, in bulk: column arrays, NaN and ±inf restored, points out of range left out."""
    rows = _select(con, path, "metrics", {"run_uuid": "text", "key": "text", "value": "num?", "timestamp": "int",
                                          "step": "int", "is_nan": "int?"})
    if not rows:
        return 0
    run_ids, keys, values, stamps, steps, is_nan = zip(*rows)
    values = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    values[np.array([bool(n) for n in is_nan], dtype=bool)] = np.nan
    # MLflow's SQL store clamps ±inf to ±DBL_MAX and its own client reads ±DBL_MAX back: so does duckml
    stamps = np.asarray(stamps, dtype=np.int64)  # SQLite integers are 64-bit: only the unit change could wrap
    steps = np.asarray(steps, dtype=np.int64)
    keep = _keep_points(reader, steps, stamps)
    run_ids, keys = np.asarray(run_ids, dtype=object)[keep], np.asarray(keys, dtype=object)[keep]
    count = 0
    for run_id, (k, v, st, ts) in group_points(run_ids, keys, values[keep], steps[keep],
                                               stamps[keep] * 1000).items():
        if run_id in runs:
            runs[run_id].metrics.extend(k, v, st, ts)
            count += len(k)
    return count


def _settle_tags(run: RunRecord) -> None:
    run.run_name = _run_name(run.run_name, run.tags)
    run.tags.pop(RUN_NAME_TAG, None)  # duckml keeps the run name in its own column
    run.parent_run_id = run.tags.get(PARENT_TAG) or None


def _read_sqlite_datasets(con, path: Path, tables, source: ImportSource, runs: dict) -> None:
    input_tags: dict[str, dict[str, str]] = {}
    if "input_tags" in tables:
        for input_id, name, value in _select(con, path, "input_tags",
                                             {"input_uuid": "text", "name": "text", "value": "text?"}):
            input_tags.setdefault(input_id, {})[name] = value
    wanted = set()
    for input_id, source_type, source_id, dest_type, dest_id in _select(con, path, "inputs", {
            "input_uuid": "text", "source_type": "text", "source_id": "text", "destination_type": "text",
            "destination_id": "text"}):
        if source_type == "DATASET" and dest_type == "RUN" and dest_id in runs:
            _add_input(runs[dest_id], source_id, input_tags.get(input_id, {}))
            wanted.add(source_id)
    for uuid, name, digest, stype, src, schema, profile in _select(con, path, "datasets", {
            "dataset_uuid": "text", "name": "text", "digest": "text", "dataset_source_type": "text?",
            "dataset_source": "text?", "dataset_schema": "text?", "dataset_profile": "text?"}):
        if uuid in wanted:
            source.datasets.append(DatasetRecord(uuid, name, digest, src or "", stype or "unknown", schema,
                                                 _row_count(profile), 0, profile))


def _add_input(run: RunRecord, dataset_id: str, tags: dict) -> None:
    """A dataset input of a run; its tags besides the context are kept beside it."""
    context = tags.get(CONTEXT_TAG) or "training"
    run.inputs.append((dataset_id, context))
    others = {key: value for key, value in tags.items() if key != CONTEXT_TAG}
    if others:
        run.input_tags[(dataset_id, context)] = others


def _row_count(profile) -> int | None:
    try:
        value = json.loads(profile).get("num_rows") if profile else None
        return int(value) if value is not None and 0 <= int(value) < 2**63 else None
    except (ValueError, TypeError, AttributeError, OverflowError):
        return None


def _read_sqlite_registry(con, path: Path, tables) -> list[RegisteredModelRecord]:
    models = {}
    for name, created, updated, description in _select(con, path, "registered_models", {
            "name": "text", "creation_time": "int?", "last_updated_time": "int?", "description": "text?"}):
        models[name] = RegisteredModelRecord(name, ms_to_us(created or 0), ms_to_us(updated or created or 0),
                                             description)
    if "registered_model_tags" in tables:
        for key, value, name in _select(con, path, "registered_model_tags",
                                        {"key": "text", "value": "text?", "name": "text"}):
            if name in models:
                models[name].tags[key] = value
    versions = {}
    if "model_versions" in tables:
        for name, version, created, updated, stage, description, source, run_id in _select(
                con, path, "model_versions", {
                    "name": "text", "version": "int", "creation_time": "int?", "last_updated_time": "int?",
                    "current_stage": "text?", "description": "text?", "source": "text?", "run_id": "text?"}):
            if name in models:
                record = ModelVersionRecord(name, version, run_id or None, source or "", ms_to_us(created or 0),
                                            description, stage=stage or "None",
                                            last_updated_at=ms_to_us(updated or created or 0))
                models[name].versions.append(record)
                versions[(name, version)] = record
    if "model_version_tags" in tables:
        for key, value, name, version in _select(con, path, "model_version_tags", {
                "key": "text", "value": "text?", "name": "text", "version": "int"}):
            if (name, version) in versions:
                versions[(name, version)].tags[key] = value
    if "registered_model_aliases" in tables:
        for alias, version, name in _select(con, path, "registered_model_aliases",
                                            {"alias": "text", "version": "int", "name": "text"}):
            if name in models:
                models[name].aliases[alias] = version
    return list(models.values())


# -- the mlruns/ file store ----------------------------------------------------------------------------------
def read_file_store(root: str | os.PathLike, progress=None, artifact_roots_ok=()) -> ImportSource:
    """Read an MLflow ``mlruns/`` folder (the legacy file store)."""
    root = Path(root)
    if not root.is_dir():
        raise NotFoundError(f"MLflow store folder {root} does not exist")
    reader = _Source(root, [root], f"MLflow store {root}", artifact_roots_ok)
    tree, source = reader.tree, reader.source
    runs: dict[str, RunRecord] = {}
    logged = []
    datasets: dict[str, DatasetRecord] = {}
    trash = tree.dir(root / TRASH)  # MLflow moves a deleted experiment's folder there
    for exp_dir in [*tree.subdirs(root), *tree.subdirs(trash)]:
        meta_path = tree.file(exp_dir / "meta.yaml")
        meta = tree.yaml(meta_path) if meta_path else {}
        if "name" not in meta:
            continue
        created = _meta_ms(meta, "creation_time", meta_path) or 0
        deleted = trash is not None and exp_dir.parent == trash
        experiment = ExperimentRecord(_meta_text(meta, "name", meta_path),
                                      "deleted" if deleted else _meta_text(meta, "lifecycle_stage", meta_path)
                                      or "active",
                                      ms_to_us(created), ms_to_us(_meta_ms(meta, "last_update_time", meta_path)
                                                                  or created),
                                      _key_files(tree, exp_dir / "tags"))
        _keep_experiment_id(experiment, _meta_text(meta, "experiment_id", meta_path) or exp_dir.name)
        source.experiments.append(experiment)
        for ds_dir in tree.subdirs(tree.dir(exp_dir / "datasets")):
            if (ds_meta := tree.file(ds_dir / "meta.yaml")) is None:
                continue
            d = tree.yaml(ds_meta)
            datasets[ds_dir.name] = DatasetRecord(
                ds_dir.name, _meta_text(d, "name", ds_meta) or "", _meta_text(d, "digest", ds_meta) or "",
                _meta_text(d, "source", ds_meta) or "", _meta_text(d, "source_type", ds_meta) or "unknown",
                _meta_text(d, "schema", ds_meta), _row_count(_meta_text(d, "profile", ds_meta)), 0,
                _meta_text(d, "profile", ds_meta))
        for model_dir in tree.subdirs(tree.dir(exp_dir / "models")):
            if (model := logged_model_files.read_file_model(reader, model_dir, experiment.name)) is not None:
                logged.append(model)
        for run_dir in tree.subdirs(exp_dir):
            run = _read_file_run(reader, run_dir, experiment.name)
            if run is not None:
                runs[run.run_id] = run
    source.runs = sorted(runs.values(), key=lambda r: (r.start_time, r.run_id))
    wanted = {d for r in source.runs for d, _ in r.inputs}
    source.datasets = [d for key, d in datasets.items() if key in wanted]
    if progress:
        points = sum(len(r.metrics) for r in source.runs)
        progress(f"read {len(source.experiments)} experiment(s), {len(runs)} run(s), {points} metric point(s)")
    source.models = _read_file_registry(tree, tree.dir(root / "models"))
    _finish_runs(reader, logged)
    return source


def _read_metric_file(reader: _Source, run: RunRecord, key: str, path: Path) -> None:
    """Lines ``<timestamp ms> <value> [<step>]``; a malformed line is an error naming the file and line."""
    stamps, values, steps = [], [], []
    for number, line in enumerate(reader.tree.read_text(path).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if not 2 <= len(parts) <= 3:
                raise ValueError("expected '<timestamp ms> <value> [<step>]'")
            stamps.append(int(parts[0]))
            values.append(float(parts[1]))
            steps.append(int(parts[2]) if len(parts) > 2 else 0)
        except ValueError as error:
            raise InvalidInputError(f"{reader.origin}: {path.relative_to(reader.tree.root).as_posix()} line "
                                    f"{number} is not a metric point ({line[:60]!r}: {error})") from None
    keep = _keep_points(reader, steps, stamps)
    for stamp, value, step, ok in zip(stamps, values, steps, keep.tolist()):
        if ok:
            run.metrics.add(key, value, step, stamp * 1000)


def _read_file_run(reader: _Source, run_dir: Path, experiment_name: str) -> RunRecord | None:
    tree = reader.tree
    meta_path = tree.file(run_dir / "meta.yaml")
    meta = tree.yaml(meta_path) if meta_path else {}
    run_id = _meta_text(meta, "run_id", meta_path) or _meta_text(meta, "run_uuid", meta_path)
    if not run_id:
        return None
    status = meta.get("status")
    status = _FILE_STATUS.get(status, str(status)) if isinstance(status, int) else (
        _meta_text(meta, "status", meta_path) or "FINISHED")
    run = RunRecord(run_id, experiment_name,
                    _meta_text(meta, "run_name", meta_path) or _meta_text(meta, "name", meta_path) or None, status,
                    ms_to_us(_meta_ms(meta, "start_time", meta_path) or 0),
                    ms_to_us(_meta_ms(meta, "end_time", meta_path)),
                    _meta_text(meta, "lifecycle_stage", meta_path) or "active")
    run.params = _key_files(tree, run_dir / "params")
    run.tags = _key_files(tree, run_dir / "tags")
    for key, path in tree.files(run_dir / "metrics"):
        _read_metric_file(reader, run, key, path)
    artifact_root = local_path(_meta_text(meta, "artifact_uri", meta_path)) or run_dir / "artifacts"
    run.artifacts = reader.artifacts(artifact_root)
    for input_dir in tree.subdirs(tree.dir(run_dir / "inputs")):
        if (input_meta := tree.file(input_dir / "meta.yaml")) is None:
            continue
        i = tree.yaml(input_meta)
        if i.get("source_type") == "DATASET":
            tags = i.get("tags") if isinstance(i.get("tags"), dict) else {}
            _add_input(run, _meta_text(i, "source_id", input_meta),
                       {str(key): _meta_text(tags, key, input_meta) for key in tags})
    _settle_tags(run)
    return run


def _read_file_registry(tree: SourceTree, models_dir: Path | None) -> list[RegisteredModelRecord]:
    models = []
    for folder in tree.subdirs(models_dir):
        if (meta_path := tree.file(folder / "meta.yaml")) is None:
            continue
        meta = tree.yaml(meta_path)
        model = RegisteredModelRecord(_meta_text(meta, "name", meta_path) or folder.name,
                                      ms_to_us(_meta_ms(meta, "creation_timestamp", meta_path) or 0),
                                      ms_to_us(_meta_ms(meta, "last_updated_timestamp", meta_path) or 0),
                                      _meta_text(meta, "description", meta_path), _key_files(tree, folder / "tags"))
        aliases = meta.get("aliases") if isinstance(meta.get("aliases"), dict) else {}
        aliases = {**aliases, **_key_files(tree, folder / "aliases")}
        model.aliases = {str(k): _version_number(v, meta_path) for k, v in aliases.items()}
        for version_dir in tree.subdirs(folder):
            if not version_dir.name.startswith("version-") or (
                    version_meta := tree.file(version_dir / "meta.yaml")) is None:
                continue
            v = tree.yaml(version_meta)
            created = _meta_ms(v, "creation_timestamp", version_meta) or 0
            model.versions.append(ModelVersionRecord(
                model.name, _version_number(v.get("version"), version_meta),
                _meta_text(v, "run_id", version_meta) or None, _meta_text(v, "source", version_meta) or "",
                ms_to_us(created), _meta_text(v, "description", version_meta), _key_files(tree, version_dir / "tags"),
                _meta_text(v, "current_stage", version_meta) or "None",
                ms_to_us(_meta_ms(v, "last_updated_timestamp", version_meta) or created)))
        models.append(model)
    return models


def _version_number(value, path: Path) -> int:
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if isinstance(text, str) and text.isdigit() and len(text) < 12:
        return int(text)
    raise InvalidInputError(f"{path}: version {value!r:.60} is not a version number")


def read_tracking_uri(uri: str, progress=None, artifact_roots_ok=()) -> ImportSource:
    """An ``ImportSource`` from ``sqlite:///path.db``, ``file:///…/mlruns`` or a plain ``mlruns`` folder path.

    Artifact folders outside the tracking folder are read only when they lie in one of ``artifact_roots_ok``.
    """
    if uri.startswith("sqlite:///"):
        return read_sqlite(unquote(uri[len("sqlite:///"):].split("?", 1)[0]), progress, artifact_roots_ok)
    if uri.startswith("sqlite:"):
        raise InvalidInputError(f"tracking URI {uri!r}: use sqlite:///relative.db or sqlite:////absolute/path.db")
    folder = local_path(uri)
    if folder is None:
        raise InvalidInputError(f"tracking URI {uri!r} is not supported: give sqlite:///mlflow.db or an mlruns/ "
                                "folder (remote tracking servers and databases other than SQLite are not read)")
    if folder.is_file():
        return read_sqlite(folder, progress, artifact_roots_ok)
    return read_file_store(folder, progress, artifact_roots_ok)
