"""``set_tracking_uri``/``get_tracking_uri``: MLflow's way of choosing where runs go, mapped onto duckml's store.

A store path, ``duckml:<path>`` or a ``ducklake:`` spec choose a duckml store. The URIs of MLflow's servers
and databases cannot be written to by duckml: they get one clear error pointing at ``duckml import-mlflow``,
which copies such a store into duckml.
"""

from __future__ import annotations

import os
import re

import duckml
from duckml.mlflow.exceptions import MlflowException, mlflow_errors

DUCKML_PREFIX = "duckml:"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # two letters at least: "C:\\..." stays a path
_chosen: list[str | None] = [None]


def _unsupported(uri: str, why: str) -> MlflowException:
    return MlflowException(
        f"tracking URI {uri!r} {why}; duckml.mlflow logs to a duckml store: give a path "
        "(e.g. 'mlruns.duckdb'), 'duckml:<path>' or a 'ducklake:' spec. To bring runs from an MLflow store "
        f"into duckml, run `duckml import-mlflow {uri}`", error_code="INVALID_PARAMETER_VALUE")


def store_location(uri) -> str:
    """The duckml store that a tracking URI names, or ``MlflowException`` for MLflow's own stores.

    >>> store_location("duckml:/tmp/team.duckdb"), store_location("runs.duckdb")
    ('/tmp/team.duckdb', 'runs.duckdb')
    >>> store_location("sqlite:///mlflow.db")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    duckml.mlflow.exceptions.MlflowException: tracking URI 'sqlite:///mlflow.db' is an MLflow store; ...
    """
    if isinstance(uri, os.PathLike):
        return os.fspath(uri)
    if not isinstance(uri, str) or not uri.strip():
        raise MlflowException(f"tracking URI must be a non-empty string or path, got {uri!r}",
                              error_code="INVALID_PARAMETER_VALUE")
    if uri.startswith(DUCKML_PREFIX):
        rest = uri[len(DUCKML_PREFIX):]
        return rest[2:] if rest.startswith("//") else rest
    if uri.startswith("ducklake:"):
        return uri
    if uri == "databricks" or uri.startswith("databricks"):
        raise _unsupported(uri, "is a Databricks workspace")
    match = _SCHEME.match(uri)
    if match:
        raise _unsupported(uri, "is an MLflow store" if match.group(1).lower() in ("sqlite", "file", "postgresql",
                                                                                  "mysql", "mssql")
                           else "is an MLflow tracking server")
    return uri


@mlflow_errors
def set_tracking_uri(uri) -> None:
    """Choose the duckml store runs go to (``duckml.set_store``), as MLflow's ``set_tracking_uri``.

    >>> import duckml.mlflow as mlflow, tempfile, os
    >>> mlflow.set_tracking_uri(os.path.join(tempfile.mkdtemp(), "team.duckdb"))
    >>> mlflow.get_tracking_uri().endswith("team.duckdb")
    True
    """
    location = store_location(uri)
    ensure_store(duckml.set_store(location))
    _chosen[0] = os.fspath(uri)


def ensure_store(store=None) -> None:
    """Create the store if missing: MLflow makes its store on first use, reads included, and scripts
    read first (``get_experiment_by_name``) as often as they write."""
    store = store if store is not None else duckml.get_store()
    if not store.exists():
        store.create()


def get_tracking_uri() -> str:
    """The URI given to ``set_tracking_uri``, else the store duckml uses (``$DUCKML_STORE`` or the default)."""
    current = str(duckml.resolve_store_path())
    chosen = _chosen[0]
    if chosen is not None and str(duckml.resolve_store_path(store_location(chosen))) == current:
        return chosen  # as given, while it is still the store in use (duckml.set_store may have moved on)
    return current


def is_tracking_uri_set() -> bool:
    return _chosen[0] is not None or bool(os.environ.get("DUCKML_STORE"))


@mlflow_errors
def set_registry_uri(uri) -> None:
    """duckml keeps the registry in the tracking store: a registry URI must name that same store."""
    location = store_location(uri)
    if str(duckml.resolve_store_path(location)) != str(duckml.resolve_store_path()):
        raise MlflowException(f"registry URI {uri!r} names another store than the tracking store "
                              f"{get_tracking_uri()!r}; duckml keeps the registry in the tracking store",
                              error_code="INVALID_PARAMETER_VALUE")


def get_registry_uri() -> str:
    return get_tracking_uri()


def forget_tracking_uri() -> None:
    """Back to no URI set (for tests; ``duckml.reset_state`` does not know this module)."""
    _chosen[0] = None
