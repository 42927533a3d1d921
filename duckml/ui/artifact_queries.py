"""What the artifact browser reads: a run's recorded artifacts as a tree, and a preview of one of them.

Only files recorded in the store's ``artifacts`` table are ever opened, through
:func:`duckml.ui.run_files.artifact_object` (looked up by run id and recorded path, opened by content hash):
the URL's path is compared with recorded paths, never joined onto a folder. Tables are read by DuckDB
(an in-memory connection, the object's file bound as a parameter), at most ``TABLE_ROWS`` rows.

>>> tree([{"path": "plots/a.png", "size": 3, "media_type": "image/png"}, {"path": "b.txt", "size": 1, "media_type": "text/plain"}])[0]["name"]
'plots'
"""

from __future__ import annotations

import json
import math

from duckml.errors import NotFoundError
from duckml.ui.run_files import artifact_object

TABLE_ROWS = 1000
TEXT_BYTES = 200_000
JSON_BYTES = 2_000_000
RASTER = {"image/png", "image/jpeg", "image/gif", "image/webp"}
FRAMED = {"text/html", "image/svg+xml"}  # documents that may carry script: shown only in a sandboxed frame
TEXT_TYPES = ("text/", "application/json", "application/yaml", "application/x-yaml", "application/toml",
              "application/xml")


def run_artifacts(store, run_id: str) -> dict:
    """The run's name, experiment and recorded artifacts (path, size, media type); NotFoundError if unknown."""
    with store.read() as con:
        run = con.execute("""SELECT r.run_name, e.name FROM runs AS r
                             JOIN experiments AS e ON e.experiment_id = r.experiment_id WHERE r.run_id = ?""",
                          [run_id]).fetchone()
        if run is None:
            raise NotFoundError(f"run {run_id!r} does not exist")
        rows = con.execute("SELECT path, size, media_type FROM artifacts WHERE run_id = ? ORDER BY path",
                           [run_id]).fetchall()
    return {"run_id": run_id, "run_name": run[0], "experiment_name": run[1],
            "artifacts": [dict(zip(("path", "size", "media_type"), r)) for r in rows]}


def tree(artifacts: list[dict]) -> list[dict]:
    """Nested folders and files: ``{"name", "path", "children"}`` for a folder, the artifact's fields for a file;
    folders first, then files, each by name."""
    root: dict = {}
    for artifact in artifacts:
        parts = artifact["path"].split("/")
        node = root
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(("dir", part), {"__path__": "/".join(parts[:i + 1])})
        node[("file", parts[-1])] = artifact

    def build(node: dict) -> list[dict]:
        items = []
        for (kind, name), value in sorted(((k, v) for k, v in node.items() if k != "__path__"),
                                          key=lambda kv: (kv[0][0] != "dir", kv[0][1])):
            if kind == "dir":
                items.append({"name": name, "path": value["__path__"], "children": build(value)})
            else:
                items.append({**value, "name": name, "children": None})
        return items
    return build(root)


def kind_of(path: str, media_type: str) -> str:
    """How a file is previewed: table, json, image, frame, text or download.

    >>> [kind_of(p, t) for p, t in [("a.csv", "text/csv"), ("b.parquet", "application/octet-stream"),
    ...  ("c.html", "text/html"), ("d.json", "application/json"), ("e.png", "image/png"), ("f.bin", "x/y")]]
    ['table', 'table', 'frame', 'json', 'image', 'download']
    """
    lower = path.lower()
    if lower.endswith((".csv", ".tsv", ".parquet", ".pq")) or media_type in ("text/csv", "text/tab-separated-values"):
        return "table"
    if media_type in FRAMED or lower.endswith((".html", ".htm", ".svg")):
        return "frame"
    if media_type in RASTER:
        return "image"
    if media_type == "application/json" or lower.endswith(".json"):
        return "json"
    if media_type.startswith(TEXT_TYPES):
        return "text"
    return "download"


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return value if isinstance(value, (int, str)) else str(value)


def preview(store, run_id: str, path: str) -> dict:
    """One artifact's preview: its kind and what the page shows of it (``error`` when it cannot be read)."""
    found = artifact_object(store, run_id, path)
    kind = kind_of(found.path, found.media_type)
    result = {"path": found.path, "size": found.size, "media_type": found.media_type, "kind": kind, "error": None}
    if kind == "table":
        result.update(_table(found))
    elif kind == "json":
        raw = _head(found.file, JSON_BYTES)
        try:
            if len(raw) > JSON_BYTES:
                raise ValueError("too large to format")
            result["text"] = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
            result["truncated"] = False
        except ValueError:
            result["kind"] = "text"
            result["text"], result["truncated"] = _text(raw[:TEXT_BYTES + 1])
    elif kind == "text":
        result["text"], result["truncated"] = _text(_head(found.file, TEXT_BYTES + 1))
    return result


def _head(file, limit: int) -> bytes:
    with open(file, "rb") as handle:
        return handle.read(limit + 1)


def _text(raw: bytes) -> tuple[str, bool]:
    return raw[:TEXT_BYTES].decode("utf-8", errors="replace"), len(raw) > TEXT_BYTES


def _table(found) -> dict:
    import duckdb

    parquet = found.path.lower().endswith((".parquet", ".pq"))
    reader = "read_parquet(?)" if parquet else ("read_csv(?, delim = '\t')" if found.path.lower().endswith(".tsv")
                                                 else "read_csv(?)")
    try:
        with duckdb.connect() as con:
            con.execute("SET threads = 1")
            relation = con.execute(f"SELECT * FROM {reader} LIMIT {TABLE_ROWS + 1}", [str(found.file)])
            columns = [d[0] for d in relation.description]
            rows = relation.fetchall()
            total = con.execute(f"SELECT count(*) FROM {reader}", [str(found.file)]).fetchone()[0] if parquet else None
    except duckdb.Error as error:
        return {"error": f"DuckDB cannot read it as a table: {str(error).splitlines()[0]}"}
    return {"columns": columns, "rows": [[_cell(v) for v in row] for row in rows[:TABLE_ROWS]],
            "more": len(rows) > TABLE_ROWS, "total": total}
