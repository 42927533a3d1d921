"""Write an ``ImportSource`` into a store: ids kept, identical runs skipped, conflicting runs never overwritten.

Three phases keep the store's write lock short: (1) one read classifies every incoming run as new,
identical (same fingerprint) or conflicting; (2) the artifacts of the new runs are copied into the
content-addressed object folder, outside any lock; (3) one ``store.write()`` transaction inserts the rows
of the new runs (rows, params, tags, every metric point, ``_duckml_latest``, artifacts, dataset inputs),
the experiments and datasets they need, and the registry. Runs that appeared meanwhile are left alone.

Writing the run tables here, besides ingest, keeps their one-row-per-key invariant (migration 0004 relies on
it, the tables have no index): ``store.write()`` ingests every pending journal record first, and inside
that transaction only runs absent from the file are inserted, each as a whole.

Registry versions follow one of two policies: ``keep`` (MLflow import: numbers kept, a number taken by
another source is a conflict) or ``renumber`` (bundles: a version whose (run, source) is not yet present
gets the next number, tagged ``duckml.source_version`` with its number in the source store).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from duckml.tracking import artifacts as artifact_files
from duckml.store.ingest import insert_arrow, latest_points_sql, summary_sql
from duckml.errors import InvalidInputError, UnsafePathError
from duckml.interop.records import (
    ImportSource,
    RegisteredModelRecord,
    RunRecord,
    fingerprint,
    group_points,
    record_fingerprint,
    to_datetime,
    to_us,  # noqa: F401  (re-exported: importers and tests convert times with it)
)
from duckml.interop import resync
from duckml.tracking.runs import experiment_id_for

SOURCE_VERSION_TAG = "duckml.source_version"


class RunConflictError(InvalidInputError):
    """Runs of the source exist in the store with other content."""


@dataclass
class MergeReport:
    experiments_created: list[str] = field(default_factory=list)
    runs_imported: list[str] = field(default_factory=list)
    runs_skipped: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    metric_points: int = 0
    artifacts_copied: int = 0
    datasets_added: int = 0
    versions_imported: list[tuple[str, int, int]] = field(default_factory=list)  # (name, source no., new no.)
    versions_skipped: int = 0
    aliases_set: list[tuple[str, str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    metric_points_skipped: int = 0  # outside years 1900..9999 or int64 steps: counted, never stored
    runs_updated: list[str] = field(default_factory=list)  # runs that only grew in the source (update=True)

    def skipped_points_lines(self) -> list[str]:
        """The report line on metric points left out, if any were."""
        if not self.metric_points_skipped:
            return []
        return [f"{self.metric_points_skipped} metric point(s) NOT imported: their timestamps lie outside years "
                "1900..9999 or their steps outside 64-bit integers (log_metric refuses them too)"]


def _say(progress, message: str) -> None:
    if progress is not None:
        progress(message)


# -- phase 1: classify --------------------------------------------------------------------------------------
def _experiment_ids(con, source: ImportSource) -> dict[str, str]:
    by_name = dict(con.execute("SELECT name, experiment_id FROM experiments "
                               "ORDER BY lifecycle_stage = 'active'").fetchall())
    taken = {r[0] for r in con.execute("SELECT experiment_id FROM experiments").fetchall()}
    mapping = {}
    for experiment in source.experiments:
        if experiment.name in by_name:
            mapping[experiment.name] = by_name[experiment.name]
        elif experiment.preferred_id and experiment.preferred_id not in taken:
            mapping[experiment.name] = experiment.preferred_id
        else:
            mapping[experiment.name] = experiment_id_for(experiment.name)
        taken.add(mapping[experiment.name])
    return mapping


def stored_fingerprints(con, run_ids: list[str]) -> dict[str, str]:
    """Fingerprints of those of ``run_ids`` that the store holds (same digest as ``record_fingerprint``)."""
    if not run_ids:
        return {}
    rows = con.execute("SELECT run_id, experiment_id, run_name, status, epoch_us(start_time), epoch_us(end_time), "
                       "lifecycle_stage, parent_run_id FROM runs WHERE run_id IN (SELECT unnest(?))",
                       [run_ids]).fetchall()
    if not rows:
        return {}
    present = [r[0] for r in rows]
    params: dict[str, dict] = {r: {} for r in present}
    tags: dict[str, dict] = {r: {} for r in present}
    for run_id, key, value in con.execute("SELECT run_id, key, value FROM params WHERE run_id IN (SELECT unnest(?))",
                                          [present]).fetchall():
        params[run_id][key] = value
    for run_id, key, value in con.execute("SELECT run_id, key, value FROM tags WHERE run_id IN (SELECT unnest(?))",
                                          [present]).fetchall():
        tags[run_id][key] = value
    points = con.execute("SELECT run_id, key, value, step, epoch_us(timestamp) AS ts FROM metrics "
                         "WHERE run_id IN (SELECT unnest(?))", [present]).fetchnumpy()
    values = np.where(np.ma.getmaskarray(points["value"]), np.nan,
                      np.ma.getdata(points["value"])) if np.ma.isMaskedArray(points["value"]) else points["value"]
    by_run = group_points(points["run_id"], points["key"], values, points["step"], points["ts"])
    empty = (np.array([], dtype=object), np.array([], dtype=np.float64), np.array([], dtype=np.int64),
             np.array([], dtype=np.int64))
    out = {}
    for run_id, experiment_id, name, status, start, end, stage, parent in rows:
        keys, vals, steps, stamps = by_run.get(run_id, empty)
        out[run_id] = fingerprint(experiment_id, name, status, start, end, stage, parent, params[run_id],
                                  tags[run_id], keys, vals, steps, stamps)
    return out


def _present(con, run_ids: list[str]) -> set[str]:
    if not run_ids:
        return set()
    return {r[0] for r in con.execute("SELECT run_id FROM runs WHERE run_id IN (SELECT unnest(?))",
                                      [run_ids]).fetchall()}


# -- phase 2: artifact objects ------------------------------------------------------------------------------
def _copy_artifacts(store, run: RunRecord, report: MergeReport) -> list[dict]:
    objects = Path(store.artifact_root) / artifact_files.OBJECTS
    rows, seen = [], set()
    for item in run.artifacts:
        try:
            path = artifact_files.normalize_artifact_path(item.path, allow_root=False)
        except (UnsafePathError, InvalidInputError) as error:
            report.notes.append(f"run {run.run_id}: artifact {item.path!r} skipped: {error}")
            continue
        if path in seen:
            continue
        seen.add(path)
        staged = artifact_files.stage_file(objects, item.local, path)
        if item.sha256 is not None and staged.sha256 != item.sha256:
            artifact_files.discard_staged([staged])
            raise InvalidInputError(f"artifact {path!r} of run {run.run_id}: file {item.local} has sha256 "
                                    f"{staged.sha256}, but the source records {item.sha256}; it was changed")
        target = artifact_files.object_path(store.artifact_root, staged.sha256)
        if target.exists():
            staged.tmp.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.tmp, target)
        rows.append({"run_id": run.run_id, "path": path, "size": staged.size, "sha256": staged.sha256,
                     "media_type": item.media_type or staged.media_type,
                     "created_at": item.created_at if item.created_at is not None else run.start_time})
        report.artifacts_copied += 1
    return rows


# -- phase 3: rows ---------------------------------------------------------------------------------------------
def _ts(values) -> pa.Array:
    return pa.array(values, pa.int64()).cast(pa.timestamp("us"))




def _run_tables(runs: list[RunRecord], experiment_ids: dict[str, str], artifact_rows: list[dict]) -> dict:
    params = [(r.run_id, k, v) for r in runs for k, v in r.params.items()]
    tags = [(r.run_id, k, v) for r in runs for k, v in r.tags.items()]
    chunks = [(r.run_id, r.metrics.arrays()) for r in runs if len(r.metrics)]
    point_runs = np.concatenate([np.full(len(c[0]), run_id, dtype=object) for run_id, c in chunks]) if chunks else []
    keys, values, steps, stamps = ([np.concatenate([c[i] for _, c in chunks]) for i in range(4)] if chunks
                                   else ([], [], [], []))
    return {
        "runs": pa.table({
            "run_id": [r.run_id for r in runs],
            "experiment_id": [experiment_ids[r.experiment_name] for r in runs],
            "run_name": [r.run_name for r in runs], "status": [r.status for r in runs],
            "start_time": _ts([r.start_time for r in runs]), "end_time": _ts([r.end_time for r in runs]),
            "lifecycle_stage": [r.lifecycle_stage for r in runs], "parent_run_id": [r.parent_run_id for r in runs]}),
        "params": pa.table({"run_id": [p[0] for p in params], "key": [p[1] for p in params],
                            "value": [p[2] for p in params]}),
        "tags": pa.table({"run_id": [t[0] for t in tags], "key": [t[1] for t in tags], "value": [t[2] for t in tags]}),
        "metrics": pa.table({"run_id": pa.array(point_runs, pa.string()), "key": pa.array(keys, pa.string()),
                             "value": pa.array(values, pa.float64()),
                             "step": pa.array(steps, pa.int64()), "timestamp": _ts(stamps)}),
        "artifacts": pa.table({
            "run_id": [a["run_id"] for a in artifact_rows], "path": [a["path"] for a in artifact_rows],
            "size": pa.array([a["size"] for a in artifact_rows], pa.int64()),
            "sha256": [a["sha256"] for a in artifact_rows], "media_type": [a["media_type"] for a in artifact_rows],
            "created_at": _ts([a["created_at"] for a in artifact_rows])}),
        "run_inputs": pa.table({
            "run_id": [r.run_id for r in runs for _ in r.inputs],
            "dataset_id": [d for r in runs for d, _ in r.inputs],
            "context": [c for r in runs for _, c in r.inputs],
            "created_at": _ts([r.start_time for r in runs for _ in r.inputs])}),
    }


def _write_experiments(con, source: ImportSource, experiment_ids: dict[str, str], report: MergeReport) -> None:
    present = {r[0] for r in con.execute("SELECT experiment_id FROM experiments").fetchall()}
    for experiment in source.experiments:
        experiment_id = experiment_ids[experiment.name]
        if experiment_id not in present:
            con.execute("INSERT INTO experiments VALUES (?, ?, ?, ?, ?)",
                        [experiment_id, experiment.name, experiment.lifecycle_stage,
                         to_datetime(experiment.creation_time), to_datetime(experiment.last_update_time)])
            report.experiments_created.append(experiment.name)
        for key, value in experiment.tags.items():
            con.execute("INSERT INTO experiment_tags VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        [experiment_id, key, value])


def _write_datasets(con, source: ImportSource, wanted: set[str], report: MergeReport) -> None:
    present = {r[0] for r in con.execute("SELECT dataset_id FROM datasets").fetchall()}
    for d in source.datasets:
        if d.dataset_id in wanted and d.dataset_id not in present:
            con.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [d.dataset_id, d.name, d.digest, d.source, d.source_type, d.schema, d.row_count,
                         to_datetime(d.created_at)])
            present.add(d.dataset_id)
            report.datasets_added += 1
            if d.profile is not None:
                con.execute("INSERT INTO dataset_profiles VALUES (?, ?) ON CONFLICT DO NOTHING", [d.dataset_id, d.profile])


def _write_logged_models(con, source: ImportSource, experiment_ids: dict[str, str], conflicts: set[str]) -> None:
    """MLflow 3 LoggedModels (params, tags, linked metrics) whose run came across; each once."""
    models = [m for m in source.logged_models if m.run_id is not None and m.run_id not in conflicts]
    if not models:
        return
    present = {r[0] for r in con.execute("SELECT model_id FROM logged_models WHERE model_id IN (SELECT unnest(?))",
                                         [[m.model_id for m in models]]).fetchall()}
    for m in models:
        if m.model_id in present:
            continue
        con.execute("INSERT INTO logged_models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "map(?::VARCHAR[], ?::VARCHAR[]), map(?::VARCHAR[], ?::VARCHAR[]))",
                    [m.model_id, experiment_ids[m.experiment_name], m.run_id, m.source_run_id, m.name,
                     m.artifact_path, m.status, to_datetime(m.created_at), to_datetime(m.last_updated_at),
                     list(m.params), list(m.params.values()), list(m.tags), list(m.tags.values())])
        if m.metrics:
            con.executemany("INSERT INTO logged_model_metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [[m.model_id, run_id, key, value, step, to_datetime(stamp), name, digest]
                             for key, value, step, stamp, run_id, name, digest in m.metrics])


def _write_latest(con, run_ids: list[str]) -> None:
    points = "(SELECT * FROM metrics WHERE run_id IN (SELECT unnest(?)))"
    con.execute(f"INSERT INTO _duckml_latest {latest_points_sql(points)}", [run_ids])
    con.execute(f"INSERT INTO _duckml_metric_summary {summary_sql(points)}", [run_ids])


def merge(store, source: ImportSource, *, versions: str = "keep", on_conflict: str = "report",
          progress=None, update: bool = False) -> MergeReport:
    """Write ``source`` into ``store``; see the module docstring. ``on_conflict="raise"`` writes nothing on a conflict.
    ``update=True``: a run that only grew in the source gets what is new (``resync.py``)."""
    if versions not in ("keep", "renumber") or on_conflict not in ("report", "raise"):
        raise InvalidInputError(f"unknown merge policy versions={versions!r} on_conflict={on_conflict!r}")
    report = MergeReport(notes=list(source.notes), metric_points_skipped=source.points_skipped)
    with store.read() as con:
        experiment_ids = _experiment_ids(con, source)
        existing = stored_fingerprints(con, [r.run_id for r in source.runs])
    new_runs = []
    for run in source.runs:
        if run.run_id not in existing:
            new_runs.append(run)
        elif existing[run.run_id] == record_fingerprint(run, experiment_ids[run.experiment_name]):
            report.runs_skipped.append(run.run_id)
        else:
            report.conflicts.append(run.run_id)
    grown = []
    if update and report.conflicts:
        with store.read() as con:
            runs = {r.run_id: r for r in source.runs}
            for run_id in list(report.conflicts):
                run = runs[run_id]
                found = resync.growth(con, run, experiment_ids[run.experiment_name])
                if found is not None:
                    grown.append(found)
                    report.conflicts.remove(run_id)
            before = stored_fingerprints(con, [g.run.run_id for g in grown])
    if report.conflicts and on_conflict == "raise":
        raise RunConflictError(f"{len(report.conflicts)} run(s) already exist in {store.path} with other content: "
                               f"{', '.join(report.conflicts[:10])}; nothing was imported")
    _say(progress, f"{len(new_runs)} new run(s), {len(report.runs_skipped)} already present, "
                   f"{len(report.conflicts)} conflicting")
    artifact_rows: list[dict] = []
    grown_rows: list[dict] = []
    for index, run in enumerate(new_runs, 1):
        artifact_rows.extend(_copy_artifacts(store, run, report))
        if run.artifacts and (index % 50 == 0 or index == len(new_runs)):
            _say(progress, f"artifacts copied for {index}/{len(new_runs)} new run(s)")
    for item in grown:
        new_files = RunRecord(item.run.run_id, item.run.experiment_name, None, "", item.run.start_time, None,
                              artifacts=[a for a in item.run.artifacts if a.path in item.new_paths])
        grown_rows.extend(_copy_artifacts(store, new_files, report))
    with store.write() as con:
        if grown and stored_fingerprints(con, [g.run.run_id for g in grown]) != before:
            raise RunConflictError("runs of the source changed in the store while they were being updated; "
                                   "nothing was imported: run the import again")
        report.metric_points += resync.write_growth(con, grown, grown_rows)
        report.runs_updated = [g.run.run_id for g in grown]
        appeared = _present(con, [r.run_id for r in new_runs])  # written meanwhile: leave them
        new_runs = [r for r in new_runs if r.run_id not in appeared]
        artifact_rows = [a for a in artifact_rows if a["run_id"] not in appeared]
        needed = {r.experiment_name for r in new_runs} | {e.name for e in source.experiments}
        _write_experiments(con, ImportSource(experiments=[e for e in source.experiments if e.name in needed]),
                           experiment_ids, report)
        _write_datasets(con, source, {d for r in new_runs for d, _ in r.inputs}, report)
        tables = _run_tables(new_runs, experiment_ids, artifact_rows)
        for name in ("runs", "params", "tags", "metrics", "artifacts", "run_inputs"):
            insert_arrow(con, name, tables[name])
        input_tags = [[r.run_id, dataset_id, context, key, value] for r in new_runs
                      for (dataset_id, context), tags in r.input_tags.items() for key, value in tags.items()]
        if input_tags:
            con.executemany("INSERT INTO run_input_tags VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", input_tags)
        if new_runs:
            _write_latest(con, [r.run_id for r in new_runs])
        report.metric_points += tables["metrics"].num_rows
        report.runs_imported = [r.run_id for r in new_runs]
        _write_logged_models(con, source, experiment_ids, set(report.conflicts))
        for model in source.models:
            _merge_model(con, model, versions, report)
    _say(progress, f"wrote {len(report.runs_imported)} run(s), {report.metric_points} metric point(s)")
    return report


# -- the registry ----------------------------------------------------------------------------------------------
def _merge_model(con, model: RegisteredModelRecord, policy: str, report: MergeReport) -> None:
    from duckml.models.registry import RegistryEvents

    events = RegistryEvents(con)
    name = model.name
    if not con.execute("SELECT 1 FROM registered_models WHERE name = ?", [name]).fetchall():
        con.execute("INSERT INTO registered_models VALUES (?, ?, ?, ?)",
                    [name, model.description, to_datetime(model.created_at), to_datetime(model.last_updated_at)])
        events.add(name, "created", detail="imported", at=to_datetime(model.created_at))
    for key, value in model.tags.items():
        con.execute("INSERT INTO registered_model_tags VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [name, key, value])
    existing = {v: (run, src) for v, run, src in con.execute(
        "SELECT version, run_id, source_uri FROM model_versions WHERE name = ?", [name]).fetchall()}
    # (run, source) -> its versions not yet matched: one run may register one source twice (two versions),
    # so each incoming version takes one present version of its (run, source), and a new number when none is left
    by_source: dict[tuple, list[int]] = {}
    for number in sorted(existing):
        by_source.setdefault(existing[number], []).append(number)
    counter = con.execute("SELECT last_version FROM model_version_counters WHERE name = ?", [name]).fetchall()
    last = max([counter[0][0] if counter else 0, *existing])
    mapping: dict[int, int] = {}
    for version in sorted(model.versions, key=lambda v: v.version):
        key = (version.run_id, version.source_uri)
        if policy == "keep":
            if version.version in existing:
                if existing[version.version] == key:
                    mapping[version.version] = version.version
                    report.versions_skipped += 1
                else:
                    report.conflicts.append(f"model {name!r} version {version.version} (exists with source "
                                            f"{existing[version.version][1]}, source store has {version.source_uri})")
                continue
            number = version.version
        else:
            if by_source.get(key):
                mapping[version.version] = by_source[key].pop(0)
                report.versions_skipped += 1
                continue
            number = last + 1
        last = max(last, number)
        con.execute("INSERT INTO model_versions VALUES (?, ?, ?, ?, ?, ?)",
                    [name, number, version.run_id, version.source_uri, version.description,
                     to_datetime(version.created_at)])
        tags = dict(version.tags)
        if policy == "renumber":
            tags[SOURCE_VERSION_TAG] = str(version.version)
        for tag, value in tags.items():
            con.execute("INSERT INTO model_version_tags VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        [name, number, tag, value])
        if version.stage is not None:
            con.execute("INSERT INTO model_version_stages VALUES (?, ?, ?, ?)",
                        [name, number, version.stage, to_datetime(version.last_updated_at or version.created_at)])
        events.add(name, "version_created", version=number, detail=f"imported: {version.source_uri}",
                   at=to_datetime(version.created_at))
        existing[number] = key
        mapping[version.version] = number
        report.versions_imported.append((name, version.version, number))
    con.execute("INSERT OR REPLACE INTO model_version_counters VALUES (?, ?)", [name, last])
    for alias, source_version in sorted(model.aliases.items()):
        target = mapping.get(source_version)
        if target is None:
            report.notes.append(f"alias {name}@{alias} not imported: its version {source_version} was not")
            continue
        current = con.execute("SELECT version FROM model_aliases WHERE name = ? AND alias = ?", [name, alias]).fetchall()
        if current and current[0][0] == target:
            continue
        if current:
            report.notes.append(f"alias {name}@{alias} kept on version {current[0][0]} (the source points it at "
                                f"its version {source_version}, which is version {target} here)")
            continue
        con.execute("INSERT INTO model_aliases VALUES (?, ?, ?)", [name, alias, target])
        # the source keeps no time per alias: its model's last update is the latest it can have been set
        events.add(name, "alias_set", version=target, alias=alias, detail="imported",
                   at=to_datetime(model.last_updated_at))
        report.aliases_set.append((name, alias, target))
    # the registry's times are the source's: a model that was here already is at least as recent as the source's
    con.execute("UPDATE registered_models SET last_updated_at = greatest(last_updated_at, ?) WHERE name = ?",
                [to_datetime(model.last_updated_at), name])
