"""Which store a process uses, and the one ``Store`` object per store file and process."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from duckml.store.store import Store

DEFAULT_STORE = "duckml.duckdb"
_selected_path: Path | None = None
_stores: dict[Path, Store] = {}
_stores_lock = threading.Lock()


def resolve_store_path(path: str | os.PathLike | None = None) -> Path:
    """The store file to use: ``path``, else ``set_store()``, else ``$DUCKML_STORE``, else ``./duckml.duckdb``.

    >>> resolve_store_path("/tmp/x.duckdb").name
    'x.duckdb'
    """
    if path is not None:
        chosen = Path(path)
    elif _selected_path is not None:
        chosen = _selected_path
    elif os.environ.get("DUCKML_STORE"):
        chosen = Path(os.environ["DUCKML_STORE"])
    else:
        chosen = Path(DEFAULT_STORE)
    return Path(os.path.abspath(os.path.expanduser(chosen)))


def set_store(path: str | os.PathLike | None) -> Store:
    """Choose the store file for this process (``None`` goes back to ``$DUCKML_STORE`` / the default).

    >>> import duckml, tempfile, os
    >>> store = duckml.set_store(os.path.join(tempfile.mkdtemp(), "demo.duckdb"))
    >>> store.path.name
    'demo.duckdb'
    """
    global _selected_path
    _selected_path = None if path is None else Path(os.path.abspath(os.path.expanduser(path)))
    return get_store()


def get_store(path: str | os.PathLike | None = None) -> Store:
    """The process-wide ``Store`` for a path (resolved as ``resolve_store_path``).

    >>> import tempfile, os
    >>> get_store(os.path.join(tempfile.mkdtemp(), "s.duckdb")).path.suffix
    '.duckdb'
    """
    resolved = resolve_store_path(path)
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


def open_stores() -> list[Store]:
    """Every store this process has opened (for exit and fork handling)."""
    with _stores_lock:
        return list(_stores.values())


def reset_stores() -> None:
    """Close every store of this process and forget the selection: a clean slate (tests, notebooks).

    Data logged so far is ingested first; nothing is lost.

    >>> reset_stores()
    """
    global _selected_path
    with _stores_lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()
    _selected_path = None
