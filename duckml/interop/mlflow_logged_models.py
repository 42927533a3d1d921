"""MLflow 3's LoggedModels: read from either store, and placed where duckml finds their files.

A LoggedModel keeps its files outside its run's artifacts (``<experiment>/models/m-<id>/artifacts``) and has
params, tags and metrics of its own (the metrics a run logged with ``model_id=``). Its files become
artifacts of its run under the model's name; a model logged with no run (or whose run is gone) gets a run
of its own, with the model's id as run id and the tag ``mlflow.loggedModelId``, so that every imported
model resolves as ``runs:/<run>/<path>``. Its params, tags and metrics go to ``logged_models`` and
``logged_model_metrics`` (migration 0008).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from duckml.errors import InvalidInputError
from duckml.interop.checks import points_in_range
from duckml.interop.mlflow_rows import _key_files, _meta_ms, _meta_text, _select, local_path
from duckml.interop.records import ImportSource, LoggedModelRecord, RunRecord, ms_to_us

MODEL_ID_TAG = "mlflow.loggedModelId"
_STATUS = {0: "UNSPECIFIED", 1: "PENDING", 2: "READY", 3: "FAILED"}


def _status(value) -> str:
    return _STATUS.get(value, str(value)) if isinstance(value, int) else (value or "READY")


def _add_metric(model: LoggedModelRecord, source: ImportSource, key, value, step, stamp_ms, run_id, name, digest):
    if not points_in_range(np.array([step], dtype=object), np.array([stamp_ms], dtype=object))[0]:
        source.points_skipped += 1
        return
    model.metrics.append((key, float("nan") if value is None else float(value), int(step), ms_to_us(stamp_ms),
                          run_id or None, name or None, digest or None))


def read_sqlite(con, path: Path, tables: set[str], experiment_names: dict[str, str],
                source: ImportSource) -> list[LoggedModelRecord]:
    """The LoggedModels of an MLflow database (its tables since MLflow 3.0; none before)."""
    if "logged_models" not in tables:
        return []
    models: dict[str, LoggedModelRecord] = {}
    for model_id, eid, run_id, name, location, created, updated, status in _select(con, path, "logged_models", {
            "model_id": "text", "experiment_id": "id", "source_run_id": "text?", "name": "text?",
            "artifact_location": "text?", "creation_timestamp_ms": "int?", "last_updated_timestamp_ms": "int?",
            "status": "id?"}):
        if str(eid) in experiment_names:
            models[model_id] = LoggedModelRecord(model_id, experiment_names[str(eid)], run_id or None, name or "model",
                                                 local_path(location), _status(status), ms_to_us(created or 0),
                                                 ms_to_us(updated or created or 0))
    for table, attribute, key, value in (("logged_model_params", "params", "param_key", "param_value"),
                                         ("logged_model_tags", "tags", "tag_key", "tag_value")):
        if table in tables:
            for model_id, k, v in _select(con, path, table, {"model_id": "text", key: "text", value: "text?"}):
                if model_id in models:
                    getattr(models[model_id], attribute)[k] = v
    if "logged_model_metrics" in tables:
        for row in _select(con, path, "logged_model_metrics", {
                "model_id": "text", "metric_name": "text", "metric_value": "num?", "metric_step": "int",
                "metric_timestamp_ms": "int", "run_id": "text?", "dataset_name": "text?", "dataset_digest": "text?"}):
            if row[0] in models:
                _add_metric(models[row[0]], source, *row[1:])
    return list(models.values())


def read_file_model(reader, model_dir: Path, experiment_name: str) -> LoggedModelRecord | None:
    """One ``<experiment>/models/m-<id>`` folder of an ``mlruns/`` store."""
    tree = reader.tree
    if not model_dir.name.startswith("m-") or (meta_path := tree.file(model_dir / "meta.yaml")) is None:
        return None
    m = tree.yaml(meta_path)
    created = _meta_ms(m, "creation_timestamp", meta_path) or 0
    status = m.get("status")
    model = LoggedModelRecord(
        _meta_text(m, "model_id", meta_path) or model_dir.name, experiment_name,
        _meta_text(m, "source_run_id", meta_path) or None, _meta_text(m, "name", meta_path) or "model",
        local_path(_meta_text(m, "artifact_location", meta_path)) or model_dir / "artifacts",
        _status(status if isinstance(status, int) and not isinstance(status, bool)
                else _meta_text(m, "status", meta_path)),
        ms_to_us(created), ms_to_us(_meta_ms(m, "last_updated_timestamp", meta_path) or created),
        _key_files(tree, model_dir / "params"), _key_files(tree, model_dir / "tags"))
    for key, path in tree.files(model_dir / "metrics"):
        for number, line in enumerate(tree.read_text(path).splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:  # "<timestamp ms> <value> <step> <run id> [<dataset name> <dataset digest>]"
                if len(parts) not in (4, 6):
                    raise ValueError("expected 4 or 6 fields")
                _add_metric(model, reader.source, key, float(parts[1]), int(parts[2]), int(parts[0]), parts[3],
                            *(parts[4:6] if len(parts) == 6 else (None, None)))
            except ValueError as error:
                raise InvalidInputError(f"{reader.origin}: {path.relative_to(tree.root).as_posix()} line {number} "
                                        f"is not a model metric point ({line[:60]!r}: {error})") from None
    return model


def place(reader, models: list[LoggedModelRecord], runs: dict[str, RunRecord]) -> dict[str, str]:
    """Put each model's files into its run (a run of its own when it has none); model id -> ``runs:/`` URI."""
    placed: dict[str, str] = {}
    for model in models:
        run = runs.get(model.source_run_id or "")
        if run is None:
            run = RunRecord(model.model_id, model.experiment_name, model.name, "FINISHED", model.created_at,
                            model.last_updated_at, tags={MODEL_ID_TAG: model.model_id})
            runs[run.run_id] = run
            reader.source.runs.append(run)
        taken = {a.path.split("/", 1)[0] for a in run.artifacts}
        path = model.name if model.name not in taken else f"{model.name}-{model.model_id}"
        if model.location is not None:
            run.artifacts.extend(reader.artifacts(model.location, path))
        model.run_id, model.artifact_path = run.run_id, path
        placed[model.model_id] = f"runs:/{run.run_id}/{path}"
    reader.source.logged_models = models
    return placed
