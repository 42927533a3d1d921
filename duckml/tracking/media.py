"""Images and tables as run artifacts, in MLflow 3's layouts, so MLflow's UI and readers find them as theirs.

- ``log_image(image, "plots/x.png")`` stores one image file. ``log_image(image, key="val/sample", step=3)``
  adds a point to an image series: ``images/<key with '/' as '#'>%step%<step>%timestamp%<ms>%<id>.png`` and a
  thumbnail beside it (the same name ending ``%compressed.webp``, at most 256 px a side), and the run tag
  ``mlflow.loggedImages``. The series' metadata lives in the file names, as in MLflow; ``image_series``
  reads it back.
- ``log_table(data, "eval.json")`` stores ``{"columns": [...], "data": [[...], ...]}`` (pandas'
  ``orient="split"``, MLflow's format); logging to the same file again appends the rows (columns are
  matched by name, a missing one is null), and the run tag ``mlflow.loggedArtifacts`` lists the table.
  ``load_table`` reads one table over the runs of the active experiment into one Polars frame.

Pillow is imported only when an image is logged.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import random
import re
import string
import uuid
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath

from duckml.clock import utcnow
from duckml.errors import InvalidInputError, NotFoundError
from duckml.tracking import runs
from duckml.tracking.artifacts import _log_staged, _stage_bytes, artifact_local_path, normalize_artifact_path, resolve_run

IMAGES_FOLDER = "images"
THUMBNAIL_SIZE = 256  # MLflow's COMPRESSED_IMAGE_SIZE
LOGGED_IMAGES_TAG = "mlflow.loggedImages"
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-./ ]+$")
_SERIES_NAME = re.compile(r"^(?P<key>.+)%step%(?P<step>-?\d+)%timestamp%(?P<timestamp>-?\d+)%(?P<id>[^%]+)"
                          r"(?P<compressed>%compressed)?\.(?:png|webp)$")


# -- images ------------------------------------------------------------------------------------
def _to_pil(image):
    """A PIL image from a PIL image or a numpy array (HxW, HxWx1, HxWx3, HxWx4; bool, int in [0, 255],
    float in [0, 1], as MLflow accepts them)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    import numpy as np

    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"log_image needs a numpy array or a PIL image, got {type(image).__name__}")
    if image.dtype.kind not in "biuf":
        raise InvalidInputError(f"log_image: array dtype {image.dtype} is not bool, integer or float")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise InvalidInputError(f"log_image: array shape {image.shape} is not HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA)")
    if image.size == 0:
        raise InvalidInputError(f"log_image: array shape {image.shape} has no pixels")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.dtype.kind in "iu":
        low, high = image.min(), image.max()
        if low < 0 or high > 255:
            raise InvalidInputError(f"log_image: integer pixels must be in [0, 255], found {low} to {high}")
        pixels = image.astype(np.uint8)
    else:
        values = image.astype(np.float64)
        if not np.isfinite(values).all():
            raise InvalidInputError("log_image: float pixels must be finite, found NaN or infinity")
        low, high = values.min(), values.max()
        if low < 0 or high > 1:  # MLflow 3: rescale with a warning rather than refuse
            warnings.warn(f"log_image: float pixels outside [0, 1] (from {low} to {high}) are rescaled to it",
                          UserWarning, stacklevel=3)
            values = (values - low) / (high - low) if high > low else np.zeros_like(values)
        pixels = (values * 255).astype(np.uint8)
    return Image.fromarray(pixels)


def _encode(pil_image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    if image_format in ("JPEG", "WEBP") and pil_image.mode not in ("RGB", "RGBA", "L"):
        pil_image = pil_image.convert("RGBA")
    if image_format == "JPEG" and pil_image.mode == "RGBA":
        pil_image = pil_image.convert("RGB")
    pil_image.save(buffer, format=image_format)
    return buffer.getvalue()


def _thumbnail(pil_image):
    """The image scaled so its longer side is THUMBNAIL_SIZE, as MLflow's compressed copy."""
    width, height = pil_image.size
    if width > height:
        size = (THUMBNAIL_SIZE, max(1, int(height * THUMBNAIL_SIZE / width)))
    else:
        size = (max(1, int(width * THUMBNAIL_SIZE / height)), THUMBNAIL_SIZE)
    return pil_image.resize(size)


def _timestamp_millis(timestamp) -> int:
    if timestamp is None or timestamp == 0:  # MLflow: `timestamp or now`
        return int(utcnow().timestamp() * 1000)
    if isinstance(timestamp, dt.datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=dt.timezone.utc)
        return int(timestamp.timestamp() * 1000)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise InvalidInputError(f"log_image: timestamp must be integer milliseconds or a datetime, got {timestamp!r}")
    return timestamp


def log_image(image, artifact_file: str | None = None, *, key: str | None = None, step: int | None = None,
              timestamp=None, run_id: str | None = None) -> None:
    """Log an image (numpy array or PIL image): as one file ``artifact_file``, or as the point ``step`` of
    the image series ``key`` (MLflow 3's layout under ``images/``, with a thumbnail).

    >>> import duckml, numpy as np
    >>> with duckml.start_run() as run:
    ...     duckml.log_image(np.zeros((8, 8, 3), dtype=np.uint8), "black.png")
    ...     duckml.log_image(np.ones((8, 8)), key="masks/first", step=1)
    >>> [(s.key, s.step) for s in image_series(run.run_id)]
    [('masks/first', 1)]
    """
    if artifact_file is not None and (key is not None or step is not None or timestamp is not None):
        raise InvalidInputError("log_image takes either artifact_file, or key= with step=/timestamp= for an "
                                "image series, not both")
    if artifact_file is None and key is None:
        raise InvalidInputError("log_image needs artifact_file (one image file) or key= (an image series)")
    store, rid = resolve_run(run_id)
    pil_image = _to_pil(image)
    if artifact_file is not None:
        path = normalize_artifact_path(artifact_file, allow_root=False)
        _log_staged(store, rid, [(path, _encode(pil_image, _format_for(path)))], _stage_bytes)
        return
    if not isinstance(key, str) or not _KEY_PATTERN.match(key):
        raise InvalidInputError(f"log_image: key {key!r} may hold only letters, digits, '_', '-', '.', ' ' and '/'")
    if step is None:
        step = 0
    if isinstance(step, bool) or not isinstance(step, int):
        raise InvalidInputError(f"log_image: step must be an integer, got {step!r}")
    millis = _timestamp_millis(timestamp)
    # MLflow's id does not start with a hex digit, so that '%' + id never reads as a percent-escape
    unique = random.choice(string.ascii_lowercase[6:]) + str(uuid.uuid4())[1:]
    stem = f"{IMAGES_FOLDER}/{key.replace('/', '#')}%step%{step}%timestamp%{millis}%{unique}"
    plan = [(f"{stem}.png", _encode(pil_image, "PNG")),
            (f"{stem}%compressed.webp", _encode(_thumbnail(pil_image), "WEBP"))]
    _log_staged(store, rid, plan, _stage_bytes)
    runs.set_tags(rid, {LOGGED_IMAGES_TAG: "True"}, store)


def _format_for(path: str) -> str:
    from PIL import Image

    suffix = PurePosixPath(path).suffix.lower()
    image_format = Image.registered_extensions().get(suffix)
    if image_format is None:
        raise InvalidInputError(f"log_image: {path!r} has no image extension Pillow can write; use e.g. 'image.png'")
    return image_format


@dataclass(frozen=True, slots=True)
class ImagePoint:
    """One logged image of a series: its key, step, timestamp (ms), and the artifact paths of the
    full image and of its thumbnail (None when only one of them exists)."""

    key: str
    step: int
    timestamp: int
    path: str | None
    thumbnail: str | None


def parse_series_path(path: str) -> dict | None:
    """The series fields of an artifact path under ``images/``, or None for another file.

    >>> parse_series_path("images/val#img%step%3%timestamp%1700000000000%gabc%compressed.webp")["key"]
    'val/img'
    """
    if not path.startswith(IMAGES_FOLDER + "/") or "/" in path[len(IMAGES_FOLDER) + 1:]:
        return None
    found = _SERIES_NAME.match(path[len(IMAGES_FOLDER) + 1:])
    if found is None:
        return None
    return {"key": found["key"].replace("#", "/"), "step": int(found["step"]),
            "timestamp": int(found["timestamp"]), "id": found["id"], "compressed": bool(found["compressed"])}


def series_from_paths(paths) -> list[ImagePoint]:
    """The image points named by a run's artifact paths, by key, step and time.

    >>> series_from_paths(["images/a%step%0%timestamp%5%gx.png", "notes.txt"])
    [ImagePoint(key='a', step=0, timestamp=5, path='images/a%step%0%timestamp%5%gx.png', thumbnail=None)]
    """
    points: dict[tuple, dict] = {}
    for path in paths:
        fields = parse_series_path(path)
        if fields is None:
            continue
        point = points.setdefault((fields["key"], fields["step"], fields["timestamp"], fields["id"]), {})
        point["thumbnail" if fields["compressed"] else "path"] = path
    return [ImagePoint(key, step, millis, point.get("path"), point.get("thumbnail"))
            for (key, step, millis, _), point in sorted(points.items())]


def image_series(run_id: str) -> list[ImagePoint]:
    """Every image logged with ``key=`` in a run, sorted by key, step and time."""
    from duckml.store import get_store

    store = get_store()
    runs.require_run(store, run_id)
    with store.read(definitions=False) as con:
        paths = [row[0] for row in con.execute(
            "SELECT path FROM artifacts WHERE run_id = ? AND starts_with(path, 'images/')", [run_id]).fetchall()]
    return series_from_paths(paths)


# -- tables ------------------------------------------------------------------------------------
def _json_value(value):
    """A cell as pandas' ``to_json`` writes it: NaN and infinities as null, times in ISO 8601."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item") and not isinstance(value, (list, dict)):  # numpy scalars
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if hasattr(value, "tolist"):
        return _json_value(value.tolist())
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    return str(value)


def _table_columns(data) -> tuple[list[str], list[list]]:
    """(column names, columns of values) of a dict of sequences, a pandas or a Polars frame."""
    if isinstance(data, dict):
        names = [str(name) for name in data]
        columns = []
        for name, values in data.items():
            if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
                values = [values]  # a scalar: one row, as pandas builds a frame from a dict of scalars
            columns.append(list(values))
        lengths = {len(column) for column in columns}
        if len(lengths) > 1:
            raise InvalidInputError(f"log_table: the columns of the dict have different lengths {sorted(lengths)}; "
                                    "give every column the same number of values")
        return names, columns
    module = type(data).__module__.split(".")[0]
    if module == "polars" and hasattr(data, "get_columns"):
        return list(data.columns), [series.to_list() for series in data.get_columns()]
    if module == "pandas" and hasattr(data, "columns"):
        return [str(name) for name in data.columns], [data[name].tolist() for name in data.columns]
    raise InvalidInputError(f"log_table needs a dict of columns, a pandas or a Polars DataFrame, got {type(data).__name__}")


def _read_table(run_id: str, path: str) -> dict | None:
    try:
        local = artifact_local_path(run_id, path)
    except NotFoundError:
        return None
    table = json.loads(local.read_text(encoding="utf-8"))
    if not isinstance(table, dict) or not isinstance(table.get("columns"), list) or not isinstance(table.get("data"), list):
        raise InvalidInputError(f"artifact {path!r} of run {run_id} is not a table ({{'columns': …, 'data': …}}); "
                                "log the table under another name")
    return table


def log_table(data, artifact_file: str, run_id: str | None = None) -> None:
    """Log a table as MLflow's JSON table artifact; logging again to the same file appends the rows.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     duckml.log_table({"input": ["a", "b"], "score": [0.5, 0.7]}, "eval.json")
    ...     duckml.log_table({"input": ["c"], "score": [0.9]}, "eval.json")
    >>> load_table("eval.json", run_ids=[run.run_id])["input"].to_list()
    ['a', 'b', 'c']
    """
    path = normalize_artifact_path(artifact_file, allow_root=False)
    if not path.endswith(".json"):
        raise InvalidInputError(f"log_table: artifact_file {artifact_file!r} must be a .json file, as in MLflow")
    names, columns = _table_columns(data)
    if len(set(names)) != len(names):
        raise InvalidInputError(f"log_table: column names repeat in {names}")
    rows = [[_json_value(v) for v in row] for row in zip(*columns)] if columns else []
    store, rid = resolve_run(run_id)
    existing = _read_table(rid, path)
    if existing is not None:  # pandas.concat's rule: columns by name, the old ones first, gaps null
        merged = list(existing["columns"]) + [name for name in names if name not in existing["columns"]]
        position = {name: i for i, name in enumerate(names)}
        old = [row + [None] * (len(merged) - len(row)) for row in existing["data"]]
        new = [[row[position[name]] if name in position else None for name in merged] for row in rows]
        names, rows = merged, old + new
    text = json.dumps({"columns": names, "data": rows}, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    _log_staged(store, rid, [(path, text.encode("utf-8"))], _stage_bytes)
    _note_logged_table(store, rid, path)


def _note_logged_table(store, run_id: str, path: str) -> None:
    current = runs.get_run(run_id, store).data.tags.get(LOGGED_ARTIFACTS_TAG)
    try:
        listed = json.loads(current) if current else []
    except json.JSONDecodeError:
        listed = []
    entry = {"path": path, "type": "table"}
    if entry not in listed:
        runs.set_tags(run_id, {LOGGED_ARTIFACTS_TAG: json.dumps(listed + [entry])}, store)


_RUN_INFO_COLUMNS = ("run_id", "experiment_id", "run_name", "status", "start_time", "end_time", "lifecycle_stage")


def load_table(artifact_file: str, run_ids: list[str] | None = None, extra_columns: list[str] | None = None):
    """The table ``artifact_file`` of every run of the active experiment that logged it (or of ``run_ids``),
    concatenated into one Polars frame, newest run first as MLflow's. ``extra_columns`` adds run fields
    such as ``"run_id"`` to each row.

    >>> import duckml
    >>> with duckml.start_run() as run:
    ...     duckml.log_table({"x": [1, 2]}, "t.json")
    >>> load_table("t.json", extra_columns=["run_id"])["run_id"].to_list() == [run.run_id] * 2
    True
    """
    import polars as pl

    from duckml.store import get_store

    path = normalize_artifact_path(artifact_file, allow_root=False)
    extra_columns = list(extra_columns or [])
    unknown = [c for c in extra_columns if c not in _RUN_INFO_COLUMNS]
    if unknown:
        raise InvalidInputError(f"load_table: extra_columns {unknown} are not run fields; use {list(_RUN_INFO_COLUMNS)}")
    store = get_store()
    if store.active_experiment_id is None:
        store.active_experiment_id = runs.create_experiment(runs.DEFAULT_EXPERIMENT_NAME, store=store)
    experiment_id = store.active_experiment_id
    with store.read(definitions=False) as con:
        found = [row[0] for row in con.execute(
            """SELECT r.run_id FROM runs r JOIN artifacts a ON a.run_id = r.run_id AND a.path = ?
               WHERE r.experiment_id = ? AND r.lifecycle_stage = 'active'
               ORDER BY r.start_time DESC, r.run_id""", [path, experiment_id]).fetchall()]
    if run_ids is not None:
        wanted = set(run_ids)
        found = [rid for rid in found if rid in wanted]
    if not found:
        raise NotFoundError(f"no run of the active experiment {experiment_id!r}"
                            f"{' among the given run_ids' if run_ids is not None else ''} has the table {path!r}")
    frames = []
    for rid in found:
        table = _read_table(rid, path)
        columns = {name: [row[i] if i < len(row) else None for row in table["data"]]
                   for i, name in enumerate(table["columns"])}
        info = runs.get_run(rid, store).info
        for column in extra_columns:
            columns[column] = [getattr(info, column)] * len(table["data"])
        frames.append(pl.DataFrame(columns, strict=False))
    return pl.concat(frames, how="diagonal_relaxed")
