"""The on-disk model format: a folder with ``model.skops`` and ``duckml_model.json``. Pure file functions.

``model.skops`` is skops' persistence format, never a pickle: loading it builds objects from a JSON schema
and plain arrays, so a file found in a shared store cannot run code. ``duckml_model.json`` records the
flavor, the model class, ``get_params()``, library versions, the sha256 of ``model.skops`` (checked before
every load) and a signature::

    {"inputs": [{"name": "x", "type": "double"}, ...], "outputs": [{"name": "prediction", "type": "int64"}],
     "task": "classification", "classes": [0, 1], "positional": false}

Input types are Arrow type names (``double``, ``int64``, ``string``, ``bool``...), or null when only the
fitted feature names are known. A small ``input_example.json`` (split orientation) is kept beside them.
scikit-learn, skops and pyarrow are imported inside the functions: ``import duckml`` stays light.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from duckml.version import __version__
from duckml.clock import utcnow
from duckml.store.objects import file_sha256
from duckml.errors import InvalidInputError, NotFoundError, UntrustedModelError

METADATA_FILE = "duckml_model.json"
MODEL_FILE = "model.skops"
EXAMPLE_FILE = "input_example.json"
EXAMPLE_ROWS = 20
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelMetadata:
    """The content of ``duckml_model.json``."""

    model_class: str
    sha256: str
    signature: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    flavor: str = "sklearn"
    format: str = "skops"
    model_file: str = MODEL_FILE
    input_example_file: str | None = None
    sklearn_version: str | None = None
    skops_version: str | None = None
    duckml_version: str | None = None
    python_version: str | None = None
    created_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = METADATA_FILE) -> "ModelMetadata":
        known = {f for f in cls.__dataclass_fields__}
        try:
            meta = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as e:
            raise InvalidInputError(f"{source} is not duckml model metadata ({e}); save the model again "
                                    "with duckml.log_model") from e
        if meta.format != "skops" or meta.flavor != "sklearn":
            raise InvalidInputError(f"{source} holds a {meta.flavor!r}/{meta.format!r} model; this duckml reads "
                                    "only flavor 'sklearn' in format 'skops'")
        if not _is_plain_file_name(meta.model_file):
            raise UntrustedModelError(f"{source} names model file {meta.model_file!r}, which is not a plain file "
                                      "name inside the model folder; the metadata was tampered with")
        return meta


def _is_plain_file_name(name: object) -> bool:
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name
            and "\0" not in name)


# -- JSON-safe values ----------------------------------------------------------------------------------
def _json_safe(value: Any, depth: int = 0) -> Any:
    """Plain JSON values stay; numpy scalars become Python ones; anything else becomes its repr."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return _json_safe(item(), depth)
    if depth < 4 and isinstance(value, (list, tuple)):
        return [_json_safe(v, depth + 1) for v in value]
    if depth < 4 and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_safe(v, depth + 1) for k, v in value.items()}
    return repr(value)


def qualified_name(obj: Any) -> str:
    """``module.QualName`` of an object's class.

    >>> qualified_name(1.5)
    'builtins.float'
    """
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _duckml_version() -> str:
    return __version__


# -- signatures ----------------------------------------------------------------------------------------
def arrow_type_name(arrow_type) -> str:
    """duckml's name for an Arrow type: large and view variants and dictionaries fold to their values.

    >>> import pyarrow as pa
    >>> arrow_type_name(pa.large_string()), arrow_type_name(pa.dictionary(pa.int8(), pa.string()))
    ('string', 'string')
    """
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return arrow_type_name(arrow_type.value_type)
    if pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return "string"
    if pa.types.is_large_binary(arrow_type) or pa.types.is_binary_view(arrow_type):
        return "binary"
    if pa.types.is_large_list(arrow_type):
        return f"list<item: {arrow_type_name(arrow_type.value_type)}>"
    return str(arrow_type)


def _example_table(example: Any, model: Any):
    """(Arrow table, positional) for a pandas/polars/Arrow frame or a numpy array."""
    import numpy as np
    import pyarrow as pa

    if isinstance(example, pa.RecordBatch):
        return pa.Table.from_batches([example]), False
    if isinstance(example, pa.Table):
        return example, False
    module = type(example).__module__.split(".")[0]
    if module == "polars":
        return example.to_arrow(), False
    if module == "pandas" and hasattr(example, "columns"):
        return pa.Table.from_pandas(example, preserve_index=False), False
    if isinstance(example, (np.ndarray, list)):
        array = np.asarray(example)
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.ndim != 2:
            raise InvalidInputError(f"input_example must be 2-D (rows x features), got shape {array.shape}")
        fitted = getattr(model, "feature_names_in_", None)
        positional = fitted is None or len(fitted) != array.shape[1]
        names = [f"f{i}" for i in range(array.shape[1])] if positional else [str(n) for n in fitted]
        return pa.table({n: pa.array(array[:, i]) for i, n in enumerate(names)}), positional
    raise InvalidInputError(f"input_example must be a pandas/polars DataFrame, an Arrow table or a numpy array, "
                            f"got {type(example).__name__}")


def _output_type(model: Any, example: Any) -> str | None:
    """Arrow type of ``predict`` on the example, else what the estimator kind implies."""
    import numpy as np
    import pyarrow as pa

    if example is not None and hasattr(model, "predict"):
        try:
            prediction = np.asarray(model.predict(example))
            values = prediction.tolist() if prediction.ndim > 1 else prediction
            return arrow_type_name(pa.array(values).type)
        except Exception:  # an example the model cannot score still documents the inputs
            pass
    classes = getattr(model, "classes_", None)
    if classes is not None:
        return arrow_type_name(pa.array(np.asarray(classes)).type)
    from sklearn.base import is_regressor

    return "double" if is_regressor(model) else None


def infer_signature(model: Any, input_example: Any = None) -> dict[str, Any]:
    """The signature of a fitted estimator, from an input example or its ``feature_names_in_``.

    >>> from sklearn.linear_model import LinearRegression
    >>> sig = infer_signature(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]))
    >>> sig["inputs"], sig["outputs"], sig["task"], sig["positional"]
    ([{'name': 'f0', 'type': 'double'}], [{'name': 'prediction', 'type': 'double'}], 'regression', True)
    """
    from sklearn.base import is_classifier, is_regressor

    positional = False
    if input_example is not None:
        table, positional = _example_table(input_example, model)
        inputs = [{"name": f.name, "type": arrow_type_name(f.type)} for f in table.schema]
    elif getattr(model, "feature_names_in_", None) is not None:
        inputs = [{"name": str(n), "type": None} for n in model.feature_names_in_]
    elif isinstance(getattr(model, "n_features_in_", None), int):
        positional = True
        inputs = [{"name": f"f{i}", "type": "double"} for i in range(model.n_features_in_)]
    else:
        inputs = []
    task = "classification" if is_classifier(model) else "regression" if is_regressor(model) else "other"
    classes = getattr(model, "classes_", None) if task == "classification" else None
    return {
        "inputs": inputs,
        "outputs": [{"name": "prediction", "type": _output_type(model, input_example)}],
        "task": task,
        "classes": None if classes is None else _json_safe(list(classes)),
        "positional": positional,
    }


def _check_signature(signature: Any) -> dict[str, Any]:
    if not isinstance(signature, dict) or not isinstance(signature.get("inputs"), list):
        raise InvalidInputError(f"signature must be a dict with an 'inputs' list, got {signature!r}; "
                                "see duckml.models.format.infer_signature for the shape")
    for column in signature["inputs"]:
        if not isinstance(column, dict) or not isinstance(column.get("name"), str):
            raise InvalidInputError(f"signature input {column!r} needs a 'name' string and a 'type'")
    out = {"outputs": [{"name": "prediction", "type": None}], "task": "other", "classes": None,
           "positional": False}
    out.update(signature)
    try:
        json.dumps(out, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"signature must hold only JSON values: {e}") from e
    return out


def _example_json(example: Any, model: Any) -> dict[str, Any]:
    table, _ = _example_table(example, model)
    head = table.slice(0, EXAMPLE_ROWS)
    return {"columns": head.column_names, "data": [[_example_value(v) for v in row.values()]
                                                   for row in head.to_pylist()]}


def _example_value(value: Any) -> Any:
    """A cell of the stored example: missing floats become null, dates/bytes/decimals their text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return _json_safe(value)
    return str(value)


# -- save / load ---------------------------------------------------------------------------------------
def save_model(model: Any, directory: str | os.PathLike, *, input_example: Any = None,
               signature: dict[str, Any] | None = None) -> ModelMetadata:
    """Write ``model`` into a new or empty ``directory`` as skops + metadata; return the metadata.

    >>> from sklearn.linear_model import LinearRegression
    >>> meta = save_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), "m")
    >>> meta.model_class
    'sklearn.linear_model._base.LinearRegression'
    """
    import sklearn
    import skops
    import skops.io as sio

    if not hasattr(model, "get_params"):
        raise InvalidInputError(f"log_model/save_model needs a scikit-learn estimator (an object with get_params), "
                                f"got {qualified_name(model)}")
    folder = Path(directory)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInputError(f"model folder {str(folder)!r} already exists and is not empty; choose a new path")
    folder.mkdir(parents=True, exist_ok=True)
    sig = _check_signature(signature) if signature is not None else infer_signature(model, input_example)
    example_file = None
    if input_example is not None:
        (folder / EXAMPLE_FILE).write_text(json.dumps(_example_json(input_example, model), allow_nan=False))
        example_file = EXAMPLE_FILE
    model_path = folder / MODEL_FILE
    try:
        # deflate level 1: forests shrink ~5x at no measurable cost in save or load time
        sio.dump(model, model_path, compression=zipfile.ZIP_DEFLATED, compresslevel=1)
    except TypeError as e:  # skops' UnsupportedTypeException is a TypeError
        raise InvalidInputError(f"{qualified_name(model)} cannot be saved in skops format: {e}") from e
    meta = ModelMetadata(
        model_class=qualified_name(model), sha256=file_sha256(model_path), signature=sig,
        params={k: _json_safe(v) for k, v in model.get_params(deep=True).items()},
        input_example_file=example_file, sklearn_version=sklearn.__version__,
        skops_version=getattr(skops, "__version__", None), duckml_version=_duckml_version(),
        python_version=platform.python_version(),
        created_at=utcnow().isoformat(),
    )
    (folder / METADATA_FILE).write_text(json.dumps(meta.to_dict(), indent=2, allow_nan=False))
    return meta


def read_metadata_file(path: str | os.PathLike) -> ModelMetadata:
    """Parse a ``duckml_model.json`` file."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as e:
        raise NotFoundError(f"model metadata {str(path)!r} does not exist; is this a duckml model folder?") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"model metadata {str(path)!r} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise InvalidInputError(f"model metadata {str(path)!r} is not a JSON object")
    return ModelMetadata.from_dict(data, source=str(path))


def read_metadata(directory: str | os.PathLike) -> ModelMetadata:
    """The metadata of a saved model folder.

    >>> from sklearn.linear_model import LinearRegression
    >>> _ = save_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), "m")
    >>> read_metadata("m").signature["task"]
    'regression'
    """
    return read_metadata_file(Path(directory) / METADATA_FILE)


def _trusted_names(trusted) -> list[str]:
    if trusted is None:
        return []
    from duckml.models.resolution import real_name

    if isinstance(trusted, str) or callable(trusted):
        trusted = [trusted]
    return [t if isinstance(t, str) else real_name(t) for t in trusted]


def load_model_file(model_file: str | os.PathLike, *, sha256: str, trusted=None, source: str | None = None):
    """Load a ``model.skops`` after checking its digest, its types and its trees; never runs code from it.

    ``trusted`` lists extra type names (or types) to accept beyond scikit-learn's, numpy's and scipy's.
    Raises UntrustedModelError naming the file and the refused types.
    """
    path = Path(model_file)
    label = source or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise NotFoundError(f"model file {label} does not exist") from e
    return load_model_bytes(data, sha256=sha256, trusted=trusted, source=label)


def load_model_bytes(data: bytes, *, sha256: str, trusted=None, source: str = "model bytes"):
    """Load the content of a ``model.skops`` (e.g. shipped to a Spark executor) with the same checks as
    :func:`load_model_file`: its digest, its types and its trees.

    >>> import hashlib
    >>> load_model_bytes(b"not a model", sha256=hashlib.sha256(b"x").hexdigest())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    duckml.errors.UntrustedModelError: model file model bytes has sha256 ...
    """
    import skops.io as sio

    from duckml.models.trust import check_loaded_model, split_untrusted

    label = source
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise UntrustedModelError(f"model file {label} has sha256 {actual}, but its metadata records {sha256}; "
                                  "it was modified after saving and was not loaded")
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as e:  # zipfile/JSON/KeyError from a damaged file: refuse rather than guess
        raise UntrustedModelError(f"model file {label} is not a readable skops file ({type(e).__name__}: {e}); "
                                  "it was not loaded") from e
    accepted, refused = split_untrusted(untrusted, _trusted_names(trusted))
    if refused:
        raise UntrustedModelError(
            f"model file {label} contains types duckml does not trust: {', '.join(refused)}; it was not loaded. "
            f"Only if you trust the file's author and have reviewed these types, pass trusted={refused!r}")
    try:
        model = sio.loads(data, trusted=accepted)
    except TypeError as e:  # skops' UntrustedTypesFoundException: a node it audits differently
        raise UntrustedModelError(f"model file {label} was refused by skops: {e}") from e
    check_loaded_model(model, source=label, trusted=_trusted_names(trusted))
    return model


def load_model(directory: str | os.PathLike, *, trusted=None):
    """Load the model saved in ``directory`` (see :func:`load_model_file` for the checks).

    >>> from sklearn.linear_model import LinearRegression
    >>> _ = save_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), "m")
    >>> load_model("m").predict([[2.0]])
    array([2.])
    """
    folder = Path(directory)
    meta = read_metadata(folder)
    return load_model_file(folder / meta.model_file, sha256=meta.sha256, trusted=trusted,
                           source=str(folder / meta.model_file))
