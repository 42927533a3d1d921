"""The model registry as MLflow answers: ``ModelVersion``/``RegisteredModel`` entities, MLflow's filters and
orders for ``search_model_versions`` (evaluated here over duckml's versions, of which a registry holds few).
"""

from __future__ import annotations

import re

import duckml
from duckml.mlflow import convert
from duckml.mlflow.entities import ModelVersion, RegisteredModel
from duckml.mlflow.exceptions import MlflowException, mlflow_errors


def _like(pattern: str, value: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _compare(found, op: str, wanted) -> bool:
    if op == "IS NULL":
        return found is None
    if op == "IS NOT NULL":
        return found is not None
    if found is None:
        return False  # as SQL: a missing key matches no comparison
    if op in ("IN", "NOT IN"):
        inside = any(_compare(found, "=", w) for w in wanted)
        return inside if op == "IN" else not inside
    if op in ("LIKE", "ILIKE"):
        return _like(wanted, str(found), op == "ILIKE")
    if isinstance(found, str) != isinstance(wanted, str):
        found, wanted = str(found), str(wanted)
    return {"=": found == wanted, "!=": found != wanted, "<": found < wanted, "<=": found <= wanted,
            ">": found > wanted, ">=": found >= wanted}[op]


def _version_value(version: ModelVersion, entity: str, key: str):
    if entity == "tag":
        return version.tags.get(key)
    return {"name": version.name, "run_id": version.run_id, "source_path": version.source,
            "version_number": version.version, "creation_timestamp": version.creation_timestamp,
            "last_updated_timestamp": version.last_updated_timestamp}[key]


def matches(expr, version: ModelVersion) -> bool:
    """Whether a version passes a parsed ``search_model_versions`` filter (None passes everything)."""
    from duckml.search import And, Comparison, Not, Or

    if expr is None:
        return True
    if isinstance(expr, And):
        return all(matches(item, version) for item in expr.items)
    if isinstance(expr, Or):
        return any(matches(item, version) for item in expr.items)
    if isinstance(expr, Not):
        return not matches(expr.item, version)
    assert isinstance(expr, Comparison)
    return _compare(_version_value(version, expr.entity, expr.key), expr.op, expr.value)


def _sorted(versions: list[ModelVersion], order_by) -> list[ModelVersion]:
    from duckml.search import parse_order_by

    terms = list(parse_order_by(order_by or ["last_updated_timestamp DESC"], "model_versions"))
    keys = {t.key for t in terms}
    terms += [t for t in parse_order_by(["name ASC", "version_number DESC"], "model_versions") if t.key not in keys]
    for term in reversed(terms):  # stable sorts, last key first
        present = [v for v in versions if _version_value(v, term.entity, term.key) is not None]
        absent = [v for v in versions if _version_value(v, term.entity, term.key) is None]
        present.sort(key=lambda v: _version_value(v, term.entity, term.key), reverse=not term.ascending)
        versions = present + absent
    return versions


def all_versions(name: str | None = None) -> list[ModelVersion]:
    """Every version of one registered model, or of all of them."""
    from duckml.models.registry import get_model_versions

    names = [name] if name is not None else duckml.search_registered_models()["name"].to_list()
    return [convert.model_version(duckml.get_model_version(n, v))
            for n in names for v in get_model_versions(n)["version"].to_list()]


@mlflow_errors
def search_model_versions(max_results: int | None = None, filter_string: str | None = None,
                          order_by: list | None = None) -> list[ModelVersion]:
    """Versions matching MLflow's filter (``name = 'churn'``, ``run_id IN (...)``, ``tags.k = 'v'``,
    ``version_number > 2``), newest change first as MLflow orders them."""
    from duckml.search import parse_filter

    expr = parse_filter(filter_string or "", "model_versions")
    found = _sorted([v for v in all_versions() if matches(expr, v)], order_by)
    return found if max_results is None else found[:max_results]


@mlflow_errors
def search_registered_models(max_results: int | None = None, filter_string: str | None = None,
                             order_by: list | None = None) -> list[RegisteredModel]:
    from duckml.search import parse_order_by

    found = convert.registered_models(filter_string, None)
    for term in reversed(parse_order_by(order_by or ["name ASC"], "model_versions")):
        if term.key not in ("name", "creation_timestamp", "last_updated_timestamp"):
            raise MlflowException(f"registered models can be ordered by name, creation_timestamp or "
                                  f"last_updated_timestamp, not {term.key!r}", error_code="INVALID_PARAMETER_VALUE")
        found.sort(key=lambda m: getattr(m, term.key), reverse=not term.ascending)
    return found if max_results is None else found[:max_results]


@mlflow_errors
def register_model(model_uri: str, name: str, await_registration_for: int = 300, *, tags: dict | None = None,
                   env_pack=None) -> ModelVersion:
    """Register the model at ``model_uri`` as the next version of ``name``, with optional version tags."""
    version = duckml.register_model(model_uri, name)
    for key, value in (tags or {}).items():
        duckml.set_model_version_tag(name, version.version, key, value)
    return get_model_version(name, version.version)


@mlflow_errors
def get_model_version(name: str, version) -> ModelVersion:
    return convert.model_version(duckml.get_model_version(name, version))


@mlflow_errors
def get_registered_model(name: str) -> RegisteredModel:
    for model in convert.registered_models():
        if model.name == name:
            return model
    raise MlflowException(f"Registered Model with name={name} not found", error_code="RESOURCE_DOES_NOT_EXIST")


@mlflow_errors
def get_latest_versions(name: str, stages: list | None = None) -> list[ModelVersion]:
    """The latest version of a model in each of ``stages`` (all stages when None), as MLflow answers.

    duckml moves aliases, not stages: a version is in stage ``"None"`` unless ``duckml import-mlflow``
    brought its MLflow stage (``current_stage``) along.
    """
    get_registered_model(name)  # MLflow's error for a missing model
    canonical = {stage.lower(): stage for stage in _STAGES}
    wanted = list(_STAGES) if not stages else [canonical.get(str(s).lower(), str(s)) for s in stages]
    latest: dict[str, ModelVersion] = {}
    for version in all_versions(name):
        if version.current_stage in wanted and (version.current_stage not in latest or
                                                int(latest[version.current_stage].version) < int(version.version)):
            latest[version.current_stage] = version
    return [latest[stage] for stage in dict.fromkeys(wanted) if stage in latest]


_STAGES = ("None", "Staging", "Production", "Archived")  # MLflow's model-version stages


@mlflow_errors
def set_registered_model_alias(name: str, alias: str, version) -> None:
    duckml.set_registered_model_alias(name, alias, version)
