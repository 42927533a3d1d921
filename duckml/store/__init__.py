"""The store layer: the only code that opens the DuckDB file.

A store is one DuckDB file plus an artifact folder beside it. Logging appends to a per-process journal
(``journal``); ``ingest`` folds pending records into the file in bulk; ``schema`` applies the migrations and
(re)creates the views and macros of ``sql/``; ``objects`` keeps artifact bytes by content. A store can also
be a DuckLake catalog on PostgreSQL shared by many machines (``lake``; ``selection`` picks it for a
``ducklake:postgres:…`` spec). Upper layers use
``Store.read()`` / ``Store.write()`` / ``Store.journal`` and register exit work with ``on_exit``.
"""

from duckml.store.lifecycle import on_exit
from duckml.store.schema import sql_dir
from duckml.store.selection import (DEFAULT_STORE, get_store, reset_stores, resolve_store_path, set_store,
                                    store_for_attachment)
from duckml.store.store import Store, quiet_connection
from duckml.store.views import view_rows

__all__ = ["DEFAULT_STORE", "Store", "get_store", "on_exit", "quiet_connection", "reset_stores", "resolve_store_path",
           "set_store", "sql_dir", "store_for_attachment", "view_rows"]
