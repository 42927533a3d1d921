"""Which store a process uses, and the one ``Store`` object per store file and process."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from duckml.store.store import Store

DEFAULT_STORE = "duckml.duckdb"
LAKE_PREFIX = "ducklake:"  # a store spec, not a file: "ducklake:postgres:<conninfo>" (store/lake.py)
_selected_path: Path | str | None = None  # a str only for a lake spec
_selected_data_path: str | None = None
_stores: dict = {}  # Path of a file store, or (lake spec, data path) -> Store
_stores_lock = threading.Lock()


def resolve_store_path(path: str | os.PathLike | None = None) -> Path:
    """The store file to use: ``path``, else ``set_store()``, else ``$DUCKML_STORE``, else ``./duckml.duckdb``.

    >>> resolve_store_path("/tmp/x.duckdb").name
    'x.duckdb'
    """
    if path is not None:
        chosen = path
    elif _selected_path is not None:
        chosen = _selected_path
    elif os.environ.get("DUCKML_STORE"):
        chosen = os.environ["DUCKML_STORE"]
    else:
        chosen = DEFAULT_STORE
    if is_lake_spec(chosen):
        return chosen  # a lake spec is returned as it is
    return Path(os.path.abspath(os.path.expanduser(chosen)))


def is_lake_spec(chosen) -> bool:
    """Whether a store argument names a lake (``ducklake:postgres:<conninfo>``) rather than a file.

    >>> is_lake_spec("ducklake:postgres:dbname=team"), is_lake_spec("runs.duckdb")
    (True, False)
    """
    return isinstance(chosen, str) and chosen.startswith(LAKE_PREFIX)


def set_store(path: str | os.PathLike | None, data_path: str | os.PathLike | None = None) -> Store:
    """Choose the store for this process (``None`` goes back to ``$DUCKML_STORE`` / the default).

    ``path`` is a DuckDB file, or a lake ``"ducklake:postgres:<libpq conninfo>"`` whose Parquet files and
    artifacts live in ``data_path``, a folder every machine shares (default ``$DUCKML_DATA_PATH``).

    >>> import duckml, tempfile, os
    >>> store = duckml.set_store(os.path.join(tempfile.mkdtemp(), "demo.duckdb"))
    >>> store.path.name
    'demo.duckdb'
    """
    global _selected_path, _selected_data_path
    if path is None or is_lake_spec(path):
        _selected_path = path
    else:
        _selected_path = Path(os.path.abspath(os.path.expanduser(path)))
    _selected_data_path = None if data_path is None else os.fspath(data_path)
    return get_store()


def get_store(path: str | os.PathLike | None = None, data_path: str | os.PathLike | None = None) -> Store:
    """The process-wide ``Store`` for a path (resolved as ``resolve_store_path``), or for a lake spec.

    >>> import tempfile, os
    >>> get_store(os.path.join(tempfile.mkdtemp(), "s.duckdb")).path.suffix
    '.duckdb'
    """
    resolved = resolve_store_path(path)
    if is_lake_spec(resolved):
        return _lake_store(resolved, data_path)
    with _stores_lock:
        store = _stores.get(resolved)
        if store is None:
            store = _stores[resolved] = Store(resolved)
            store.origin = _origin(path)
        return store


def _origin(path) -> str:
    if path is not None:
        return "the path given"
    if _selected_path is not None:
        return "set_store() or --store"
    if os.environ.get("DUCKML_STORE"):
        return "$DUCKML_STORE"
    return f"the default, ./{DEFAULT_STORE} in the current folder"


def _lake_store(spec: str, data_path) -> Store:
    from duckml.store.lake import LakeStore  # loads its extensions only when a lake is opened

    if data_path is None:
        data_path = _selected_data_path or os.environ.get("DUCKML_DATA_PATH")
    key = (spec, None if not data_path else os.path.abspath(os.path.expanduser(data_path)))
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = LakeStore(spec, key[1])
        return store


def store_for_attachment(attached_path: str) -> Store:
    """The store whose catalog ``duckdb_databases()`` lists with this path (the ``store`` database)."""
    with _stores_lock:
        for store in _stores.values():
            if getattr(store, "attached_path", None) == attached_path:
                return store
    return get_store(attached_path)


def open_stores() -> list[Store]:
    """Every store this process has opened (for exit and fork handling)."""
    with _stores_lock:
        return list(_stores.values())


def reset_stores(flush: bool = True) -> None:
    """Close every store of this process and forget the selection: a clean slate (tests, notebooks).

    Data logged so far is ingested first; with ``flush=False`` it stays in the journal for the next ingest
    of any process. Either way nothing is lost.

    >>> reset_stores()
    """
    global _selected_path, _selected_data_path
    with _stores_lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close(flush=flush)
    _selected_path = _selected_data_path = None
