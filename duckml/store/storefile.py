"""What is on disk at a store's path before DuckDB opens it: a DuckDB file, a foreign one, one another
process is creating right now, or one whose creator died before it held anything."""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb

from duckml import dberrors
from duckml.errors import SchemaError, StoreError

_DUCKDB_MAGIC = b"DUCK"
# A file written this recently that DuckDB cannot read yet is taken for one another process is creating.
CREATION_SECONDS = 5.0
# DuckDB starts a file with three 4 KiB headers (the main one, then two database headers) and writes no
# data before all three are there: a shorter file holds nothing.
_HEADERS_BYTES = 3 * 4096


class StillbornFileRemoved(StoreError):
    """A read-only open found a file a dead process left half-created, and removed it: create it anew."""


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


def removed_stillborn(path: Path, error: duckdb.Error, read_only: bool) -> bool:
    """After DuckDB refused ``path`` with ``error``: whether it was a stillborn file, now removed, that a
    read-write ATTACH creates afresh. A read-only one cannot: ``StillbornFileRemoved`` tells its caller."""
    if not (dberrors.is_truncated(error) and remove_stillborn(path)):
        return False
    if read_only:
        raise StillbornFileRemoved(f"{path} was left half-created by a process that died; removed") from error
    return True


@contextmanager
def unwritable_is_store_error(path: Path):
    """DuckDB refusing to write ``path`` (a full disk) during an ingest becomes one ``StoreError`` line: the
    data stays in the journal, and the next ingest, by any process, moves it once the file can be written.

    >>> try:
    ...     with unwritable_is_store_error(Path("s.duckdb")):
    ...         raise duckdb.IOException('Could not write file "s.duckdb.wal": No space left on device')
    ... except StoreError as error:
    ...     print(str(error).split(";")[0])
    could not ingest into s.duckdb (Could not write file "s.duckdb.wal": No space left on device)
    """
    try:
        yield
    except StoreError:
        raise
    except (duckdb.Error, OSError) as error:
        reason = " ".join(str(error).split())  # DuckDB's texts span lines
        raise StoreError(f"could not ingest into {path} ({reason}); the data stays in the journal and the "
                         "next ingest moves it") from error


def remove_stillborn(path: Path) -> bool:
    """Delete ``path`` if its creator died before DuckDB's headers were complete (a process killed right as it
    created the store); return whether it did. Call it only once DuckDB has found the file's main header
    valid but the rest missing ("Could not read enough bytes"), which it checks first.

    Such a file holds no data of anyone's, and DuckDB refuses it forever. Only a file shorter than DuckDB's
    three headers qualifies, and only while no process holds its lock: DuckDB locks a new file before it
    writes a byte and keeps the lock while it lives, so a creator still at work is never touched. A
    write-ahead log beside it is not what a creator leaves at that point: the file is kept then too.

    >>> import duckdb, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> duckdb.connect(str(folder / "new.duckdb")).close()
    >>> stillborn = folder / "s.duckdb"
    >>> _ = stillborn.write_bytes((folder / "new.duckdb").read_bytes()[:4096])  # the main header, then a kill
    >>> remove_stillborn(stillborn), stillborn.exists()
    (True, False)
    """
    try:
        descriptor = os.open(path, os.O_RDWR)
    except OSError:  # gone, or not ours to write: not ours to remove either
        return False
    try:
        try:  # held until closed: a creator or a second remover waits for it, or fails to lock and retries
            fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a live process holds it: it is still creating the file
        found = os.fstat(descriptor)
        if found.st_size >= _HEADERS_BYTES or os.pread(descriptor, 12, 0)[8:12] != _DUCKDB_MAGIC:
            return False
        if path.with_name(path.name + ".wal").exists():
            return False
        try:  # the path may name another file by now (a second remover was first, and a creator followed)
            on_path = os.stat(path)
        except FileNotFoundError:
            return False
        if (on_path.st_dev, on_path.st_ino) != (found.st_dev, found.st_ino):
            return False
        os.unlink(path)
        return True
    finally:
        os.close(descriptor)


def being_created(path: Path) -> bool:
    """Whether ``path`` looks like a store another process is creating right now (written seconds ago)."""
    try:
        return time.time() - path.stat().st_mtime < CREATION_SECONDS
    except FileNotFoundError:
        return False
