"""Resolving model URIs to stored files, and loading models through a per-process cache.

A registry URI resolves through ``model_versions`` to its source ``runs:/<run_id>/<path>``; the model
files are that run's artifacts ``<path>/duckml_model.json`` and ``<path>/model.skops``, found in one
store read. Loaded models are cached by (model file, sha256, extra trusted types) and the cache entry is
dropped when the file's size, mtime or inode change; ``load_model_file`` re-checks the digest on reload.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duckml.models.cache import MODELS
from duckml.errors import NotFoundError, UntrustedModelError
from duckml.models.uri import ModelURI, parse_model_uri
from duckml.store import get_store



@dataclass(frozen=True)
class ResolvedModel:
    """A model URI resolved to its files: what ``predict`` needs without loading anything yet."""

    name: str | None
    version: int | None
    run_id: str
    artifact_path: str
    metadata: Any  # model_format.ModelMetadata
    model_file: Path

    @property
    def source_uri(self) -> str:
        return f"runs:/{self.run_id}/{self.artifact_path}"

    @property
    def signature(self) -> dict[str, Any]:
        return self.metadata.signature

    @property
    def directory(self) -> Path:
        """A private local copy of the model folder (made on first use, removed at exit)."""
        return _materialize(self.run_id, self.artifact_path, self.metadata.sha256)


# -- registry lookups (inside a store.read()/write()) -----------------------------------------------
def _require_model(con, name: str) -> None:
    if not con.execute("SELECT 1 FROM registered_models WHERE name = ?", [name]).fetchall():
        raise NotFoundError(f"registered model {name!r} does not exist; list models with `duckml models list`")


def _require_version(con, name: str, version: int) -> None:
    _require_model(con, name)
    if not con.execute("SELECT 1 FROM model_versions WHERE name = ? AND version = ?", [name, version]).fetchall():
        known = [r[0] for r in con.execute(
            "SELECT version FROM model_versions WHERE name = ? ORDER BY version", [name]).fetchall()]
        raise NotFoundError(f"registered model {name!r} has no version {version}; its versions are "
                            f"{', '.join(map(str, known)) or 'none'}")


def _alias_version(con, name: str, alias: str) -> int:
    row = con.execute("SELECT version FROM model_aliases WHERE name = ? AND alias = ?", [name, alias]).fetchall()
    if not row:
        _require_model(con, name)
        known = [r[0] for r in con.execute(
            "SELECT alias FROM model_aliases WHERE name = ? ORDER BY alias", [name]).fetchall()]
        raise NotFoundError(f"registered model {name!r} has no alias {alias!r}; its aliases are "
                            f"{', '.join(known) or 'none'} (set one with set_registered_model_alias)")
    return row[0][0]


def _latest_version(con, name: str) -> int:
    _require_model(con, name)
    row = con.execute("SELECT max(version) FROM model_versions WHERE name = ?", [name]).fetchone()
    if row[0] is None:
        raise NotFoundError(f"registered model {name!r} has no versions; register one with register_model")
    return row[0]


def _registry_version(con, parsed: ModelURI) -> int:
    if parsed.kind == "version":
        return parsed.version
    if parsed.kind == "alias":
        return _alias_version(con, parsed.name, parsed.alias)
    return _latest_version(con, parsed.name)


# -- resolving and loading ------------------------------------------------------------------------------
def _artifact_file(con, store, run_id: str, path: str) -> tuple[Path, str] | None:
    """(object file, sha256 recorded in the artifacts table) of one artifact, or None."""
    from duckml.store.objects import object_path

    row = con.execute("SELECT sha256 FROM artifacts WHERE run_id = ? AND path = ?", [run_id, path]).fetchall()
    if not row:
        return None
    target = object_path(store.artifact_root, row[0][0])
    if not target.is_file():
        raise NotFoundError(f"artifact {path!r} of run {run_id} points to a missing object {target}; "
                            "the artifact folder was edited or lost")
    return target, row[0][0]


def _model_files(con, store, run_id: str, path: str):
    """(metadata, model file) of the model logged at ``path`` of a run, inside one read.

    Both files are tied to the digests the store recorded when they were logged, so replacing files in
    the artifact folder (without write access to the DuckDB file) is always detected.
    """
    from duckml.models.format import METADATA_FILE, read_metadata_file
    from duckml.store.objects import file_sha256

    meta = _artifact_file(con, store, run_id, f"{path}/{METADATA_FILE}")
    if meta is None and _artifact_file(con, store, run_id, f"{path}/MLmodel") is not None:
        raise UntrustedModelError(f"{path} of run {run_id} is an MLflow model duckml cannot load safely (a pickle, "
                                  "or another flavor); if you trust who saved it, run `duckml import-mlflow "
                                  "<its tracking URI> --trust-pickled-models` to re-save it in duckml's format")
    if meta is None:
        raise NotFoundError(f"run {run_id!r} has no model at artifact path {path!r} (no {path}/{METADATA_FILE}); "
                            "log one with duckml.log_model")
    if file_sha256(meta[0]) != meta[1]:
        raise UntrustedModelError(f"{path}/{METADATA_FILE} of run {run_id} does not match the sha256 the store "
                                  "recorded when it was logged; it was modified and was not read")
    metadata = read_metadata_file(meta[0])
    model = _artifact_file(con, store, run_id, f"{path}/{metadata.model_file}")
    if model is None:
        raise NotFoundError(f"run {run_id!r} has model metadata at {path!r} but no {path}/{metadata.model_file}")
    if model[1] != metadata.sha256:
        raise UntrustedModelError(f"{path}/{metadata.model_file} of run {run_id} was logged with sha256 {model[1]}, "
                                  f"but its metadata records {metadata.sha256}; the model was not loaded")
    return metadata, model[0]


def resolve_parsed(con, store, parsed: ModelURI) -> ResolvedModel:
    name = version = None
    if parsed.kind == "run":
        run_id, path = parsed.run_id, parsed.path
    else:
        name = parsed.name
        version = _registry_version(con, parsed)
        _require_version(con, name, version)
        source = con.execute("SELECT source_uri FROM model_versions WHERE name = ? AND version = ?",
                             [name, version]).fetchone()[0]
        target = parse_model_uri(source)
        if target.kind != "run":
            raise NotFoundError(f"version {version} of model {name!r} has source {source!r}, which is not a "
                                "runs:/ URI; re-register it from its run")
        run_id, path = target.run_id, target.path
    metadata, model_file = _model_files(con, store, run_id, path)
    return ResolvedModel(name, version, run_id, path, metadata, model_file)


def resolve_model_uri(model_uri: str) -> ResolvedModel:
    """Resolve any model URI form to its version, source run, metadata and model file (one store read).

    >>> resolved = resolve_model_uri("models:/churn@champion")
    >>> resolved.version, resolved.signature["task"]
    (2, 'classification')
    """
    parsed = parse_model_uri(model_uri)
    store = get_store()
    with store.read(definitions=False) as con:  # registry tables only
        return resolve_parsed(con, store, parsed)




def _file_stamp(path: Path) -> tuple:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def load_resolved(resolved: ResolvedModel, *, trusted=None):
    """Load a resolved model through the per-process cache (keyed by file, digest and extra trust)."""
    from duckml.models.format import _trusted_names, load_model_file

    key = (str(resolved.model_file), resolved.metadata.sha256, tuple(sorted(_trusted_names(trusted))))
    stamp = _file_stamp(resolved.model_file)
    hit = MODELS.get(("model", *key), stamp)
    if hit is not None:
        return hit
    label = f"{resolved.source_uri}/{resolved.metadata.model_file}"
    model = load_model_file(resolved.model_file, sha256=resolved.metadata.sha256, trusted=trusted, source=label)
    MODELS.put(("model", *key), model, stamp)
    return model


def load_model(model_uri: str, *, trusted=None):
    """Load a model by URI (``models:/name/3``, ``models:/name@alias``, ``name``, ``runs:/id/model``, …).

    The file's sha256 is checked against its metadata, and only scikit-learn/numpy/scipy types load unless
    ``trusted`` names more. Loaded models are cached per process: do not mutate the returned object.

    >>> model = duckml.load_model("models:/churn@champion")
    >>> model.predict(X.head(2)).tolist()
    [1, 0]
    """
    return load_resolved(resolve_model_uri(model_uri), trusted=trusted)


def clear_model_cache() -> None:
    """Forget every model this process loaded."""
    MODELS.clear()


_copies: dict[tuple[str, str, str], Path] = {}
_copies_lock = threading.Lock()
_copy_root: list[Path] = []


def _materialize(run_id: str, path: str, sha256: str) -> Path:
    from duckml.tracking.artifacts import download_artifacts

    key = (run_id, path, sha256)  # the digest: a model re-logged at the same path gets a fresh copy
    with _copies_lock:
        if key not in _copies:
            if not _copy_root:
                _copy_root.append(Path(tempfile.mkdtemp(prefix="duckml-models-")))
                atexit.register(shutil.rmtree, _copy_root[0], True)
            target = _copy_root[0] / f"{run_id}-{len(_copies)}"
            _copies[key] = Path(download_artifacts(run_id, path, target))
        return _copies[key]
