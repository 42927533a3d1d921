"""The files of a run the UI shows: its artifacts, found by (run id, recorded path) and opened by content
hash, and the image series and JSON tables among them. A URL's text is only ever compared with recorded paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from duckml.errors import InvalidInputError, NotFoundError
from duckml.store.objects import object_path

_SHA256 = re.compile(r"[0-9a-f]{64}")

# -- images and tables of a run ---------------------------------------------------------------------------
TABLE_ROWS_SHOWN = 200
TABLE_BYTES_READ = 8 * 1024 * 1024


def image_series(run_id: str, paths: list[str]) -> list[dict]:
    """The run's image series (``log_image(key=, step=)``), one per key: its points by step, each with the
    URL of the full image and of its thumbnail."""
    from urllib.parse import quote

    from duckml.tracking.media import series_from_paths

    def url(path):
        return f"/runs/{quote(run_id, safe='')}/artifact?path={quote(path, safe='')}" if path else None

    grouped: dict[str, list[dict]] = {}
    for point in series_from_paths(paths):
        full, thumbnail = url(point.path), url(point.thumbnail)
        grouped.setdefault(point.key, []).append({"step": point.step, "timestamp": point.timestamp,
                                                  "url": full or thumbnail, "thumbnail": thumbnail or full})
    return [{"key": key, "points": points} for key, points in grouped.items()]


def logged_tables(store, run_id: str, tag: str | None) -> list[dict]:
    """The JSON tables ``log_table`` recorded in the run's ``mlflow.loggedArtifacts`` tag, each with its
    columns and its first TABLE_ROWS_SHOWN rows (``error`` says why one cannot be shown)."""
    import json

    try:
        listed = json.loads(tag) if tag else []
    except ValueError:
        return []
    paths = [e["path"] for e in listed if isinstance(e, dict) and e.get("type") == "table" and isinstance(e.get("path"), str)]
    tables = []
    for path in dict.fromkeys(paths):
        entry = {"path": path, "columns": [], "rows": [], "total": 0, "error": None}
        try:
            found = artifact_object(store, run_id, path)
            if found.size > TABLE_BYTES_READ:
                raise InvalidInputError(f"too large to show here ({found.size} bytes)")
            table = json.loads(found.file.read_text(encoding="utf-8"))
            columns, rows = table["columns"], table["data"]
            if not isinstance(columns, list) or not isinstance(rows, list):
                raise InvalidInputError("not a table of columns and data")
        except (NotFoundError, InvalidInputError, ValueError, KeyError, TypeError) as error:
            entry["error"] = str(error)
        else:
            entry.update(columns=[str(c) for c in columns], total=len(rows),
                         rows=[[_cell(v) for v in row] if isinstance(row, list) else [_cell(row)]
                               for row in rows[:TABLE_ROWS_SHOWN]])
        tables.append(entry)
    return tables


def _cell(value) -> str:
    import json

    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# -- artifacts -------------------------------------------------------------------------------------------
@dataclass
class ArtifactObject:
    path: str
    size: int
    media_type: str
    file: Path


def artifact_object(store, run_id: str, path: str) -> ArtifactObject:
    """The stored object of a run's artifact, found by (run_id, path) in the ``artifacts`` table.

    The URL's text is only ever compared with recorded paths; the file opened is
    ``objects/<sha[:2]>/<sha>`` under the store's artifact folder, and only for a well-formed sha256.
    """
    with store.read() as con:
        row = con.execute("SELECT path, size, sha256, media_type FROM artifacts WHERE run_id = ? AND path = ?",
                          [run_id, path]).fetchone()
    if row is None or not _SHA256.fullmatch(row[2] or ""):
        raise NotFoundError(f"run {run_id!r} has no artifact {path!r}")
    target = object_path(store.artifact_root, row[2])
    if not target.is_file():
        raise NotFoundError(f"artifact {path!r} of run {run_id!r} is missing from the artifact folder")
    return ArtifactObject(row[0], row[1], row[3] or "application/octet-stream", target)
