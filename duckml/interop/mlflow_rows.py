"""Low-level reading of an MLflow store, shared by its readers: SQLite rows with their storage types checked,
``meta.yaml`` values with their types checked, one-file-per-key folders, artifact URIs as local paths.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

from duckml.errors import InvalidInputError
from duckml.interop.source_files import MAX_VALUE_BYTES, SourceTree


def local_path(uri: str | None) -> Path | None:
    """The local folder behind an MLflow artifact URI (``file://`` or a plain path), else None.

    >>> str(local_path("file:///tmp/mlruns/1/abc/artifacts"))
    '/tmp/mlruns/1/abc/artifacts'
    >>> local_path("s3://bucket/x") is None
    True
    """
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(uri)
    return None


# The SQLite storage types MLflow's columns hold; a trailing "?" admits NULL.
_KINDS = {"int": ("integer",), "text": ("text",), "num": ("integer", "real"), "id": ("integer", "text")}


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _select(con, path: Path, table: str, columns: dict[str, str], tail: str = "") -> list[tuple]:
    """The rows of ``table`` after checking every column holds an allowed storage type (``_KINDS``)."""
    names = ", ".join(f'"{c}"' for c in columns)
    allowed = {c: _KINDS[spec.rstrip("?")] + (("null",) if spec.endswith("?") else ()) for c, spec in columns.items()}
    wrong = " OR ".join(f'typeof("{c}") NOT IN ({", ".join(repr(k) for k in kinds)})' for c, kinds in allowed.items())
    types = ", ".join(f'typeof("{c}")' for c in columns)
    try:
        # checked first: SQLite reads a double-quoted name that is no column as a string literal
        present = {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}
        missing = [c for c in columns if c not in present]
        if missing:
            raise InvalidInputError(f"MLflow database {path}: table {table} has no column {missing[0]} (MLflow "
                                    "writes it since 2.0; upgrade the store with `mlflow db upgrade`)")
        bad = con.execute(f'SELECT {names}, {types} FROM "{table}" WHERE {wrong} LIMIT 1').fetchall()
        if bad:
            values, kinds = bad[0][:len(columns)], bad[0][len(columns):]
            for column, value, kind in zip(columns, values, kinds):
                if kind not in allowed[column]:
                    raise InvalidInputError(
                        f"MLflow database {path}: table {table}, column {column} holds {value!r:.60} ({kind}), "
                        f"where MLflow stores {' or '.join(allowed[column])}")
        return con.execute(f'SELECT {names} FROM "{table}" {tail}').fetchall()
    except sqlite3.Error as error:
        raise InvalidInputError(f"MLflow database {path}: table {table}: {error}") from None


def _meta_text(meta: dict, key: str, path: Path) -> str | None:
    value = meta.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise InvalidInputError(f"{path}: {key} is {type(value).__name__} {value!r:.60}, not text")


def _meta_ms(meta: dict, key: str, path: Path) -> int | None:
    value = meta.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise InvalidInputError(f"{path}: {key} is {value!r:.60}, not integer milliseconds since the epoch")


def _key_files(tree: SourceTree, folder: Path) -> dict[str, str]:
    """Params/tags of the file store: one file per key (keys with '/' are nested folders)."""
    return {key: tree.read_text(path, MAX_VALUE_BYTES) for key, path in tree.files(folder)}
