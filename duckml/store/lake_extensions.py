"""The ducklake and postgres DuckDB extensions, loaded from their PyPI wheels (no download at run time).

``pip install "duckml[lake]"`` installs ``duckdb-extension-ducklake`` and ``duckdb-extension-postgres`` for
duckdb 1.5.5. Their binaries sit in site-packages under ``duckdb_extension_<name>/extensions/v<version>/``.
The ducklake binary LOADs as it is. The postgres one must carry its canonical file name,
``postgres_scanner.duckdb_extension``, or DuckDB looks for the wrong entry point: it is copied once into a
cache folder under that name (shared/DUCKDB_FACTS.md).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from importlib import util
from pathlib import Path

import duckdb

from duckml.errors import StoreError

# wheel package -> (the file it ships, the name DuckDB needs it to have)
_WHEELS = {
    "ducklake": ("duckdb_extension_ducklake", "ducklake.duckdb_extension", "ducklake.duckdb_extension"),
    "postgres": ("duckdb_extension_postgres", "postgres.duckdb_extension", "postgres_scanner.duckdb_extension"),
}
INSTALL_HINT = 'pip install "duckml[lake]"'
_resolved: dict[str, Path] = {}
_resolve_lock = threading.Lock()


class LakeExtensionMissing(StoreError):
    """A lake store was asked for but the extension wheels are not installed."""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "duckml" / "extensions" / f"v{duckdb.__version__}"


def _shipped_binary(name: str) -> Path:
    package, shipped, _ = _WHEELS[name]
    spec = util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LakeExtensionMissing(
            f"a ducklake store needs the {name} DuckDB extension, which is not installed: {INSTALL_HINT} "
            f"(it installs {package.replace('_', '-')}=={duckdb.__version__})")
    root = Path(next(iter(spec.submodule_search_locations)))
    candidate = root / "extensions" / f"v{duckdb.__version__}" / shipped
    if not candidate.is_file():
        found = sorted(p.parent.name for p in root.glob(f"extensions/*/{shipped}"))
        raise LakeExtensionMissing(
            f"the installed {package} wheel has no binary for duckdb {duckdb.__version__} "
            f"(it has {found or 'none'}); {INSTALL_HINT}")
    return candidate


def _fingerprint(path: Path) -> str:
    # size and mtime, not a hash of the bytes: hashing the ~30 MB binary would cost every process ~50 ms
    stat = path.stat()
    return hashlib.sha256(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()


def extension_path(name: str) -> Path:
    """The file to LOAD for extension ``name`` ('ducklake' or 'postgres'), a renamed copy made if needed.

    >>> extension_path("ducklake").name  # doctest: +SKIP
    'ducklake.duckdb_extension'
    """
    with _resolve_lock:
        if name in _resolved:
            return _resolved[name]
        shipped = _shipped_binary(name)
        canonical = _WHEELS[name][2]
        if shipped.name == canonical:
            _resolved[name] = shipped
            return shipped
        # one copy per installed wheel file: a reinstalled wheel never meets a stale copy
        folder = _cache_dir() / _fingerprint(shipped)[:16]
        target = folder / canonical
        if not target.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=".partial-")
            os.close(handle)
            try:
                shutil.copyfile(shipped, temporary)
                os.replace(temporary, target)  # atomic: concurrent processes each produce the same bytes
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
        _resolved[name] = target
        return target


def load_lake_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """LOAD ducklake and postgres into ``con`` from the wheels' files.

    >>> import duckdb
    >>> load_lake_extensions(duckdb.connect())  # doctest: +SKIP
    """
    for name in ("postgres", "ducklake"):
        path = extension_path(name)
        try:
            con.execute("LOAD '" + str(path).replace("'", "''") + "'")
        except duckdb.Error as error:
            raise LakeExtensionMissing(f"cannot load the {name} extension from {path}: {error}; "
                                       f"reinstall it with {INSTALL_HINT}") from error


def lake_extensions_available() -> bool:
    """True when both extension wheels for this duckdb are installed."""
    try:
        for name in _WHEELS:
            _shipped_binary(name)
    except LakeExtensionMissing:
        return False
    return True
