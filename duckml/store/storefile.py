"""What is on disk at a store's path before DuckDB opens it: a DuckDB file, a foreign one, or one another
process is creating right now."""

from __future__ import annotations

import time
from pathlib import Path

from duckml.errors import SchemaError

_DUCKDB_MAGIC = b"DUCK"
# A file written this recently that DuckDB cannot read yet is taken for one another process is creating.
CREATION_SECONDS = 5.0


def refuse_foreign_file(path: Path) -> None:
    """Raise ``SchemaError`` unless ``path`` holds a DuckDB database, before DuckDB may touch it.

    A file being created by another process may briefly lack its header, so look again for a moment.

    >>> import os, tempfile, pathlib
    >>> notes = pathlib.Path(tempfile.mkdtemp()) / "notes.duckdb"
    >>> _ = notes.write_text("my notes, not a database" * 10)
    >>> os.utime(notes, (0, 0))  # an old file: one written just now would be waited for
    >>> refuse_foreign_file(notes)
    Traceback (most recent call last):
    ...
    duckml.errors.SchemaError: ... is not a DuckDB database; duckml left it untouched ...
    """
    for attempt in range(20):
        with open(path, "rb") as handle:
            header = handle.read(12)
        if header[8:12] == _DUCKDB_MAGIC:
            return
        if attempt == 0 and not being_created(path):
            break
        time.sleep(0.1)
    raise SchemaError(f"{path} is not a DuckDB database; duckml left it untouched "
                      "(choose another path with set_store() or --store)")


def being_created(path: Path) -> bool:
    """Whether ``path`` looks like a store another process is creating right now (written seconds ago)."""
    try:
        return time.time() - path.stat().st_mtime < CREATION_SECONDS
    except FileNotFoundError:
        return False
