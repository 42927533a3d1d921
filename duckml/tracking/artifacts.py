"""Run artifacts: files kept with a run, stored once per content in the artifact folder.

Layout: the bytes of every logged file live at ``<artifact root>/objects/<sha[:2]>/<sha256>``, written once
per distinct content; the ``artifacts`` table maps ``(run_id, path)`` to its object. A logical ``path`` is
never used as a filesystem path when logging, so nothing can be written outside the artifact folder; it is
checked anyway (``normalize_artifact_path``) and checked again when files are copied out.

Logging order, which ``duckml.gc`` relies on: copy the source into a temp file in ``objects/`` while
hashing it in 1 MiB chunks, journal the row, then move the temp file into place with ``os.replace``
(skipped when the object already exists). Large files stream; nothing is read whole into memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import mimetypes
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from duckml.clock import utcnow
from duckml.store.objects import OBJECTS, TMP_PREFIX, object_path, stage_stream
from duckml.tracking import runs
from duckml.tracking.fluent import run_id_or_active
from duckml.tracking.validation import check_text
from duckml.errors import InvalidInputError, NotFoundError, UnsafePathError


# mimetypes knows neither YAML nor Parquet on many systems
_MEDIA_TYPES = {
    ".yaml": "application/yaml", ".yml": "application/yaml", ".json": "application/json",
    ".parquet": "application/vnd.apache.parquet", ".txt": "text/plain", ".md": "text/markdown",
    ".log": "text/plain", ".skops": "application/octet-stream",
}


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One entry of ``list_artifacts``, as MLflow's: ``file_size`` is None for a directory."""

    path: str
    is_dir: bool
    file_size: int | None


# -- paths -------------------------------------------------------------------------------------
def normalize_artifact_path(path: str | os.PathLike | None, *, allow_root: bool = True) -> str:
    """Return ``path`` as a clean relative POSIX path, or raise UnsafePathError.

    Refused: ``..`` components, absolute paths (``/x``, ``C:x``, ``//host``), backslashes, NUL and other
    control characters. ``.`` components and repeated slashes are dropped. ``""``/None is the run's root.

    >>> normalize_artifact_path("plots//./loss.png")
    'plots/loss.png'
    >>> normalize_artifact_path("../etc/passwd")
    Traceback (most recent call last):
    duckml.errors.UnsafePathError: artifact path '../etc/passwd' has a '..' component; use a path inside the run's folder, e.g. 'plots/loss.png'
    """
    if path is None:
        text = ""
    elif isinstance(path, (str, os.PathLike)):
        text = os.fspath(path)
    else:
        raise InvalidInputError(f"artifact path must be a string, got {type(path).__name__} {path!r}")
    if not isinstance(text, str):
        raise InvalidInputError(f"artifact path must be a string, got bytes {text!r}")
    hint = "use a path inside the run's folder, e.g. 'plots/loss.png'"
    # refused rather than re-encoded: a stored path must be valid text for URLs, the UI and other machines
    check_text(text, "artifact path")
    if any(ord(ch) < 32 or ch == "\x7f" for ch in text):
        raise UnsafePathError(f"artifact path {text!r} contains a control character (NUL, newline…); {hint}")
    if "\\" in text:
        raise UnsafePathError(f"artifact path {text!r} contains a backslash; separate folders with '/'; {hint}")
    if text.startswith("/"):
        raise UnsafePathError(f"artifact path {text!r} is absolute; {hint}")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError(f"artifact path {text!r} has a '..' component; {hint}")
    # a drive prefix ("C:x") in any component would reset the path when joined on Windows
    if any(len(p) >= 2 and p[1] == ":" and p[0].isalpha() for p in parts):
        raise UnsafePathError(f"artifact path {text!r} has a drive letter (absolute on Windows); {hint}")
    if not parts and not allow_root:
        raise InvalidInputError(f"artifact file name {text!r} is empty; give a file name such as 'report.txt'")
    return "/".join(parts)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix and name else prefix or name


def media_type_for(path: str) -> str:
    """The media type recorded for an artifact path, from its extension.

    >>> media_type_for("metrics.yaml")
    'application/yaml'
    """
    suffix = PurePosixPath(path).suffix.lower()
    return _MEDIA_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


# -- staging and committing objects -------------------------------------------------------------
@dataclass
class _Staged:
    path: str  # logical artifact path
    tmp: Path
    sha256: str
    size: int
    media_type: str


def _stage_stream(objects: Path, reader, path: str, media_type: str) -> _Staged:
    tmp, sha256, size = stage_stream(objects, reader)
    return _Staged(path, tmp, sha256, size, media_type)


def _stage_file(objects: Path, source: Path, path: str) -> _Staged:
    with open(source, "rb") as reader:
        return _stage_stream(objects, reader, path, media_type_for(path))


def _stage_bytes(objects: Path, data: bytes, path: str) -> _Staged:
    return _stage_stream(objects, io.BytesIO(data), path, media_type_for(path))


def stage_file(objects: Path, source: Path, path: str) -> _Staged:
    """Copy a file into a temp object beside ``objects`` (hashing it); ``discard_staged`` undoes it."""
    return _stage_file(objects, source, path)


def discard_staged(staged: list) -> None:
    """Remove staged temp objects that will not be committed."""
    _discard(staged)


def _discard(staged: list[_Staged]) -> None:
    for item in staged:
        item.tmp.unlink(missing_ok=True)



def _commit(store, run_id: str, staged: list[_Staged]) -> None:
    """Journal the rows, then move the bytes into place (see ``duckml.gc`` for why in this order)."""
    try:
        for item in staged:
            store.journal.upsert("artifacts", {
                "run_id": run_id, "path": item.path, "size": item.size, "sha256": item.sha256,
                "media_type": item.media_type, "created_at": utcnow(),
            })
        for item in staged:
            target = object_path(store.artifact_root, item.sha256)
            try:
                os.utime(target)  # reused: a fresh mtime tells gc of other machines that it is in use
                item.tmp.unlink(missing_ok=True)
            except FileNotFoundError:  # new, or a gc took it away just now: ours goes in
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(item.tmp, target)
    finally:
        _discard(staged)


# -- run resolution and path conflicts ----------------------------------------------------------
def resolve_run(run_id: str | None) -> tuple[object, str]:
    """The store and run to log to: the given run (which must exist and not be deleted), else the active run."""
    run_id, store = run_id_or_active(run_id)
    runs.require_active(store, run_id)
    return store, run_id


def _check_targets(store, run_id: str, paths: list[str]) -> None:
    """Refuse a path that is a file where a folder is needed, or a folder where a file is."""
    with store.read(definitions=False) as con:
        existing = [r[0] for r in con.execute("SELECT path FROM artifacts WHERE run_id = ?", [run_id]).fetchall()]
    files = set(existing)
    dirs = {str(parent) for p in existing for parent in PurePosixPath(p).parents if str(parent) != "."}
    for path in paths:
        if path in dirs:
            raise InvalidInputError(f"artifact path {path!r} of run {run_id} is already a folder; "
                                    "log the file under another name")
        for parent in PurePosixPath(path).parents:
            if str(parent) in files:
                raise InvalidInputError(f"artifact path {path!r} of run {run_id} needs folder {str(parent)!r}, "
                                        "which is already a file; choose another artifact_path")
        files.add(path)
        dirs.update(str(parent) for parent in PurePosixPath(path).parents if str(parent) != ".")


def _log_staged(store, run_id: str, plan, stage) -> None:
    """Validate every target, stage every object, then commit them together."""
    _check_targets(store, run_id, [path for path, _ in plan])
    objects = Path(store.artifact_root) / OBJECTS
    staged: list[_Staged] = []
    try:
        for path, source in plan:
            staged.append(stage(objects, source, path))
    except BaseException:
        _discard(staged)
        raise
    _commit(store, run_id, staged)


# -- public logging functions -------------------------------------------------------------------
def log_artifact(local_path: str | os.PathLike, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Log one local file as ``<artifact_path>/<file name>`` of the run (the active run by default).

    >>> import duckml, tempfile, os
    >>> folder = tempfile.mkdtemp(); _ = duckml.set_store(os.path.join(folder, "s.duckdb"))
    >>> _ = Path(folder, "notes.txt").write_text("hello")
    >>> with duckml.start_run() as run:
    ...     duckml.log_artifact(os.path.join(folder, "notes.txt"), artifact_path="docs")
    >>> duckml.list_artifacts(run.info.run_id, "docs")
    [FileInfo(path='docs/notes.txt', is_dir=False, file_size=5)]
    """
    source = Path(local_path)
    if not source.is_file():
        raise NotFoundError(f"local file {str(local_path)!r} does not exist or is not a file; "
                            "use log_artifacts for a folder")
    prefix = normalize_artifact_path(artifact_path)
    path = normalize_artifact_path(_join(prefix, source.name), allow_root=False)
    store, run_id = resolve_run(run_id)
    _log_staged(store, run_id, [(path, source)], _stage_file)


def _walk_directory(root: Path) -> list[tuple[str, Path]]:
    """Every regular file under ``root`` as (relative POSIX path, file); symlinks must stay inside."""
    root_real = os.path.realpath(root)

    def inside(target: str) -> bool:
        return target == root_real or target.startswith(root_real.rstrip(os.sep) + os.sep)

    found: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real_dir = os.path.realpath(dirpath)
        if not inside(real_dir):
            raise UnsafePathError(f"folder {dirpath!r} inside {str(root)!r} is a symlink to {real_dir!r}, "
                                  "outside the logged folder; copy the files in instead of linking them")
        if real_dir in seen:  # a symlink loop or a second link to the same folder
            dirnames[:] = []
            continue
        seen.add(real_dir)
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            real = os.path.realpath(full)
            if not inside(real):
                raise UnsafePathError(f"file {full!r} is a symlink to {real!r}, outside the logged folder "
                                      f"{str(root)!r}; copy the file in instead of linking it")
            if not os.path.isfile(real):
                raise InvalidInputError(f"{full!r} is not a regular file (socket, fifo or broken link); remove it "
                                        "or log the files one by one")
            relative = os.path.relpath(full, root).replace(os.sep, "/")
            found.append((relative, Path(full)))
    return found


def log_artifacts(local_dir: str | os.PathLike, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Log every file under ``local_dir`` below ``artifact_path`` of the run, keeping the folder layout.

    >>> import duckml, tempfile, os
    >>> folder = tempfile.mkdtemp(); _ = duckml.set_store(os.path.join(folder, "s.duckdb"))
    >>> os.makedirs(os.path.join(folder, "out", "plots")); _ = Path(folder, "out", "plots", "a.svg").write_text("<svg/>")
    >>> with duckml.start_run() as run:
    ...     duckml.log_artifacts(os.path.join(folder, "out"), artifact_path="reports")
    >>> [f.path for f in duckml.list_artifacts(run.info.run_id, "reports/plots")]
    ['reports/plots/a.svg']
    """
    root = Path(local_dir)
    if not root.is_dir():
        raise NotFoundError(f"local folder {str(local_dir)!r} does not exist or is not a folder; "
                            "use log_artifact for a single file")
    prefix = normalize_artifact_path(artifact_path)
    plan = [(normalize_artifact_path(_join(prefix, rel), allow_root=False), full) for rel, full in _walk_directory(root)]
    store, run_id = resolve_run(run_id)
    _log_staged(store, run_id, plan, _stage_file)


def _log_bytes(data: bytes, artifact_file: str, run_id: str | None) -> None:
    path = normalize_artifact_path(artifact_file, allow_root=False)
    store, run_id = resolve_run(run_id)
    _log_staged(store, run_id, [(path, data)], _stage_bytes)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Log a string as a UTF-8 text file.

    >>> import duckml, tempfile, os
    >>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run() as run:
    ...     duckml.log_text("all good", "notes/summary.txt")
    >>> artifact_local_path(run.info.run_id, "notes/summary.txt").read_text()
    'all good'
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"log_text needs a str, got {type(text).__name__}; use log_artifact for bytes files")
    _log_bytes(text.encode("utf-8"), artifact_file, run_id)


def log_dict(dictionary: dict | list, artifact_file: str, run_id: str | None = None) -> None:
    """Log a dict as JSON, or as YAML when ``artifact_file`` ends in .yaml/.yml and PyYAML is installed.

    Without PyYAML a .yaml file gets JSON text, which is valid YAML 1.2.

    >>> import duckml, tempfile, os
    >>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run() as run:
    ...     duckml.log_dict({"lr": 0.1}, "config.json")
    >>> print(artifact_local_path(run.info.run_id, "config.json").read_text())
    {
      "lr": 0.1
    }
    """
    path = normalize_artifact_path(artifact_file, allow_root=False)
    if PurePosixPath(path).suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            yaml = None
        if yaml is not None:
            text = yaml.safe_dump(dictionary, default_flow_style=False, sort_keys=False, allow_unicode=True)
            _log_bytes(text.encode("utf-8"), path, run_id)
            return
    try:
        text = json.dumps(dictionary, indent=2, ensure_ascii=False)
    except TypeError as e:
        raise InvalidInputError(f"log_dict could not write {artifact_file!r} as JSON: {e}; "
                                "convert the values to str, int, float, bool, list or dict") from e
    _log_bytes(text.encode("utf-8"), path, run_id)


def log_figure(figure, artifact_file: str, run_id: str | None = None) -> None:
    """Log a matplotlib figure (any format ``savefig`` knows, by extension) or a plotly figure (.html).

    matplotlib is never imported here: the figure itself does the rendering.

    >>> fig, ax = plt.subplots(); ax.plot([1, 2])  # doctest: +SKIP
    >>> duckml.log_figure(fig, "plots/line.png")  # doctest: +SKIP
    """
    path = normalize_artifact_path(artifact_file, allow_root=False)
    suffix = PurePosixPath(path).suffix.lower()
    if not suffix:
        raise InvalidInputError(f"artifact_file {artifact_file!r} has no extension; use e.g. 'plot.png' or 'plot.svg'")
    buffer = io.BytesIO()
    if hasattr(figure, "savefig"):
        figure.savefig(buffer, format=suffix[1:])
    elif hasattr(figure, "write_html") and suffix in (".html", ".htm"):
        text = io.StringIO()
        figure.write_html(text)
        buffer.write(text.getvalue().encode("utf-8"))
    else:
        raise InvalidInputError(f"log_figure needs a matplotlib figure (or a plotly figure with an .html name), "
                                f"got {type(figure).__name__} for {artifact_file!r}")
    _log_bytes(buffer.getvalue(), path, run_id)


# -- reading ------------------------------------------------------------------------------------
def _rows(store, run_id: str, path: str) -> list[tuple[str, int, str]]:
    """(path, size, sha256) of the file ``path`` or of every file under the folder ``path``."""
    with store.read(definitions=False) as con:
        return con.execute(
            """SELECT path, size, sha256 FROM artifacts
               WHERE run_id = ? AND (? = '' OR path = ? OR starts_with(path, ? || '/'))
               ORDER BY path""", [run_id, path, path, path]).fetchall()


def artifact_files(run_id: str, path: str | None = None) -> list[dict]:
    """Every file of a run under ``path`` (all of them by default), with size, media type, sha256 and time.

    >>> import duckml, tempfile, os
    >>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run() as run:
    ...     duckml.log_text("x", "plots/a.txt")
    >>> [f["path"] for f in artifact_files(run.info.run_id)]
    ['plots/a.txt']
    """
    from duckml.sqlquote import execute
    from duckml.store import get_store

    store = get_store()
    runs.require_run(store, run_id)
    prefix = normalize_artifact_path(path)
    with store.read(definitions=False) as con:
        result = execute(con, """SELECT path, size, media_type, sha256, created_at FROM artifacts
                                 WHERE run_id = ? AND (? = '' OR path = ? OR starts_with(path, ? || '/'))
                                 ORDER BY path""", [run_id, prefix, prefix, prefix])
        columns = [d[0] for d in result.description]
        return [dict(zip(columns, row)) for row in result.fetchall()]


def list_artifacts(run_id: str, path: str | None = None) -> list[FileInfo]:
    """The direct children of ``path`` (the run's root by default), sorted by path as MLflow lists them.

    A ``path`` that names a file lists nothing, as in MLflow.

    >>> import duckml, tempfile, os
    >>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run() as run:
    ...     duckml.log_text("x", "plots/a.txt"); duckml.log_text("y", "model.txt")
    >>> duckml.list_artifacts(run.info.run_id)
    [FileInfo(path='model.txt', is_dir=False, file_size=1), FileInfo(path='plots', is_dir=True, file_size=None)]
    """
    from duckml.store import get_store

    prefix = normalize_artifact_path(path)
    rows = _rows(get_store(), run_id, prefix)
    children: dict[str, FileInfo] = {}
    for row_path, size, _ in rows:
        if row_path == prefix:
            return []
        rest = row_path[len(prefix) + 1:] if prefix else row_path
        head, _, tail = rest.partition("/")
        child = _join(prefix, head)
        children[child] = FileInfo(child, True, None) if tail else FileInfo(child, False, size)
    return sorted(children.values(), key=lambda f: f.path)


def artifact_local_path(run_id: str, path: str) -> Path:
    """The stored object file holding the artifact ``path`` of a run: read it, never write to it.

    >>> import duckml, tempfile, os
    >>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run() as run:
    ...     duckml.log_text("all good", "summary.txt")
    >>> artifact_local_path(run.info.run_id, "summary.txt").parent.parent.name
    'objects'
    """
    from duckml.store import get_store

    store = get_store()
    clean = normalize_artifact_path(path, allow_root=False)
    with store.read(definitions=False) as con:
        found = con.execute("SELECT sha256 FROM artifacts WHERE run_id = ? AND path = ?", [run_id, clean]).fetchall()
    if not found:
        raise NotFoundError(f"run {run_id!r} has no artifact file {clean!r}; see duckml.list_artifacts({run_id!r})")
    return _existing_object(store, run_id, clean, found[0][0])


def _existing_object(store, run_id: str, path: str, sha256: str) -> Path:
    target = object_path(store.artifact_root, sha256)
    if not target.is_file():
        raise NotFoundError(f"artifact {path!r} of run {run_id} points to object {sha256}, which is missing from "
                            f"{Path(store.artifact_root) / OBJECTS}; the artifact folder was edited or lost")
    return target


def download_artifacts(run_id: str, path: str | None = None, dst_path: str | os.PathLike | None = None) -> str:
    """Copy the artifact file or folder ``path`` (the whole run by default) to ``dst_path``/``path``.

    ``dst_path`` defaults to a new temporary folder. Returns the local path of the copy, as MLflow does.

    >>> import duckml, tempfile, os
    >>> folder = tempfile.mkdtemp(); _ = duckml.set_store(os.path.join(folder, "s.duckdb"))
    >>> with duckml.start_run() as run:
    ...     duckml.log_text("x", "plots/a.txt")
    >>> local = duckml.download_artifacts(run.info.run_id, "plots", os.path.join(folder, "out"))
    >>> sorted(os.listdir(local))
    ['a.txt']
    """
    from duckml.store import get_store

    store = get_store()
    prefix = normalize_artifact_path(path)
    rows = _rows(store, run_id, prefix)
    if not rows:
        raise NotFoundError(f"run {run_id!r} has no artifact {prefix or '(root)'!r}; "
                            f"see duckml.list_artifacts({run_id!r})")
    destination = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="duckml-artifacts-"))
    destination.mkdir(parents=True, exist_ok=True)
    dest_real = os.path.realpath(destination)
    for row_path, _, sha in rows:
        clean = normalize_artifact_path(row_path, allow_root=False)  # rows may have been edited by hand
        source = _existing_object(store, run_id, clean, sha)
        target = destination.joinpath(*clean.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        parent_real = os.path.realpath(target.parent)
        if not (parent_real == dest_real or parent_real.startswith(dest_real.rstrip(os.sep) + os.sep)):
            raise UnsafePathError(f"copying artifact {clean!r} would write to {parent_real!r}, outside "
                                  f"{str(destination)!r} (a symlink in the destination); choose an empty folder")
        tmp = target.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return str(destination.joinpath(*prefix.split("/")) if prefix else destination)
