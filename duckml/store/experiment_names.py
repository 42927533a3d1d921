"""Experiment names and ids without the DuckDB file, so a run can start while another program holds it.

While a plain ``duckdb`` client holds the file read-write, DuckDB refuses every other process even a
read-only attach. Starting a run needs only its experiment's id; three pieces give it without the file:

- ``derived_id(name)``: the id duckml gives every experiment it creates, from the name alone (``Default``
  is ``"0"``, as in MLflow), so processes that create one name at once agree on its id.
- a small cache, ``<journal folder>/experiments.json``, of the names, ids and stages last seen in the
  file. It finds an experiment stored under another id (imported from MLflow, with MLflow's id) or
  deleted. It is replaced whole and atomically (``os.replace``), so a crash leaves the old or the new
  copy; an unreadable or missing cache is an empty one, and a folder that refuses the write (read-only)
  only means no cache.
- ``aliases``: the ingest's safety net for a name the cache missed. A run journaled under the derived
  id of a name the file stores under another id is moved to the stored experiment, in every batch and
  every reader's overlay, so one name never becomes two experiments.

>>> derived_id("Default")
'0'
"""

from __future__ import annotations

import functools
import json
import os
import threading
import uuid
from datetime import datetime
from pathlib import Path

DEFAULT_NAME = "Default"
DEFAULT_ID = "0"
CACHE_FILE = "experiments.json"
_NAMESPACE = uuid.UUID("5d7c6a52-8f0e-4d4f-9a51-8a7e3f1c2b10")
_FORMAT = 1


@functools.lru_cache(maxsize=65536)  # the ingest derives every stored name's id while a new one is pending
def derived_id(name: str) -> str:
    """The id duckml gives a new experiment called ``name``.

    >>> derived_id("sales") == derived_id("sales") != derived_id("churn")
    True
    """
    if name == DEFAULT_NAME:
        return DEFAULT_ID
    return uuid.uuid5(_NAMESPACE, name).hex


def _cache_path(journal_dir: Path) -> Path:
    return Path(journal_dir) / CACHE_FILE


def read_cache(journal_dir: Path) -> dict[str, dict]:
    """name -> ``{"id", "stage", "created"}`` as last seen in the file; empty when missing or unreadable.

    >>> import tempfile
    >>> read_cache(tempfile.mkdtemp())
    {}
    """
    try:
        with open(_cache_path(journal_dir), "rb") as handle:
            document = json.loads(handle.read())
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        return {}
    entries = document.get("experiments")
    if not isinstance(entries, dict):
        return {}
    return {name: entry for name, entry in entries.items()
            if isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("stage"), str)}


def remember(journal_dir: Path, rows) -> None:
    """Record the file's experiments, ``(experiment_id, name, lifecycle_stage, creation_time)`` rows in
    the order of preference (active first): the first row of a name wins.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> remember(folder, [("7", "sales", "active", None)])
    >>> lookup_name(folder, "sales")["id"]
    '7'
    """
    entries: dict[str, dict] = {}
    for experiment_id, name, stage, created in rows:
        if name not in entries:
            entries[name] = _entry(experiment_id, stage, created)
    if read_cache(journal_dir) != entries:
        _write(journal_dir, entries)


def remember_one(journal_dir: Path, experiment_id: str, name: str, stage: str, created) -> None:
    """Record one experiment's new stage (a delete or restore) without reading the file.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> remember_one(folder, "7", "sales", "deleted", None)
    >>> lookup_name(folder, "sales")["stage"]
    'deleted'
    """
    entries = read_cache(journal_dir)
    entries[name] = _entry(experiment_id, stage, created)
    _write(journal_dir, entries)


def _entry(experiment_id, stage: str, created) -> dict:
    return {"id": str(experiment_id), "stage": stage,
            "created": created.isoformat() if isinstance(created, datetime) else None}


def _write(journal_dir: Path, entries: dict) -> None:
    path = _cache_path(journal_dir)
    temporary = path.with_name(f"{CACHE_FILE}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps({"format": _FORMAT, "experiments": entries}, ensure_ascii=True))
        os.replace(temporary, path)
    except OSError:  # a read-only or full journal folder: the cache is an optimisation, never an error
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass


def lookup_name(journal_dir: Path, name: str) -> dict | None:
    """The cached entry of the experiment called ``name``, or None."""
    return read_cache(journal_dir).get(name)


def lookup_id(journal_dir: Path, experiment_id: str) -> tuple[str, dict] | None:
    """``(name, entry)`` of the cached experiment with this id, or None."""
    for name, entry in read_cache(journal_dir).items():
        if entry["id"] == experiment_id:
            return name, entry
    return None


def created_at(entry: dict) -> datetime | None:
    """The creation time a cache entry holds (None when it holds none)."""
    try:
        return datetime.fromisoformat(entry["created"]) if entry.get("created") else None
    except (TypeError, ValueError):
        return None


def aliases(stored_rows) -> dict[str, str]:
    """derived id -> stored id, for every name the file stores under an id other than its derived one.

    ``stored_rows`` are ``(experiment_id, name)`` in the order of preference (the first row of a name wins).

    >>> aliases([("1", "imported"), (derived_id("native"), "native")]) == {derived_id("imported"): "1"}
    True
    """
    found: dict[str, str] = {}
    seen: set[str] = set()
    for experiment_id, name in stored_rows:
        if name in seen:
            continue
        seen.add(name)
        derived = derived_id(name)
        if derived != experiment_id:
            found[derived] = experiment_id
    return found
