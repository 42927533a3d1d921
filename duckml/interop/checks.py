"""Every record an import brings passes the checks the API applies to the same values, before anything is written.

Names and keys follow ``duckml.tracking.validation`` and ``duckml.models.uri``; times lie in years 1900..9999
and steps fit in 64 signed bits, as ``log_metric`` demands. A record that breaks a rule refuses the whole
import with one error naming the source and the record (nothing is written). Two things are not errors:

- a metric point outside the range (MLflow accepts timestamps of 10^16 ms) is skipped and counted: readers
  filter points with :func:`points_in_range` before converting units, so nothing can wrap around;
- in an MLflow store, a model version whose run is not in the store (deleted for good, or on another server)
  is skipped with a note. A bundle is a closed set: a version or alias pointing outside it is an error, as
  it would point at the importing store's own runs.
"""

from __future__ import annotations

import re

import numpy as np

from duckml.entities import LifecycleStage, RunStatus
from duckml.errors import InvalidInputError, InvalidNameError
from duckml.interop.records import ImportSource, ModelVersionRecord, RunRecord
from duckml.models.uri import check_alias, check_model_name, check_version, parse_model_uri
from duckml.tracking.validation import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, check_key, check_name, check_text

MIN_US = MIN_TIMESTAMP_MS * 1000
MAX_US = MAX_TIMESTAMP_MS * 1000 + 999
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STATUSES = {s.value for s in RunStatus}
_STAGES = {s.value for s in LifecycleStage}
MODEL_STAGES = ("None", "Staging", "Production", "Archived")  # MLflow's model-version stages


def points_in_range(steps, timestamps_ms) -> np.ndarray:
    """Which points ``log_metric`` would accept: timestamps (ms) in years 1900..9999, steps in int64.
    Works on Python ints of any size (object arrays), so nothing is converted before it is checked.

    >>> points_in_range([0, 2**63], [1_700_000_000_000, 0]).tolist()
    [True, False]
    >>> points_in_range([0, 1], [10**16, 2**63 - 1]).tolist()
    [False, False]
    """
    steps = np.asarray(steps, dtype=object) if not isinstance(steps, np.ndarray) else steps
    stamps = np.asarray(timestamps_ms, dtype=object) if not isinstance(timestamps_ms, np.ndarray) else timestamps_ms
    ok = (stamps >= MIN_TIMESTAMP_MS) & (stamps <= MAX_TIMESTAMP_MS)
    if steps.dtype == object:
        ok &= (steps >= -(2**63)) & (steps < 2**63)
    return np.asarray(ok, dtype=bool)


def _fail(origin: str, error: Exception) -> None:
    raise type(error)(f"{origin}: {error}; nothing was imported") from None


def _time(us, what: str, nullable: bool = False) -> None:
    if us is None and nullable:
        return
    if isinstance(us, bool) or not isinstance(us, int):
        raise InvalidInputError(f"{what} is {us!r}, not a time")
    if not MIN_US <= us <= MAX_US:
        shown = "infinity" if us == 2**63 - 1 else f"{us // 1000} ms since the epoch"  # bundle.py's ±infinity
        raise InvalidInputError(f"{what} ({shown}) is outside years 1900..9999")


def _text(value, what: str, nullable: bool = True) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be text, got {type(value).__name__} {value!r:.80}")
    check_text(value, what)


def check_id(value, what: str) -> str:
    """A run, experiment or dataset id: 1 to 64 letters, digits, '-' or '_' (MLflow and duckml make hex ids).

    >>> check_id("3f2a9c", "run id")
    '3f2a9c'
    """
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInputError(f"{what} {value!r:.80} is not an id (1 to 64 letters, digits, '-' or '_')")
    return value


def _key_values(pairs: dict, what: str) -> None:
    for key, value in pairs.items():
        check_key(key, f"{what} key")
        _text(value, f"{what} {key!r} value")


def _check_run(run: RunRecord) -> None:
    check_id(run.run_id, "run id")
    what = f"run {run.run_id}"
    check_name(run.experiment_name, "experiment name")
    if run.run_name is not None:
        check_name(run.run_name, f"{what}: run name")
    if run.status not in _STATUSES:
        raise InvalidInputError(f"{what}: status {run.status!r:.80} is not one of {sorted(_STATUSES)}")
    if run.lifecycle_stage not in _STAGES:
        raise InvalidInputError(f"{what}: lifecycle stage {run.lifecycle_stage!r:.80} is not one of {sorted(_STAGES)}")
    _time(run.start_time, f"{what}: start time")
    _time(run.end_time, f"{what}: end time", nullable=True)
    if run.parent_run_id is not None:
        check_id(run.parent_run_id, f"{what}: parent run id")
    _key_values(run.params, f"{what}: param")
    _key_values(run.tags, f"{what}: tag")
    keys, values, steps, stamps = run.metrics.arrays()
    if len(keys):
        for key in set(keys.tolist()):
            check_key(key, f"{what}: metric key")
        if not ((stamps >= MIN_US) & (stamps <= MAX_US)).all():  # readers leave such points out: a bug if not
            raise InvalidInputError(f"{what}: a metric point lies outside years 1900..9999")
    for item in run.artifacts:
        _text(item.path, f"{what}: artifact path", nullable=False)
        _time(item.created_at, f"{what}: artifact {item.path!r} time", nullable=True)
    for dataset_id, context in run.inputs:
        check_id(dataset_id, f"{what}: dataset id")
        check_key(context, f"{what}: dataset context")
    for tags in run.input_tags.values():
        _key_values(tags, f"{what}: dataset input tag")


def _check_logged_model(model, experiments: set[str]) -> None:
    check_id(model.model_id, "logged model id")
    what = f"logged model {model.model_id}"
    if model.experiment_name not in experiments:
        raise InvalidInputError(f"{what} belongs to experiment {model.experiment_name!r}, which the source does not "
                                "hold")
    for value, field in ((model.name, "name"), (model.status, "status"), (model.artifact_path, "path")):
        _text(value, f"{what}: {field}")
    for run_id in (model.source_run_id, model.run_id):
        if run_id is not None:
            check_id(run_id, f"{what}: run id")
    _time(model.created_at, f"{what}: creation time")
    _time(model.last_updated_at, f"{what}: update time")
    _key_values(model.params, f"{what}: param")
    _key_values(model.tags, f"{what}: tag")
    for key, _value, _step, stamp, run_id, dataset_name, digest in model.metrics:
        check_key(key, f"{what}: metric key")
        _time(stamp, f"{what}: metric {key!r} time")
        if run_id is not None:
            check_id(run_id, f"{what}: metric {key!r} run id")
        _text(dataset_name, f"{what}: metric {key!r} dataset name")
        _text(digest, f"{what}: metric {key!r} dataset digest")


def _run_of_source(version: ModelVersionRecord) -> str | None:
    """The run a version's source names (``runs:/<id>/…``), or None for a source that names no run."""
    if not isinstance(version.source_uri, str):
        raise InvalidInputError(f"source {version.source_uri!r:.80} is not text")
    if not version.source_uri.strip().startswith("runs:"):
        return None
    return parse_model_uri(version.source_uri).run_id


def _check_registry(source: ImportSource, runs: set[str], closed: bool) -> None:
    for model in source.models:
        check_model_name(model.name)
        what = f"model {model.name!r}"
        _time(model.created_at, f"{what}: creation time")
        _time(model.last_updated_at, f"{what}: update time")
        _text(model.description, f"{what}: description")
        _key_values(model.tags, f"{what}: tag")
        kept = []
        for version in model.versions:
            number = check_version(version.version, model.name)
            where = f"{what} version {number}"
            _time(version.created_at, f"{where}: creation time")
            _time(version.last_updated_at, f"{where}: update time", nullable=True)
            if version.stage is not None and version.stage not in MODEL_STAGES:
                raise InvalidInputError(f"{where}: stage {version.stage!r:.80} is not one of {list(MODEL_STAGES)}")
            _text(version.description, f"{where}: description")
            _key_values(version.tags, f"{where}: tag")
            if version.run_id is not None:
                check_id(version.run_id, f"{where}: run id")
            named = {r for r in (version.run_id, _run_of_source(version)) if r is not None}
            outside = sorted(named - runs)
            if outside and closed:
                raise InvalidInputError(f"{where} points at run {outside[0]}, which is not in the bundle")
            if outside:
                source.notes.append(f"{where} not imported: its run {outside[0]} is not in the MLflow store")
                continue
            kept.append(version)
        model.versions = kept
        numbers = {v.version for v in model.versions}
        for alias, number in model.aliases.items():
            check_alias(alias)
            check_version(number, model.name)
            if closed and number not in numbers:
                raise InvalidInputError(f"alias {model.name}@{alias} points at version {number}, which is not "
                                        "in the bundle")


def check_source(source: ImportSource, origin: str, *, closed: bool) -> None:
    """Check every record of ``source`` as the API would; ``origin`` names it in errors (see the module docstring).

    >>> from duckml.interop.records import ExperimentRecord
    >>> check_source(ImportSource(experiments=[ExperimentRecord("")]), "bundle x.zip", closed=True)
    Traceback (most recent call last):
    duckml.errors.InvalidNameError: bundle x.zip: experiment name must not be empty or blank, got ''; nothing was imported
    """
    try:
        for experiment in source.experiments:
            check_name(experiment.name, "experiment name")
            what = f"experiment {experiment.name!r}"
            if experiment.lifecycle_stage not in _STAGES:
                raise InvalidInputError(f"{what}: lifecycle stage {experiment.lifecycle_stage!r:.80} is not one "
                                        f"of {sorted(_STAGES)}")
            _time(experiment.creation_time, f"{what}: creation time")
            _time(experiment.last_update_time, f"{what}: update time")
            _key_values(experiment.tags, f"{what}: tag")
            if experiment.preferred_id is not None:
                check_id(experiment.preferred_id, f"{what}: id")
        names = {e.name for e in source.experiments}
        for run in source.runs:
            _check_run(run)
            if run.experiment_name not in names:
                raise InvalidInputError(f"run {run.run_id} belongs to experiment {run.experiment_name!r}, which "
                                        "the source does not hold")
        for dataset in source.datasets:
            check_id(dataset.dataset_id, "dataset id")
            for field in ("name", "digest", "source", "source_type"):
                _text(getattr(dataset, field), f"dataset {dataset.dataset_id} {field}", nullable=False)
            _text(dataset.schema, f"dataset {dataset.dataset_id} schema")
            _text(dataset.profile, f"dataset {dataset.dataset_id} profile")
            if dataset.row_count is not None and (isinstance(dataset.row_count, bool)
                                                  or not isinstance(dataset.row_count, int)
                                                  or not 0 <= dataset.row_count < 2**63):
                raise InvalidInputError(f"dataset {dataset.dataset_id} row count {dataset.row_count!r} is not a "
                                        "count")
            _time(dataset.created_at, f"dataset {dataset.dataset_id} creation time")
        for model in source.logged_models:
            _check_logged_model(model, names)
        _check_registry(source, {r.run_id for r in source.runs}, closed)
    except (InvalidNameError, InvalidInputError) as error:
        _fail(origin, error)
