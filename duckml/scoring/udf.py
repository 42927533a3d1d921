"""The scoring core of PREDICT: Arrow UDFs that score DuckDB vectors with a loaded model. No store access.

A model is known to the UDFs by a *key* (the model folder, or a name given by :func:`add_model`); the key
travels through SQL as a constant argument, and the loaded model stays in a per-process cache, so each
2048-row vector costs one dict lookup, never a load. DuckDB calls the UDFs from several of its threads;
scikit-learn's heavy loops release the GIL, so row groups are scored in parallel.

Inputs are matched to the model's fitted feature names (or its signature) by column name; the SQL built by
:func:`select_sql` packs exactly those columns, cast to what the model was fitted on, into one STRUCT. The
UDF builds the input as the model was fitted: a pandas DataFrame with the fitted names in fitted order, or
an ndarray for a model fitted on one, so scikit-learn has no reason to warn.

The return type of a DuckDB UDF is fixed when it is registered, so there is one UDF per prediction type
(DOUBLE for regressors, BIGINT/VARCHAR/BOOLEAN for classifiers as their classes are, DOUBLE[] for
multi-output models and for ``predict_proba``); :func:`select_sql` picks the one that fits the model.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from duckml.models.cache import MODELS
from duckml.scoring.forest import FastTrees, fast_trees
from duckml.errors import DuckmlError, InvalidInputError, NotFoundError
from duckml.sqlquote import quote_ident

# scikit-learn warns from DuckDB's worker threads on every vector; warnings.catch_warnings is not
# thread-safe, so the filters are set once, at import, and only for these messages.
warnings.filterwarnings("ignore", message=r".*`sklearn\.utils\.parallel\.delayed` should be used.*")

UDF_PREFIX = "_duckml_predict_"
CAST_PREFIX = "_duckml_in_"
# UDF name suffix -> the DuckDB return type it is registered with
OUTPUT_TYPES = {"double": "DOUBLE", "bigint": "BIGINT", "varchar": "VARCHAR", "boolean": "BOOLEAN",
                "list": "DOUBLE[]", "proba": "DOUBLE[]"}

ARROW_TYPES = {"double": pa.float64(), "bigint": pa.int64(), "varchar": pa.string(), "boolean": pa.bool_(),
               "list": pa.list_(pa.float64()), "proba": pa.list_(pa.float64())}

_INT = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
_WIDE = ("HUGEINT", "UHUGEINT")
_FLOAT = ("FLOAT", "DOUBLE")


@dataclass(frozen=True)
class ModelSpec:
    """A loaded model and how to feed it. ``inputs`` are (name, kind) in fitted order; kind is one of
    ``float``, ``int``, ``bool``, ``string``, ``auto`` (type unknown) or ``other``."""

    key: str
    model: Any
    label: str
    inputs: tuple[tuple[str, str], ...]
    positional: bool
    output: str  # a key of OUTPUT_TYPES, for predict
    classes: tuple[Any, ...] | None
    fast: FastTrees | None = None  # tree models: scikit-learn's predictions on a faster walk


def _kind(type_name: str | None) -> str:
    """Input kind of a signature type name (Arrow's, MLflow's or numpy's spelling)."""
    if not type_name:
        return "auto"
    name = str(type_name).lower()
    if name in ("bool", "boolean"):
        return "bool"
    if name.startswith(("int", "uint", "long")) or name == "integer":
        return "int"
    if name.startswith(("float", "double", "halffloat", "decimal")) or name == "number":
        return "float"
    if name in ("string", "str", "utf8", "large_string", "large_utf8", "string_view", "object", "category",
                "varchar"):
        return "string"
    return "other"


def _output_kind(model: Any, signature: dict[str, Any]) -> tuple[str, tuple[Any, ...] | None]:
    """(OUTPUT_TYPES key, classes) from the fitted classes, else from the signature."""
    outputs = signature.get("outputs") or []
    classes = getattr(model, "classes_", None)
    if classes is not None and np.ndim(classes) == 1:
        kind = np.asarray(classes).dtype.kind
        suffix = {"i": "bigint", "u": "bigint", "b": "boolean", "f": "double"}.get(kind, "varchar")
        return suffix, tuple(np.asarray(classes).tolist())
    if len(outputs) > 1 or getattr(model, "n_outputs_", 1) > 1:
        return "list", None
    declared = _kind(outputs[0].get("type")) if outputs else "auto"
    if str(outputs[0].get("type") if outputs else "").startswith("list"):
        return "list", None
    return {"int": "bigint", "bool": "boolean", "string": "varchar"}.get(declared, "double"), None


def make_spec(key: str, model: Any, signature: dict[str, Any] | None, label: str) -> ModelSpec:
    """A ModelSpec from a fitted model and its duckml signature (None: read what the model knows).

    >>> from sklearn.linear_model import LinearRegression
    >>> m = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    >>> make_spec("m", m, None, "model 'm'").inputs
    (('f0', 'float'),)
    """
    signature = signature or {}
    declared = {c["name"]: c.get("type") for c in signature.get("inputs") or []}
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None:
        names = [str(n) for n in fitted]
        positional = False
    elif declared:
        names = list(declared)
        positional = bool(signature.get("positional", True))
    elif isinstance(getattr(model, "n_features_in_", None), int):
        names = [f"f{i}" for i in range(model.n_features_in_)]
        positional = True
        declared = {n: "double" for n in names}
    else:
        raise InvalidInputError(f"{label} records no input columns (no signature, no fitted feature names); "
                                "log it again with an input_example")
    output, classes = _output_kind(model, signature)
    return ModelSpec(key=key, model=model, label=label, inputs=tuple((n, _kind(declared.get(n))) for n in names),
                     positional=positional, output=output, classes=classes, fast=fast_trees(model))


# -- the process's model cache (shared with the loader: duckml.models.cache) -----------------------
_LOADING = threading.Lock()  # one load at a time of a model folder not yet cached


def add_model(spec: ModelSpec) -> str:
    """Make ``spec`` scorable by its key in this process; return the key.

    >>> from sklearn.dummy import DummyRegressor
    >>> model = DummyRegressor().fit([[0.0]], [1.0])
    >>> key = add_model(make_spec("doc-model", model, None, "a doctest model"))
    >>> get_model(key).label
    'a doctest model'
    """
    MODELS.put(("spec", spec.key), spec)
    return spec.key


def cached_model(key: str) -> ModelSpec | None:
    """The cached spec for ``key`` (marked as just used), or None."""
    return MODELS.get(("spec", key))


def get_model(key: str) -> ModelSpec:
    """The cached spec for ``key``; a model folder not yet cached is loaded once (e.g. after a fork)."""
    spec = cached_model(key)
    if spec is not None:
        return spec
    with _LOADING:
        spec = cached_model(key)
        if spec is None:
            from duckml.models import format as model_format

            try:
                meta = model_format.read_metadata(key)
            except (NotFoundError, OSError) as e:
                raise NotFoundError(f"model {key!r} is not loaded in this process and is not a model "
                                    "folder; call predict() with its model URI") from e
            spec = make_spec(key, model_format.load_model(key), meta.signature, f"model at {key}")
            add_model(spec)
    return spec


# -- SQL ---------------------------------------------------------------------------------------------
def _family(duckdb_type: str) -> str:
    t = duckdb_type.upper()
    if t in _INT:
        return "int"
    if t in _FLOAT or t.startswith("DECIMAL") or t in _WIDE:
        return "float"
    if t == "BOOLEAN":
        return "bool"
    if t == "VARCHAR" or t.startswith("ENUM"):
        return "string"
    return "other"


# (expected kind, source family) -> SQL type to cast to; None: pass as is; "" is refused
_CASTS = {
    ("float", "int"): "DOUBLE", ("float", "float"): "DOUBLE", ("float", "bool"): "DOUBLE",
    ("float", "string"): "VARCHAR",
    ("int", "int"): "BIGINT", ("int", "float"): "DOUBLE", ("int", "bool"): "BIGINT", ("int", "string"): "VARCHAR",
    ("bool", "bool"): None, ("bool", "int"): "DOUBLE", ("bool", "float"): "DOUBLE", ("bool", "string"): "VARCHAR",
    ("string", "string"): "VARCHAR", ("string", "int"): "VARCHAR", ("string", "float"): "VARCHAR",
    ("string", "bool"): "VARCHAR",
    ("auto", "int"): "BIGINT", ("auto", "float"): "DOUBLE", ("auto", "bool"): None, ("auto", "string"): "VARCHAR",
}


def _match_column(name: str, columns: dict[str, str]) -> str | None:
    if name in columns:
        return name
    folded = [c for c in columns if c.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None


def _inputs(spec: ModelSpec, columns: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """(input name, source column, DuckDB type to cast to or None) for each model input, in fitted order.

    Raises InvalidInputError naming the column and the model when an input is missing or has a type that
    cannot become what the model was fitted on.
    """
    found = []
    for name, kind in spec.inputs:
        column = _match_column(name, columns)
        if column is None:
            raise InvalidInputError(
                f"source has no column {name!r}, an input of {spec.label} (inputs: "
                f"{', '.join(n for n, _ in spec.inputs)}; source columns: {', '.join(columns) or 'none'})")
        family = _family(columns[column])
        if kind == "other" or (kind == "auto" and family == "other"):
            target = None  # dates, timestamps, lists: handed over as DuckDB exports them
        elif (kind, family) in _CASTS:
            target = _CASTS[(kind, family)]
        else:
            raise InvalidInputError(
                f"column {column!r} is {columns[column]}, which cannot be cast to the {kind} input {name!r} of "
                f"{spec.label}; cast it in SQL or fix the source")
        found.append((name, column, None if target == columns[column].upper() else target))
    return found


def match_inputs(spec: ModelSpec, columns: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """(input name, source column, DuckDB type to cast to or None) for each input of ``spec``, matched in a
    source whose ``columns`` map names to DuckDB type names: the one matching rule of every engine.

    >>> from sklearn.linear_model import LinearRegression
    >>> m = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    >>> match_inputs(make_spec("m", m, None, "m"), {"F0": "INTEGER"})
    [('f0', 'F0', 'DOUBLE')]
    """
    return _inputs(spec, columns)


def _expression(column: str, target: str | None) -> str:
    return quote_ident(column) if target is None else f"CAST({quote_ident(column)} AS {target})"


def struct_sql(spec: ModelSpec, columns: dict[str, str]) -> str:
    """``struct_pack(...)`` of the model's inputs from a source with ``columns`` (name -> DuckDB type)."""
    fields = [f"{quote_ident(name)} := {_expression(column, target)}"
              for name, column, target in _inputs(spec, columns)]
    return f"struct_pack({', '.join(fields)})"


def select_sql(spec: ModelSpec, columns: dict[str, str], source_sql: str, key_sql: str,
               proba: bool = False) -> str:
    """``SELECT *, <score> AS prediction FROM <source_sql>`` (or one ``proba_<class>`` column per class).

    ``key_sql`` is the SQL text giving the model key (a ``?`` or a quoted literal). Source columns that the
    output would duplicate (``prediction``, ``proba_*``) are replaced.
    """
    packed = struct_sql(spec, columns)
    if not proba:
        names = ["prediction"]
        score = f"{UDF_PREFIX}{spec.output}({key_sql}, {packed}) AS prediction"
        return f"SELECT {_star(columns, names)}, {score} FROM {source_sql}"
    if spec.classes is None or not hasattr(spec.model, "predict_proba"):
        raise InvalidInputError(f"{spec.label} has no predict_proba (it is not a classifier); use predict")
    names = [f"proba_{c}" for c in spec.classes]
    if len({n.lower() for n in names}) != len(names):
        raise InvalidInputError(f"the classes of {spec.label} give duplicate column names {names}")
    inner = f"SELECT *, {UDF_PREFIX}proba({key_sql}, {packed}) AS _duckml_proba FROM {source_sql}"
    picks = ", ".join(f"_duckml_proba[{i + 1}] AS {quote_ident(n)}" for i, n in enumerate(names))
    return f"SELECT {_star(columns, names, ['_duckml_proba'])}, {picks} FROM ({inner})"


def input_sql(spec: ModelSpec, columns: dict[str, str], source_sql: str) -> tuple[str, list[str]]:
    """(SELECT, feeding columns) for :func:`scored_batches`: every source column, plus a cast copy
    ``_duckml_in_<i>`` of each input whose type is not already the one the model takes. Inputs are read
    from the source's own columns, so DuckDB exports each value once."""
    extra, feeding = [], []
    for i, (_, column, target) in enumerate(_inputs(spec, columns)):
        if target is None:
            feeding.append(column)
        else:
            extra.append(f"{_expression(column, target)} AS {CAST_PREFIX}{i}")
            feeding.append(f"{CAST_PREFIX}{i}")
    return f"SELECT {', '.join(['*'] + extra)} FROM {source_sql}", feeding


def _star(columns: dict[str, str], replaced: list[str], internal: tuple[str, ...] = ()) -> str:
    """``*`` without the source columns that the output replaces (and our own internal columns)."""
    drop = list(internal) + [c for c in columns if c.lower() in {n.lower() for n in replaced}]
    return f"* EXCLUDE ({', '.join(quote_ident(c) for c in drop)})" if drop else "*"


# -- errors ------------------------------------------------------------------------------------------
_UDF_ERROR = re.compile(r"Python exception occurred while executing the UDF: (\w+): (.*?)(?:\n\s*\nAt:\n.*)?$",
                        re.DOTALL)


def unwrap_udf_error(error: BaseException) -> DuckmlError | None:
    """The duckml error a UDF raised, rebuilt from the duckdb exception that wraps it (DuckDB keeps only
    the text, followed by a Python traceback); None when the error did not come from a duckml UDF.

    >>> import duckdb
    >>> unwrap_udf_error(duckdb.InvalidInputException(
    ...     "Invalid Input Error: Python exception occurred while executing the UDF: NotFoundError: no model"))
    NotFoundError('no model')
    """
    match = _UDF_ERROR.search(str(error))
    if match is None:
        return None
    from duckml import errors

    cls = getattr(errors, match[1], None)
    if not (isinstance(cls, type) and issubclass(cls, DuckmlError)):
        return None
    try:
        return cls(match[2].strip())
    except TypeError:  # a subclass with a different constructor
        return InvalidInputError(match[2].strip())


# -- the UDFs ----------------------------------------------------------------------------------------
def _column(spec: ModelSpec, name: str, kind: str, values: pa.Array, as_frame: bool):
    """One input column as numpy (or pandas, for strings fed to a DataFrame)."""
    if isinstance(values, pa.DictionaryArray):
        values = values.dictionary_decode()
    target = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}.get(kind)
    if target is not None and pa.types.is_string(values.type):
        try:
            values = pc.cast(values, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise InvalidInputError(f"column {name!r} cannot be cast to {kind} for {spec.label}: {e}") from None
    if as_frame and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values.to_pandas()
    return values.to_numpy(zero_copy_only=False)


def model_input(spec: ModelSpec, packed: pa.StructArray):
    """The model's input for one vector: a DataFrame with the fitted names, or an ndarray."""
    fields = {packed.type.field(i).name: i for i in range(packed.type.num_fields)}
    columns = []
    for name, kind in spec.inputs:
        if name not in fields:
            raise InvalidInputError(f"source has no column {name!r}, an input of {spec.label}")
        columns.append(_column(spec, name, kind, packed.field(fields[name]), not spec.positional))
    if not spec.positional:
        import pandas as pd

        return pd.DataFrame(dict(zip((n for n, _ in spec.inputs), columns)), copy=False)
    if all(isinstance(c, np.ndarray) and c.dtype.kind in "biuf" for c in columns):
        return np.column_stack(columns) if columns else np.empty((len(packed), 0))
    matrix = np.empty((len(packed), len(columns)), dtype=object)
    for i, c in enumerate(columns):
        matrix[:, i] = c
    return matrix


def _owned(values: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    """A fixed-width Arrow array in Arrow-owned memory (one copy).

    ``pa.array(ndarray)`` would borrow the NumPy buffer, and freeing that needs the GIL: DuckDB frees UDF
    results on its worker threads, and when the client thread holds the GIL while it waits for them (it
    does while cleaning up a streaming result), the process hangs. Arrow-owned buffers free without it.
    """
    values = np.ascontiguousarray(values, dtype=arrow_type.to_pandas_dtype())
    buffer = pa.allocate_buffer(values.nbytes)
    np.frombuffer(buffer, dtype=values.dtype)[:] = values
    return pa.Array.from_buffers(arrow_type, len(values), [None, buffer])


def _to_arrow(spec: ModelSpec, suffix: str, result: Any) -> pa.Array:
    result = np.asarray(result)
    if suffix in ("list", "proba"):
        matrix = result.reshape(len(result), -1)
        offsets = np.arange(len(matrix) + 1, dtype=np.int32) * matrix.shape[1]
        return pa.ListArray.from_arrays(_owned(offsets, pa.int32()), _owned(matrix.ravel(), pa.float64()))
    if result.ndim != 1:
        raise InvalidInputError(f"{spec.label} returned predictions of shape {result.shape}; "
                                "only one value per row fits the prediction column")
    try:
        if suffix in ("double", "bigint"):
            return _owned(result, ARROW_TYPES[suffix])
        if suffix == "varchar" and result.dtype.kind not in "OUS":
            result = result.astype(str)
        elif suffix == "varchar" and result.dtype.kind == "O":
            result = np.array([None if v is None else str(v) for v in result], dtype=object)
        return pa.array(result, type=ARROW_TYPES[suffix])  # strings and bit-packed bools: copied by Arrow
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError, TypeError) as e:
        raise InvalidInputError(f"predictions of {spec.label} ({result.dtype}) do not fit "
                                f"{OUTPUT_TYPES[suffix]}: {e}") from None


def score(key: str, packed: pa.StructArray, suffix: str) -> pa.Array:
    """Score one vector; ``suffix`` picks predict or predict_proba and the output type."""
    spec = get_model(key)
    X = model_input(spec, packed)
    method = spec.model.predict_proba if suffix == "proba" else spec.model.predict
    try:
        result = spec.fast.score(X, suffix == "proba") if spec.fast is not None else None
        if result is None:
            result = method(X)
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise InvalidInputError(f"{spec.label} could not score the source rows: {type(e).__name__}: {e}") from None
    return _to_arrow(spec, suffix, result)


def scored_batches(spec: ModelSpec, reader: pa.RecordBatchReader, feeding: list[str], workers: int = 2):
    """(schema, iterator of scored batches) for batches read by :func:`input_sql`, in their order.

    Outside SQL nothing forces DuckDB's 2,048-row vectors on the model: larger batches cost a forest ~35%
    less per row (its per-tree overhead is per call), and ``workers`` threads score batches side by side
    (the heavy loops release the GIL). At most ``2 * workers`` batches are in flight, so memory stays bounded.
    A source column named ``prediction`` is replaced.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    names = reader.schema.names
    inputs = [names.index(column) for column in feeding]
    keep = [i for i, n in enumerate(names) if not n.startswith(CAST_PREFIX) and n.lower() != "prediction"]
    schema = pa.schema([reader.schema.field(i) for i in keep] + [pa.field("prediction", ARROW_TYPES[spec.output])])
    input_names = [name for name, _ in spec.inputs]

    def work(batch: pa.RecordBatch) -> pa.RecordBatch:
        packed = pa.StructArray.from_arrays([batch.column(i) for i in inputs], names=input_names)
        prediction = score(spec.key, packed, spec.output)
        return pa.RecordBatch.from_arrays([batch.column(i) for i in keep] + [prediction], schema=schema)

    def batches():
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="duckml-score") as pool:
            window = deque()
            for batch in reader:
                if batch.num_rows:
                    window.append(pool.submit(work, batch))
                while window and (len(window) > 2 * workers or window[0].done()):
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()

    return schema, batches()


def _udf(suffix: str):
    def udf(keys, packed):
        if len(keys) == 0:
            return pa.nulls(0, type=pa.list_(pa.float64()) if suffix in ("list", "proba") else None)
        if isinstance(packed, pa.ChunkedArray):
            packed = packed.combine_chunks()
        if isinstance(keys, pa.ChunkedArray):
            keys = keys.chunk(0)
        return score(keys[0].as_py(), packed, suffix)

    udf.__name__ = UDF_PREFIX + suffix
    return udf


def register_udfs(con: duckdb.DuckDBPyConnection) -> None:
    """Register the scoring UDFs on ``con`` unless they already are (DuckDB refuses a second registration)."""
    have = {r[0] for r in con.execute(
        "SELECT function_name FROM duckdb_functions() WHERE function_name LIKE ? ESCAPE '\\'",
        [UDF_PREFIX.replace("_", "\\_") + "%"]).fetchall()}
    for suffix, type_name in OUTPUT_TYPES.items():
        if UDF_PREFIX + suffix not in have:
            con.create_function(UDF_PREFIX + suffix, _udf(suffix), None, duckdb.sqltypes.DuckDBPyType(type_name),
                                type="arrow", side_effects=True)
