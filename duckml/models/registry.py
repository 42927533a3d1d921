"""The model registry (MLflow's names): log, register, alias, tag, look up and load models.

Every change runs in one ``store.write()`` transaction, which holds the file's write lock: version numbers
come from ``model_version_counters`` inside that transaction, so concurrent processes get 1, 2, 3 … with no
duplicate, and a deleted number is never handed out again. Every change also appends to
``registry_events`` with a strictly increasing ``event_time``, which the ``alias_history`` view and the
``alias_as_of`` macro turn into "which version was @champion on 2026-11-01".

Model files are run artifacts (``<path>/model.skops`` + ``<path>/duckml_model.json``, see model_format);
resolving URIs and loading live in model_loader and are re-exported here.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl

from duckml.clock import utcnow
from duckml.errors import FilterSyntaxError, InvalidInputError
from duckml.models.loader import (  # noqa: F401  (load_model & co. are part of this module's API)
    ResolvedModel,
    _alias_version,
    resolve_parsed,
    _require_model,
    _require_version,
    clear_model_cache,
    load_model,
    load_resolved,
    resolve_model_uri,
)
from duckml.models.uri import check_alias, check_model_name, check_version, parse_model_uri
from duckml.sqlquote import quote_ident
from duckml.store import get_store
from duckml.store.actor import current_actor
from duckml.tracking.validation import check_key, check_text, param_value


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` returns; ``model_uri`` is ``runs:/<run_id>/<name>``."""

    model_uri: str
    run_id: str
    artifact_path: str
    signature: dict[str, Any]
    registered_model_version: int | None = None


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model."""

    name: str
    version: int
    run_id: str | None
    source_uri: str
    created_at: datetime
    aliases: tuple[str, ...] = ()
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    current_stage: str = "None"  # MLflow's stage, kept by import-mlflow (duckml itself moves aliases)
    last_updated_at: datetime | None = None  # set where an import kept the source's; else created_at

    @property
    def source(self) -> str:  # MLflow's name
        return self.source_uri


# -- small helpers -------------------------------------------------------------------------------------

class _Events:
    """Appends registry events with strictly increasing times, so history has a total order."""

    def __init__(self, con):
        self.con = con
        last = con.execute("SELECT max(event_time) FROM registry_events").fetchone()[0]
        now = utcnow()
        self.next = now if last is None or now > last else last + timedelta(microseconds=1)

    def add(self, name: str, event: str, version: int | None = None, alias: str | None = None,
            detail: str | None = None, at: datetime | None = None) -> datetime:
        """Record a change now; ``at`` records one that happened elsewhere at that time (an import keeps its
        source's times), a microsecond later while that time is taken, and leaves last_updated_at alone. The
        actor is who an application (the UI) acts for, if any."""
        if at is None:
            at, self.next = self.next, self.next + timedelta(microseconds=1)
            self.con.execute("UPDATE registered_models SET last_updated_at = ? WHERE name = ?", [at, name])
        else:
            while self.con.execute("SELECT 1 FROM registry_events WHERE event_time = ?", [at]).fetchone():
                at += timedelta(microseconds=1)
        self.con.execute("INSERT INTO registry_events (event_time, name, version, event, alias, detail, actor) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", [at, name, version, event, alias, detail, current_actor()])
        return at



RegistryEvents = _Events  # the public name, for importers that write registry rows themselves

def _read_version(con, name: str, version: int) -> ModelVersion:
    _require_version(con, name, version)
    run_id, source, created, description = con.execute(
        "SELECT run_id, source_uri, created_at, description FROM model_versions WHERE name = ? AND version = ?",
        [name, version]).fetchone()
    aliases = tuple(r[0] for r in con.execute(
        "SELECT alias FROM model_aliases WHERE name = ? AND version = ? ORDER BY alias", [name, version]).fetchall())
    tags = dict(con.execute("SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?",
                            [name, version]).fetchall())
    stage = con.execute("SELECT current_stage, last_updated_at FROM model_version_stages WHERE name = ? AND "
                        "version = ?", [name, version]).fetchone() or ("None", created)
    return ModelVersion(name, version, run_id, source, created, aliases, description, tags, *stage)


# -- logging and registering ---------------------------------------------------------------------------
def log_model(model, name: str = "model", input_example=None, signature: dict | None = None,
              registered_model_name: str | None = None) -> ModelInfo:
    """Save a fitted scikit-learn estimator as an artifact of the active run (starting one if needed).

    >>> with duckml.start_run() as run:
    ...     info = duckml.log_model(clf, name="model", input_example=X[:5], registered_model_name="churn")
    >>> info.model_uri == f"runs:/{run.info.run_id}/model", info.registered_model_version
    (True, 3)
    """
    from duckml.tracking import artifacts
    from duckml.tracking import fluent
    from duckml.models.format import save_model

    path = artifacts.normalize_artifact_path(name, allow_root=False)
    if registered_model_name is not None:
        check_model_name(registered_model_name)
    run_id = fluent._get_or_start_run().info.run_id
    with tempfile.TemporaryDirectory(prefix="duckml-model-") as tmp:
        folder = Path(tmp) / "model"
        metadata = save_model(model, folder, input_example=input_example, signature=signature)
        artifacts.log_artifacts(folder, artifact_path=path, run_id=run_id)
    uri = f"runs:/{run_id}/{path}"
    version = register_model(uri, registered_model_name).version if registered_model_name is not None else None
    return ModelInfo(uri, run_id, path, metadata.signature, version)


def register_model(model_uri: str, name: str) -> ModelVersion:
    """Register the model at ``model_uri`` as the next version of ``name`` (created if missing).

    >>> duckml.register_model(f"runs:/{run_id}/model", "churn").version
    3
    """
    name = check_model_name(name)
    parsed = parse_model_uri(model_uri)
    store = get_store()
    with store.write() as con:
        resolved = resolve_parsed(con, store, parsed)  # refuses a URI with no model behind it
        run_id, path = resolved.run_id, resolved.artifact_path
        source = f"runs:/{run_id}/{path}"
        events = _Events(con)
        now = events.next
        if not con.execute("SELECT 1 FROM registered_models WHERE name = ?", [name]).fetchall():
            con.execute("INSERT INTO registered_models VALUES (?, NULL, ?, ?)", [name, now, now])
            events.add(name, "created")
        last = con.execute("SELECT last_version FROM model_version_counters WHERE name = ?", [name]).fetchall()
        version = (last[0][0] if last else 0) + 1
        # DELETE + INSERT rather than INSERT OR REPLACE here and below: a DuckLake catalog has no keys
        con.execute("DELETE FROM model_version_counters WHERE name = ?", [name])
        con.execute("INSERT INTO model_version_counters VALUES (?, ?)", [name, version])
        con.execute("INSERT INTO model_versions VALUES (?, ?, ?, ?, NULL, ?)", [name, version, run_id, source, now])
        events.add(name, "version_created", version=version, detail=source)
    return ModelVersion(name, version, run_id, source, now)


def create_registered_model(name: str, tags: dict | None = None, description: str | None = None) -> None:
    """Create a registered model with no version yet (MLflow's ``create_registered_model``); a taken name is
    an ``InvalidInputError``.

    >>> duckml.models.registry.create_registered_model("fraud", tags={"team": "risk"})
    """
    name, description = check_model_name(name), _check_description(description)
    checked = {check_key(k, "tag key"): param_value(v, f"tag {k!r} value") for k, v in (tags or {}).items()}
    with get_store().write() as con:
        if con.execute("SELECT 1 FROM registered_models WHERE name = ?", [name]).fetchall():
            raise InvalidInputError(f"registered model {name!r} already exists")
        events = _Events(con)
        now = events.next
        con.execute("INSERT INTO registered_models VALUES (?, ?, ?, ?)", [name, description, now, now])
        events.add(name, "created")
        for key, value in checked.items():
            con.execute("INSERT INTO registered_model_tags VALUES (?, ?, ?)", [name, key, value])


def set_registered_model_alias(name: str, alias: str, version) -> None:
    """Point ``alias`` of model ``name`` at ``version`` (moving it if it pointed elsewhere).

    >>> duckml.set_registered_model_alias("churn", "champion", 2)
    """
    name, alias = check_model_name(name), check_alias(alias)
    version = check_version(version, name)
    with get_store().write() as con:
        _require_version(con, name, version)
        before = con.execute("SELECT version FROM model_aliases WHERE name = ? AND alias = ?",
                             [name, alias]).fetchall()
        con.execute("DELETE FROM model_aliases WHERE name = ? AND alias = ?", [name, alias])
        con.execute("INSERT INTO model_aliases VALUES (?, ?, ?)", [name, alias, version])
        events = _Events(con)
        events.add(name, "alias_set", version=version, alias=alias,
                   detail=f"moved from version {before[0][0]}" if before else None)
        _follow_alias_macros(con, events, name, alias)


# -- compiled macros (duckml.models.compiled) -------------------------------------------------------------------
def store_macro(con, events: _Events | None, definition, resolved: ResolvedModel, alias: str | None) -> None:
    """Create (or replace) a compiled model's table macro and its ``compiled_models`` row in ``con``'s
    write transaction, with a registry event when the model is registered."""
    con.execute(definition.statement)
    con.execute("DELETE FROM compiled_models WHERE macro_name = ?", [definition.name])  # a lake has no keys
    con.execute("INSERT INTO compiled_models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [definition.name, resolved.name, resolved.version, alias, resolved.source_uri, definition.engine,
                 definition.node_count, definition.prediction_type, definition.prediction_sql, definition.sha256,
                 utcnow()])
    if events is not None and resolved.name is not None:
        events.add(resolved.name, "macro_compiled", version=resolved.version, alias=alias,
                   detail=f"{definition.name} (engine {definition.engine}, sha256 {definition.sha256[:12]})")


def _follow_alias_macros(con, events: _Events, name: str, alias: str) -> None:
    """Recompile the macros made from ``name@alias`` for the version it now points to. A version that
    cannot be compiled drops the macro (an event says why): it must never keep scoring the old version."""
    macros = [r[0] for r in con.execute("SELECT macro_name FROM compiled_models WHERE model_name = ? AND "
                                        "model_alias = ? ORDER BY macro_name", [name, alias]).fetchall()]
    if not macros:
        return
    from duckml.compiler.macro import table_macro
    from duckml.errors import ModelNotCompilableError

    resolved = resolve_parsed(con, get_store(), parse_model_uri(f"models:/{name}@{alias}"))
    model = load_resolved(resolved)
    for macro in macros:
        try:
            definition = table_macro(macro, model, resolved.signature)
        except ModelNotCompilableError as e:
            con.execute(f"DROP MACRO TABLE IF EXISTS {quote_ident(macro)}")
            con.execute("DELETE FROM compiled_models WHERE macro_name = ?", [macro])
            events.add(name, "macro_dropped", version=resolved.version, alias=alias, detail=f"{macro}: {e}")
            continue
        store_macro(con, events, definition, resolved, alias)


def delete_registered_model_alias(name: str, alias: str) -> None:
    """Remove an alias; the version it pointed to stays.

    >>> duckml.delete_registered_model_alias("churn", "champion")
    """
    name, alias = check_model_name(name), check_alias(alias)
    with get_store().write() as con:
        version = _alias_version(con, name, alias)
        con.execute("DELETE FROM model_aliases WHERE name = ? AND alias = ?", [name, alias])
        _Events(con).add(name, "alias_deleted", version=version, alias=alias)


def _drop_versions(con, events: _Events, name: str, versions: list[int]) -> None:
    for alias, version in con.execute(
            f"SELECT alias, version FROM model_aliases WHERE name = ? AND version IN ({', '.join('?' * len(versions))})"
            " ORDER BY alias", [name, *versions]).fetchall():
        con.execute("DELETE FROM model_aliases WHERE name = ? AND alias = ?", [name, alias])
        events.add(name, "alias_deleted", version=version, alias=alias, detail="its version was deleted")
    for version in versions:
        con.execute("DELETE FROM model_version_tags WHERE name = ? AND version = ?", [name, version])
        con.execute("DELETE FROM model_version_stages WHERE name = ? AND version = ?", [name, version])
        con.execute("DELETE FROM model_versions WHERE name = ? AND version = ?", [name, version])
        events.add(name, "version_deleted", version=version)


def delete_model_version(name: str, version) -> None:
    """Delete one version (and the aliases on it). Its number is never reused.

    >>> duckml.delete_model_version("churn", 1)
    """
    name = check_model_name(name)
    version = check_version(version, name)
    with get_store().write() as con:
        _require_version(con, name, version)
        _drop_versions(con, _Events(con), name, [version])


def delete_registered_model(name: str) -> None:
    """Delete a model with all its versions, aliases and tags; a later model of that name continues numbering.

    >>> duckml.delete_registered_model("churn")
    """
    name = check_model_name(name)
    with get_store().write() as con:
        _require_model(con, name)
        events = _Events(con)
        versions = [r[0] for r in con.execute("SELECT version FROM model_versions WHERE name = ? ORDER BY version",
                                              [name]).fetchall()]
        if versions:
            _drop_versions(con, events, name, versions)
        con.execute("DELETE FROM registered_model_tags WHERE name = ?", [name])
        events.add(name, "deleted")
        con.execute("DELETE FROM registered_models WHERE name = ?", [name])


def set_registered_model_tag(name: str, key: str, value) -> None:
    """Set a tag on a registered model.

    >>> duckml.set_registered_model_tag("churn", "team", "growth")
    """
    name, key, value = check_model_name(name), check_key(key, "tag key"), param_value(value, f"tag {key!r} value")
    with get_store().write() as con:
        _require_model(con, name)
        con.execute("DELETE FROM registered_model_tags WHERE name = ? AND key = ?", [name, key])
        con.execute("INSERT INTO registered_model_tags VALUES (?, ?, ?)", [name, key, value])
        _Events(con).add(name, "tag_set", detail=json.dumps({"key": key, "value": value}))


def set_model_version_tag(name: str, version, key: str, value) -> None:
    """Set a tag on one model version.

    >>> duckml.set_model_version_tag("churn", 2, "validated", "yes")
    """
    name, key, value = check_model_name(name), check_key(key, "tag key"), param_value(value, f"tag {key!r} value")
    version = check_version(version, name)
    with get_store().write() as con:
        _require_version(con, name, version)
        con.execute("DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?", [name, version, key])
        con.execute("INSERT INTO model_version_tags VALUES (?, ?, ?, ?)", [name, version, key, value])
        _Events(con).add(name, "tag_set", version=version, detail=json.dumps({"key": key, "value": value}))


def delete_registered_model_tag(name: str, key: str) -> None:
    """Remove a tag of a registered model (none to remove: nothing happens, as in MLflow).

    >>> duckml.set_registered_model_tag("churn", "draft", "yes")
    >>> duckml.delete_registered_model_tag("churn", "draft")
    """
    name, key = check_model_name(name), check_key(key, "tag key")
    with get_store().write() as con:
        _require_model(con, name)
        if not con.execute("SELECT 1 FROM registered_model_tags WHERE name = ? AND key = ?", [name, key]).fetchone():
            return
        con.execute("DELETE FROM registered_model_tags WHERE name = ? AND key = ?", [name, key])
        _Events(con).add(name, "tag_deleted", detail=json.dumps({"key": key}))


def delete_model_version_tag(name: str, version, key: str) -> None:
    """Remove a tag of one model version (none to remove: nothing happens, as in MLflow).

    >>> duckml.set_model_version_tag("churn", 2, "draft", "yes")
    >>> duckml.delete_model_version_tag("churn", 2, "draft")
    """
    name, key = check_model_name(name), check_key(key, "tag key")
    version = check_version(version, name)
    with get_store().write() as con:
        _require_version(con, name, version)
        where = "WHERE name = ? AND version = ? AND key = ?"
        if not con.execute(f"SELECT 1 FROM model_version_tags {where}", [name, version, key]).fetchone():
            return
        con.execute(f"DELETE FROM model_version_tags {where}", [name, version, key])
        _Events(con).add(name, "tag_deleted", version=version, detail=json.dumps({"key": key}))


def _check_description(description) -> str | None:
    if description is not None and not isinstance(description, str):
        raise InvalidInputError(f"description must be a string or None, got {type(description).__name__}")
    return description if description is None else check_text(description, "description")


def update_registered_model(name: str, description: str | None) -> None:
    """Set a registered model's description.

    >>> duckml.update_registered_model("churn", "predicts churn within 30 days")
    """
    name, description = check_model_name(name), _check_description(description)
    with get_store().write() as con:
        _require_model(con, name)
        con.execute("UPDATE registered_models SET description = ? WHERE name = ?", [description, name])
        _Events(con).add(name, "description_set", detail=description)


def update_model_version(name: str, version, description: str | None) -> None:
    """Set one version's description.

    >>> duckml.update_model_version("churn", 2, "retrained on November data")
    """
    name, description = check_model_name(name), _check_description(description)
    version = check_version(version, name)
    with get_store().write() as con:
        _require_version(con, name, version)
        con.execute("UPDATE model_versions SET description = ? WHERE name = ? AND version = ?",
                    [description, name, version])
        _Events(con).add(name, "description_set", version=version, detail=description)


# -- reading ---------------------------------------------------------------------------------------------
def get_model_version(name: str, version) -> ModelVersion:
    """One version, with its aliases, tags and description.

    >>> duckml.get_model_version("churn", 2).source_uri == f"runs:/{run_id}/model"
    True
    """
    name = check_model_name(name)
    version = check_version(version, name)
    with get_store().read() as con:
        return _read_version(con, name, version)


def get_model_version_by_alias(name: str, alias: str) -> ModelVersion:
    """The version an alias points to.

    >>> duckml.get_model_version_by_alias("churn", "champion").version
    2
    """
    name, alias = check_model_name(name), check_alias(alias)
    with get_store().read() as con:
        return _read_version(con, name, _alias_version(con, name, alias))


def get_model_versions(name: str) -> pl.DataFrame:
    """Every version of a model from ``model_versions_overview`` (aliases, source run, its metrics).

    >>> duckml.models.registry.get_model_versions("churn").columns[:3]
    ['name', 'version', 'aliases']
    """
    name = check_model_name(name)
    with get_store().read() as con:
        _require_model(con, name)
        return con.execute("SELECT * FROM model_versions_overview WHERE name = ? ORDER BY version", [name]).pl()


_MODEL_ATTRIBUTES = ("name", "creation_time", "last_update_time")


def _check_filter(expr) -> None:
    from duckml.search import And, Comparison, Not, Or

    if isinstance(expr, Comparison):
        if expr.entity == "attribute" and expr.key not in _MODEL_ATTRIBUTES:
            raise FilterSyntaxError(f"registered models can be filtered on {', '.join(_MODEL_ATTRIBUTES)} and "
                                    f"tags.<key>, not {expr.key!r}")
    elif isinstance(expr, (And, Or)):
        for item in expr.items:
            _check_filter(item)
    elif isinstance(expr, Not):
        _check_filter(expr.item)


def search_registered_models(filter_string: str = "", max_results: int | None = None) -> pl.DataFrame:
    """Registered models as a Polars frame: name, description, latest_version, aliases, tags, times.

    ``filter_string`` follows MLflow: ``name LIKE 'churn%'``, ``tags.team = 'growth'``, joined by AND/OR.

    >>> duckml.search_registered_models("name LIKE 'ch%'")["name"].to_list()
    ['churn']
    """
    from duckml.search import compile_filter, parse_filter

    # "experiments" has the same shape (name, two times, tags); _check_filter keeps it to those
    expr = parse_filter(filter_string or None, target="experiments")
    _check_filter(expr)
    where, params = compile_filter(expr, alias="m", target="experiments")
    if max_results is not None and (isinstance(max_results, bool) or not isinstance(max_results, int)
                                    or max_results < 1):
        raise InvalidInputError(f"max_results must be a positive integer, got {max_results!r}")
    limit = "" if max_results is None else f" LIMIT {int(max_results)}"
    query = f"""
        SELECT name, description, latest_version, aliases, tags, created_at, last_updated_at FROM (
            SELECT r.name, r.description, r.created_at, r.last_updated_at,
                   r.created_at AS creation_time, r.last_updated_at AS last_update_time,
                   (SELECT max(v.version) FROM model_versions v WHERE v.name = r.name) AS latest_version,
                   coalesce((SELECT map_from_entries(list({{'k': a.alias, 'v': a.version}} ORDER BY a.alias))
                             FROM model_aliases a WHERE a.name = r.name), MAP {{}}::MAP(VARCHAR, INTEGER)) AS aliases,
                   coalesce((SELECT map_from_entries(list({{'k': t.key, 'v': t.value}} ORDER BY t.key))
                             FROM registered_model_tags t WHERE t.name = r.name),
                            MAP {{}}::MAP(VARCHAR, VARCHAR)) AS tags
            FROM registered_models r
        ) AS m WHERE {where} ORDER BY name{limit}"""
    with get_store().read() as con:
        return con.execute(query, params).pl()
