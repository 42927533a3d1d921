"""``duckml.spark.predict``: score a Spark DataFrame on the executors with duckml's own scoring function.

The driver resolves the model URI once (so every executor scores the same version), loads the model to
plan (input matching, output type, the errors of ``duckml.predict``), and broadcasts the *content* of the
safe model file (``model.skops``, never a pickle) with its sha256. Each Python worker loads it once, with
the same digest and type checks as a local load, and keeps it by digest; ``mapInArrow`` hands it Arrow
batches whose input columns :func:`duckml.scoring.udf.score` scores, the very function ``duckml.predict`` runs.

Casts happen in Spark before the batches leave the JVM, chosen by the same matching rule as DuckDB's
(:func:`duckml.scoring.udf.match_inputs`), so a BIGINT column fed to a model fitted on floats arrives as
DOUBLE, as it does in DuckDB.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duckml.clock import utcnow
from duckml.errors import InvalidInputError
from duckml.scoring import udf as scoring
from duckml.scoring.prediction import ModelSource, record_lineage

# Spark's simple type names -> the DuckDB type names the matching rule speaks
_DUCKDB_NAMES = {"double": "DOUBLE", "float": "FLOAT", "bigint": "BIGINT", "int": "INTEGER",
                 "smallint": "SMALLINT", "tinyint": "TINYINT", "string": "VARCHAR", "boolean": "BOOLEAN"}
# the DuckDB cast targets of the matching rule -> Spark's
_SPARK_CASTS = {"DOUBLE": "double", "BIGINT": "bigint", "VARCHAR": "string"}
# duckml's prediction kinds -> Spark DDL types
SPARK_TYPES = {"double": "double", "bigint": "bigint", "varchar": "string", "boolean": "boolean",
               "list": "array<double>", "proba": "array<double>"}
# Rows per scoring call on an executor: Spark's Arrow batches (10,000 rows by default) are regrouped, since
# a forest's per-call overhead wants large batches (duckml.scoring.prediction.BATCH_ROWS)
BATCH_ROWS = 65_536


def require_pyspark():
    """pyspark's ``sql`` module, or an error saying how to install it."""
    try:
        import pyspark.sql
    except ImportError as e:
        raise InvalidInputError("duckml.spark needs PySpark: pip install 'duckml[spark]' (and a Java 17 runtime)") from e
    return pyspark.sql


@dataclass(frozen=True)
class ShippedModel:
    """What travels to the executors: the safe model file's bytes (broadcast), its digest, how to feed it."""

    digest: str
    signature: dict | None
    label: str


def duckdb_type_name(spark_type) -> str:
    """The DuckDB name of a Spark column type, for the shared matching rule.

    >>> from pyspark.sql.types import DecimalType, LongType
    >>> duckdb_type_name(LongType()), duckdb_type_name(DecimalType(10, 2))
    ('BIGINT', 'DECIMAL(10,2)')
    """
    name = spark_type.simpleString()
    if name.startswith(("varchar", "char")):
        return "VARCHAR"
    if name.startswith("decimal"):
        return name.upper()
    return _DUCKDB_NAMES.get(name, name.upper())


def resolve(model_uri: str | os.PathLike):
    """(ModelSpec, ModelSource, model file bytes, ShippedModel) on the driver: the URI resolved once."""
    from duckml.models import format as model_format
    from duckml.models import loader

    text = os.fspath(model_uri) if isinstance(model_uri, os.PathLike) else model_uri
    if not isinstance(text, str):
        raise InvalidInputError(f"model must be a model URI such as 'models:/sales@champion', got {model_uri!r}")
    folder = Path(text)
    if "://" not in text and (folder / model_format.METADATA_FILE).is_file():
        meta = model_format.read_metadata(folder)
        model_file, found = folder / meta.model_file, ModelSource(text, None, None, None)
        label = f"model at {folder.resolve()}"
    else:
        resolved = loader.resolve_model_uri(text)
        meta, model_file = resolved.metadata, resolved.model_file
        found = ModelSource(text, resolved.name, resolved.version, resolved.run_id)
        label = (f"model {resolved.name!r} version {resolved.version}" if resolved.name
                 else f"model {resolved.source_uri!r}")
    data = Path(model_file).read_bytes()
    shipped = ShippedModel(hashlib.sha256(data).hexdigest(), meta.signature, label)
    known = scoring.cached_model(_key(shipped.digest))  # the content decides: loaded once per driver too
    if known is not None and known.label == label:
        return known, found, data, shipped
    model = known.model if known is not None else model_format.load_model_bytes(data, sha256=meta.sha256,
                                                                                 source=label)
    spec = scoring.make_spec(_key(shipped.digest), model, meta.signature, label)
    scoring.add_model(spec)
    return spec, found, data, shipped


def _key(digest: str) -> str:
    return f"sha256:{digest}"


# -- on the executors ----------------------------------------------------------------------------------
_WORKER_SPECS: dict[str, scoring.ModelSpec] = {}  # digest -> spec: each Python worker loads a model once
_WORKER_LOCK = threading.Lock()
WORKER_MODELS = 8  # models kept per worker
WORKER_LOADS = {"count": 0}  # how many models this worker process loaded (the tests read it)


def worker_spec(shipped: ShippedModel, content) -> scoring.ModelSpec:
    """The spec of a shipped model in this Python worker, loaded from ``content()`` on first use only.
    It is put back in duckml's shared cache on every call, which its idle eviction may have emptied."""
    with _WORKER_LOCK:
        spec = _WORKER_SPECS.get(shipped.digest)
        if spec is None:
            from duckml.models import format as model_format

            model = model_format.load_model_bytes(content(), sha256=shipped.digest, source=shipped.label)
            WORKER_LOADS["count"] += 1
        if spec is None or spec.label != shipped.label:  # the same content registered under another name
            spec = scoring.make_spec(_key(shipped.digest), model if spec is None else spec.model,
                                     shipped.signature, shipped.label)
            if shipped.digest not in _WORKER_SPECS and len(_WORKER_SPECS) >= WORKER_MODELS:
                _WORKER_SPECS.pop(next(iter(_WORKER_SPECS)))  # the oldest: a long-lived worker stays bounded
            _WORKER_SPECS[shipped.digest] = spec
        scoring.add_model(spec)
        return spec


def _groups(batches, rows: int):
    """Spark's Arrow batches (10,000 rows by default) gathered into lists of about ``rows`` rows: a forest's
    per-call overhead wants one large scoring call, while the batches themselves are kept as they came."""
    pending, size = [], 0
    for batch in batches:
        if not batch.num_rows:
            continue
        pending.append(batch)
        size += batch.num_rows
        if size >= rows:
            yield pending
            pending, size = [], 0
    if pending:
        yield pending


def _joined(group, index: int):
    """Column ``index`` of a group of batches as one array (copied only when there are several batches)."""
    import pyarrow as pa

    if len(group) == 1:
        return group[0].column(index)
    return pa.concat_arrays([batch.column(index) for batch in group])


def score_partition(batches, shipped: ShippedModel, content, feeding: list[str], proba: bool, counter=None,
                    rows: int = BATCH_ROWS):
    """Score one partition's Arrow batches (mapInArrow's function body).

    Only the model's input columns of a group of batches are joined and scored, in one call of duckml's
    scoring function, on this thread (an executor core runs one task: a second thread would only trade the
    GIL back and forth). Each incoming batch goes out with its slice of the predictions appended, its other
    columns passed through without a copy. Source columns the output replaces (``prediction``, or the
    ``proba_<class>`` columns) and the cast copies of the inputs are left out.
    """
    import pyarrow as pa

    spec = worker_spec(shipped, content)
    input_names = [name for name, _ in spec.inputs]
    outputs = proba_columns(spec) if proba else ["prediction"]
    layout = None
    for group in _groups(batches, rows):
        if layout is None:
            names = group[0].schema.names
            inputs = [names.index(column) for column in feeding]
            replaced = {n.lower() for n in outputs}
            keep = [i for i, n in enumerate(names)
                    if not n.startswith(scoring.CAST_PREFIX) and n.lower() not in replaced]
            layout = (inputs, keep, [names[i] for i in keep] + outputs)
        inputs, keep, out_names = layout
        packed = pa.StructArray.from_arrays([_joined(group, i) for i in inputs], names=input_names)
        if proba:
            total = sum(batch.num_rows for batch in group)
            matrix = scoring.score(spec.key, packed, "proba").flatten().to_numpy().reshape(total, -1)
            scored = [pa.array(matrix[:, k]) for k in range(len(outputs))]
        else:
            scored = [scoring.score(spec.key, packed, spec.output)]
        offset = 0
        for batch in group:
            n = batch.num_rows
            columns = [batch.column(i) for i in keep] + [values.slice(offset, n) for values in scored]
            offset += n
            if counter is not None:
                counter.add(n)
            yield pa.RecordBatch.from_arrays(columns, names=out_names)


# -- on the driver --------------------------------------------------------------------------------------
def proba_columns(spec: scoring.ModelSpec) -> list[str]:
    """``proba_<class>`` per class, as the ``predict_proba`` macro names them (same errors)."""
    if spec.classes is None or not hasattr(spec.model, "predict_proba"):
        raise InvalidInputError(f"{spec.label} has no predict_proba (it is not a classifier); use predict")
    names = [f"proba_{c}" for c in spec.classes]
    if len({n.lower() for n in names}) != len(names):
        raise InvalidInputError(f"the classes of {spec.label} give duplicate column names {names}")
    return names


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _inputs_frame(df, spec: scoring.ModelSpec):
    """(df with a cast copy of each input whose type differs from the model's, feeding column names)."""
    from pyspark.sql import functions as F

    columns = {field.name: duckdb_type_name(field.dataType) for field in df.schema.fields}
    extra, feeding = [], []
    for i, (_, column, target) in enumerate(scoring.match_inputs(spec, columns)):
        if target is None:
            feeding.append(column)
        else:
            name = f"{scoring.CAST_PREFIX}{i}"
            extra.append(F.col(_quote(column)).cast(_SPARK_CASTS.get(target, target.lower())).alias(name))
            feeding.append(name)
    return (df.select("*", *extra) if extra else df), feeding


def predict(df, model_uri: str | os.PathLike, *, result_type=None, proba: bool = False,
            output: str | None = None, mode: str = "errorifexists"):
    """Score a Spark DataFrame with a stored model on the executors; return it with ``prediction`` (or,
    with ``proba=True``, one ``proba_<class>`` column per class), as ``duckml.predict`` would add them.

    ``models:/name@alias`` is resolved here, once. The model file's content travels by broadcast and is
    loaded once per Python worker. ``result_type`` (a Spark type or DDL string such as ``"float"``) casts the
    prediction; by default it has the type ``duckml.predict`` gives (DOUBLE for a regressor, the classes'
    type for a classifier). With ``output`` (a Parquet folder path, or a Spark table name without ``/``)
    the scored rows are written (``mode`` as Spark's writer takes it), the job is recorded in the store's
    ``predictions`` table with its row count, and None is returned.

    >>> import duckml.spark
    >>> week = spark.read.parquet("week.parquet")  # doctest: +SKIP
    >>> duckml.spark.predict(week, "models:/churn@champion").select("prediction").count()  # doctest: +SKIP
    8
    """
    require_pyspark()
    spec, found, data, shipped = resolve(model_uri)
    outputs = proba_columns(spec) if proba else ["prediction"]
    frame, feeding = _inputs_frame(df, spec)
    spark = df.sparkSession
    content = spark.sparkContext.broadcast(data)
    counter = spark.sparkContext.accumulator(0) if output is not None else None
    from pyspark.sql.types import DoubleType, StructField, StructType, _parse_datatype_string

    replaced = {n.lower() for n in outputs}
    kept = [f for f in df.schema.fields if f.name.lower() not in replaced]
    added = ([StructField(n, DoubleType()) for n in outputs] if proba
             else [StructField("prediction", _parse_datatype_string(SPARK_TYPES[spec.output]))])
    schema = StructType(kept + added)

    def score(batches):  # runs on the executors: only picklable, small things are captured
        return score_partition(batches, shipped, lambda: content.value, feeding, proba, counter)

    scored = frame.mapInArrow(score, schema)
    if result_type is not None and not proba:
        from pyspark.sql import functions as F

        scored = scored.withColumn("prediction", F.col("prediction").cast(result_type))
    if output is None:
        return scored
    return _write(scored, df, found, output, mode, counter)


def _write(scored, df, found: ModelSource, output: str, mode: str, counter) -> None:
    started = utcnow()
    if not isinstance(output, str) or not output.strip():
        raise InvalidInputError(f"output must be a Parquet folder path or a Spark table name, got {output!r}")
    if "/" in output or output.endswith(".parquet"):
        path = output if "://" in output else os.path.abspath(output)
        scored.write.mode(mode).parquet(path)
        target, kind = path, "parquet"
    else:
        scored.write.mode(mode).saveAsTable(output)
        target, kind = output, "spark_table"
    files = sorted(df.inputFiles())
    source = (files[0] if len(files) == 1 else json.dumps(files)) if files else "spark:dataframe"
    record_lineage(found, source, target, kind, int(counter.value), started, utcnow(), "spark")
    return None
