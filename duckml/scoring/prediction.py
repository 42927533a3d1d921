"""PREDICT: score Parquet files with stored models, from SQL (``predict`` / ``predict_proba`` table macros)
and from Python (``duckml.predict``), vectorized and streaming.

DuckDB has no Python table functions, and a UDF's return type is fixed when it is registered. So the
macros hand the model URI and the source to one small UDF that runs once, while DuckDB binds the query:
it resolves the model, reads the source's schema, and returns the SELECT that ``query()`` then runs. That
SELECT calls the scoring UDF whose return type fits the model (see duckml/scoring.py), so a regressor
gives DOUBLE, a classifier with int classes BIGINT, one with string classes VARCHAR.

The Python face resolves and plans the same way (raising duckml errors before anything runs), then lets
a private in-memory DuckDB read, cast and pack the inputs in 65,536-row Arrow batches that a small thread
pool scores in order (scoring.scored_batches): larger batches than a UDF's 2,048 rows, which a forest's
per-call overhead needs to reach a hand-written loop's speed. The store is held only to record the lineage
row, or for the whole job when the output is a table inside it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow as pa

from duckml.scoring import udf as scoring
from duckml.clock import utcnow
from duckml import dberrors
from duckml.errors import DuckmlError, InvalidInputError, NotFoundError
from duckml.store import quiet_connection
from duckml.sqlquote import quote_ident, quote_literal

PLAN_UDF = "_duckml_predict_sql"
MACROS = (
    f"CREATE OR REPLACE TEMP MACRO predict(model, src) AS TABLE FROM query({PLAN_UDF}(model, src, 'predict'));",
    f"CREATE OR REPLACE TEMP MACRO predict_proba(model, src) AS TABLE FROM query({PLAN_UDF}(model, src, 'proba'));",
)
# Rows per scoring call of the Python face (SQL's UDFs get DuckDB's fixed 2,048). A forest's per-call cost
# (a joblib dispatch and input check per call, a Python call per tree) made 16,384-row batches cost ~11% more
# CPU than 65,536 over 500k rows; linear models do not care, and 4 batches in flight stay ~50 MB.
BATCH_ROWS = 65_536
ROW_GROUP_ROWS = 65_536  # rows per written Parquet row group: bigger ones cost memory and time to buffer


@dataclass(frozen=True)
class ModelSource:
    """What a model URI named, for the lineage row."""

    uri: str
    name: str | None
    version: int | None
    run_id: str | None


# -- resolving models and sources ----------------------------------------------------------------------
def _resolve(model_uri: str | os.PathLike, con: duckdb.DuckDBPyConnection | None = None):
    """(ModelSpec, ModelSource, compiled form or None) for a model URI or a local model folder; each model
    loads once per process. The compiled form is the stored SQL predict() uses by itself (duckml.models.compiled)."""
    if isinstance(model_uri, os.PathLike) or (isinstance(model_uri, str) and _is_model_folder(model_uri)):
        directory = Path(model_uri).resolve()
        key = str(directory)
        found = ModelSource(os.fspath(model_uri), None, None, None)
        spec = scoring.cached_model(key)
        if spec is None:
            from duckml.models import format as model_format

            meta = model_format.read_metadata(directory)
            spec = scoring.make_spec(key, model_format.load_model(directory), meta.signature, f"model at {key}")
            scoring.add_model(spec)
        return spec, found, None
    if not isinstance(model_uri, str):
        raise InvalidInputError(f"model must be a model URI such as 'models:/sales@champion', got {model_uri!r}")
    from duckml.models import loader as model_loader

    resolved, compiled = _lookup(model_uri, con)
    found = ModelSource(model_uri, resolved.name, resolved.version, resolved.run_id)
    key = str(resolved.model_file)  # content-addressed: one key per model file, whatever URI named it
    spec = scoring.cached_model(key)
    if spec is None:
        label = (f"model {resolved.name!r} version {resolved.version}" if resolved.name
                 else f"model {resolved.source_uri!r}")
        spec = scoring.make_spec(key, model_loader.load_resolved(resolved), resolved.signature, label)
        scoring.add_model(spec)
    return spec, found, compiled


def _lookup(model_uri: str, con: duckdb.DuckDBPyConnection | None):
    """(ResolvedModel, compiled form or None) through the store. Inside a store query (the macro is being
    bound on the store's own, busy connection) the store is already attached, so read it through a cursor
    instead of re-opening it."""
    from duckml.models import compiled
    from duckml.models import loader as model_loader

    if con is not None:
        cursor = con.cursor()
        try:
            row = cursor.execute("SELECT path FROM duckdb_databases() WHERE database_name = 'store'").fetchall()
            if row and row[0][0]:
                from duckml.models.uri import parse_model_uri
                from duckml.store import store_for_attachment

                cursor.execute("USE store")
                parsed = parse_model_uri(model_uri)
                try:
                    resolved = model_loader.resolve_parsed(cursor, store_for_attachment(row[0][0]), parsed)
                    return resolved, compiled.compiled_form(cursor, resolved.name, resolved.version,
                                                            resolved.source_uri)
                except NotFoundError as e:
                    if parsed.kind != "run":
                        raise
                    # a cursor sees the file, not this process's journal of just-logged artifacts
                    raise NotFoundError(f"{e} (a model logged moments ago is visible to SQL after "
                                        "duckml.flush())") from None
        finally:
            cursor.close()
    resolved = model_loader.resolve_model_uri(model_uri)
    from duckml.store import get_store

    with get_store().read() as read:
        return resolved, compiled.compiled_form(read, resolved.name, resolved.version, resolved.source_uri)


def _is_model_folder(text: str) -> bool:
    from duckml.models.format import METADATA_FILE

    return "://" not in text and (Path(text) / METADATA_FILE).is_file()


def _check_source(source) -> str | list[str]:
    if isinstance(source, (str, os.PathLike)):
        items, single = [source], True
    elif isinstance(source, (list, tuple)) and source:
        items, single = list(source), False
    else:
        raise InvalidInputError(f"source must be a Parquet path, a glob or a non-empty list of paths, got {source!r}")
    paths = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)) or not str(item).strip() or "\0" in str(item):
            raise InvalidInputError(f"source path {item!r} is not a usable path")
        paths.append(os.fspath(item))
    return paths[0] if single else paths


_SCHEMA_LOCK = threading.Lock()
_SCHEMA_CON: duckdb.DuckDBPyConnection | None = None


def _source_columns(source: str | list[str]) -> dict[str, str]:
    """Column name -> DuckDB type of a Parquet source, read on a private connection (never the caller's,
    which may be busy binding the very query that asks)."""
    global _SCHEMA_CON
    with _SCHEMA_LOCK:
        if _SCHEMA_CON is None:
            _SCHEMA_CON = quiet_connection()
        try:
            rows = _SCHEMA_CON.execute("DESCRIBE SELECT * FROM read_parquet(?)", [source]).fetchall()
        except duckdb.IOException as e:
            if dberrors.is_missing_files(e):
                raise NotFoundError(f"source {source!r} matches no file; check the path or glob") from None
            raise InvalidInputError(f"cannot read source {source!r} as Parquet: {e}") from None
        except duckdb.Error as e:
            raise InvalidInputError(f"cannot read source {source!r} as Parquet: {e}") from None
    return {name: type_name for name, type_name, *_ in rows}


@dataclass(frozen=True)
class Plan:
    """A scoring job checked before it runs: the model, the source and the source's columns."""

    spec: scoring.ModelSpec
    found: ModelSource
    source: str | list[str]
    columns: dict[str, str]
    compiled: object | None = None  # duckml.models.compiled.CompiledForm

    @property
    def engine(self) -> str:
        """"sql" when the stored compiled form scores, "udf" when the Python UDF does."""
        return "sql" if self.compiled is not None else "udf"

    def compiled_sql(self, source_sql: str) -> str:
        scoring.struct_sql(self.spec, self.columns)  # the UDF path's checks: every input present, castable
        return (f"SELECT {scoring._star(self.columns, ['prediction'])}, {self.compiled.prediction_sql} AS prediction "
                f"FROM {source_sql}")

    def macro_sql(self, proba: bool = False) -> str:
        """The SELECT the macros hand to ``query()``, which takes no parameters: the model key and the
        paths are literals through quote_literal (every quote doubled, so each stays one literal)."""
        source = (quote_literal(self.source) if isinstance(self.source, str)
                  else "[" + ", ".join(quote_literal(s) for s in self.source) + "]")
        if self.compiled is not None and not proba:
            return self.compiled_sql(f"read_parquet({source})")
        return scoring.select_sql(self.spec, self.columns, f"read_parquet({source})",
                                  quote_literal(self.spec.key), proba=proba)


def plan(model_uri: str | os.PathLike, source, con: duckdb.DuckDBPyConnection | None = None) -> Plan:
    """Resolve the model, load it once per process, and read the source's schema.

    >>> print(plan("models:/churn/1", "week.parquet").macro_sql())  # doctest: +ELLIPSIS
    SELECT *, ...(...struct_pack("tenure" := "tenure", "spend" := "spend")...) AS prediction FROM ...
    """
    source = _check_source(source)
    spec, found, compiled = _resolve(model_uri, con)
    columns = _source_columns(source)
    if compiled is not None and not _compiled_fits(spec, columns):
        compiled = None  # the Python UDF takes what the compiled SQL was not built for
    return Plan(spec, found, source, columns, compiled)


def _compiled_fits(spec: scoring.ModelSpec, columns: dict[str, str]) -> bool:
    """Whether the source's columns have the types the model's compiled SQL was built for: text inputs
    VARCHAR, numeric inputs any number. Otherwise (an INTEGER column where the encoder learned strings, a
    VARCHAR where the model reads numbers) the compiled form could fail or compare text with numbers, and
    the UDF path, which casts each column to what the model was fitted on, scores instead.

    >>> from sklearn.linear_model import LinearRegression
    >>> m = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    >>> spec = scoring.make_spec("m", m, None, "model 'm'")
    >>> _compiled_fits(spec, {"f0": "INTEGER"}), _compiled_fits(spec, {"f0": "VARCHAR"})
    (True, False)
    """
    from duckml.compiler.macro import expected_inputs
    from duckml.errors import ModelNotCompilableError

    logged = {"inputs": [{"name": name, "type": kind} for name, kind in spec.inputs]}
    try:
        expected = expected_inputs(spec.model, logged)
    except ModelNotCompilableError:
        return False
    for name, sql_type in expected:
        column = scoring._match_column(name, columns)
        if column is None or sql_type is None:
            continue  # a missing column gets the same clear error on either path; an unread one any type
        source_type = columns[column].upper()
        if sql_type == "VARCHAR" and source_type != "VARCHAR":
            return False
        if sql_type == "DOUBLE" and scoring._family(source_type) not in ("int", "float", "bool"):
            return False
    return True


# -- SQL registration ---------------------------------------------------------------------------------
def _plan_udf(con: duckdb.DuckDBPyConnection):
    def plan_sql(models, sources, methods):
        # Runs while DuckDB binds the macro: every argument is a constant, so row 0 speaks for all rows.
        model_uri, source, method = (c[0].as_py() for c in (models, sources, methods))
        if model_uri is None or source is None:
            raise InvalidInputError("predict(model, source) needs a model URI and a Parquet path, glob or list")
        sql = plan(model_uri, source, con).macro_sql(proba=method == "proba")
        return pa.array([sql] * len(models), pa.string())

    return plan_sql


def register_predict(con: duckdb.DuckDBPyConnection) -> None:
    """Register the scoring UDFs and the TEMP macros ``predict(model, source)`` and
    ``predict_proba(model, source)`` on ``con`` (the store's connection, or any DuckDB connection: models
    are then looked up in the current store). Safe to call again on the same connection.

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> register_predict(con)
    >>> con.sql("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'predict'").fetchall()
    [(1,)]
    """
    scoring.register_udfs(con)
    have = con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [PLAN_UDF]).fetchall()[0][0]
    if not have:
        con.create_function(PLAN_UDF, _plan_udf(con), None, duckdb.sqltypes.VARCHAR, type="arrow")
    for statement in MACROS:
        con.execute(statement)


# -- the Python face ----------------------------------------------------------------------------------

def _total_rows(source) -> int | None:
    with _SCHEMA_LOCK:
        try:
            return int(_SCHEMA_CON.execute("SELECT sum(num_rows) FROM parquet_file_metadata(?)",
                                           [source]).fetchall()[0][0] or 0)
        except duckdb.Error:
            return None


def _translate(error: duckdb.Error, job: Plan) -> DuckmlError:
    raised = scoring.unwrap_udf_error(error)
    if raised is not None:
        return raised
    return InvalidInputError(f"scoring {job.source!r} with {job.spec.label} failed: {str(error).strip()}")


class _Scoring:
    """One Python-side scoring job: DuckDB reads, casts and packs the inputs of a private connection's
    streaming query; :func:`scoring.scored_batches` scores them in order; the caller drains ``batches``."""

    def __init__(self, job: Plan, memory_limit: str | None, progress, workers: int):
        self.job = job
        self.rows = 0
        self.error: Exception | None = None
        self._con = quiet_connection()
        if memory_limit is not None:
            try:
                self._con.execute(f"SET memory_limit = {quote_literal(str(memory_limit))}")
            except duckdb.Error as e:
                self._con.close()
                raise InvalidInputError(f"memory_limit {memory_limit!r} is not a DuckDB memory size such as "
                                        f"'512MB': {e}") from None
        self._progress = progress
        self._total = _total_rows(job.source) if progress is not None else None
        if job.compiled is not None:  # DuckDB computes the predictions itself: no UDF, no scoring threads
            sql, feeding = job.compiled_sql("read_parquet(?)"), None
        else:
            sql, feeding = scoring.input_sql(job.spec, job.columns, "read_parquet(?)")
        try:
            reader = self._con.execute(sql, [job.source]).to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as e:
            self._con.close()
            raise _translate(e, job) from e
        if feeding is None:
            self.schema, self._batches = reader.schema, _closing(reader)
        else:
            self.schema, self._batches = scoring.scored_batches(job.spec, reader, feeding, workers)

    def batches(self):
        try:
            for batch in self._batches:
                self.rows += batch.num_rows
                if self._progress is not None:
                    self._progress(self.rows, max(self._total or 0, self.rows))
                yield batch
        except duckdb.Error as e:
            self.error = _translate(e, self.job)
            raise self.error from e
        except Exception as e:
            self.error = e  # DuckDB's Arrow scan would keep only its text
            raise

    def close(self) -> None:
        self._batches.close()
        self._con.close()


def _closing(reader):
    yield from reader


_RESERVED = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)


def _reserved_tables() -> set[str]:
    from duckml.store.schema import sql_dir

    names = set()
    for path in (sql_dir() / "migrations").glob("*.sql"):
        names.update(n.lower() for n in _RESERVED.findall(path.read_text()))
    return names


def _check_table_name(name: str) -> str:
    if not name.strip() or "\0" in name or name != name.strip():
        raise InvalidInputError(f"output table name {name!r} is empty or has surrounding spaces")
    if name.lower() in _reserved_tables() or name.lower().startswith("_duckml"):
        raise InvalidInputError(f"output table {name!r} is one of duckml's own tables; choose another name")
    return name


def _lineage(con, found: ModelSource, source, output: str, kind: str, rows: int, started, finished,
             engine: str = "udf") -> None:
    def absolute(path: str) -> str:
        return path if "://" in path else os.path.abspath(path)

    source = absolute(source) if isinstance(source, str) else json.dumps([absolute(s) for s in source])
    con.execute(
        "INSERT INTO predictions (prediction_id, model_name, model_version, model_uri, run_id, source, output, "
        "output_kind, row_count, started_at, finished_at, engine) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [uuid.uuid4().hex, found.name, found.version, found.uri, found.run_id, source, output, kind, rows,
         started, finished, engine])


def record_lineage(found: ModelSource, source, output: str, kind: str, rows: int, started, finished,
                   engine: str) -> None:
    """Record in the current store's ``predictions`` table a scoring job that ran elsewhere (a Spark job:
    ``duckml.spark.predict(..., output=...)``), as ``duckml.predict`` records its own."""
    from duckml.store import get_store

    with get_store().write() as con:
        _lineage(con, found, source, output, kind, rows, started, finished, engine)


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth dictionary-encoding: all but floating-point ones. Measured features and scores are
    nearly all distinct, so their dictionary only grows the file, and building it (a hash per value) took
    most of the time of writing a 2M x 20-float file (1.66 s of CPU against 0.37 s plain, and 413 MB
    against 334 MB)."""
    return [field.name for field in schema
            if not (pa.types.is_floating(field.type)
                    or (pa.types.is_list(field.type) and pa.types.is_floating(field.type.value_type)))]


def _write_parquet(run: _Scoring, path: Path) -> None:
    """Stream into a temp file beside ``path``, then rename: a failed job leaves no half-written output."""
    import pyarrow.parquet as pq

    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        with pq.ParquetWriter(partial, run.schema, use_dictionary=_dictionary_columns(run.schema)) as writer:
            pending, size = [], 0
            for batch in run.batches():
                pending.append(batch)
                size += batch.num_rows
                if size >= ROW_GROUP_ROWS:  # whole row groups, not one per small batch
                    writer.write_table(pa.Table.from_batches(pending, run.schema))
                    pending, size = [], 0
            if pending:
                writer.write_table(pa.Table.from_batches(pending, run.schema))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _write_table(run: _Scoring, con, table: str) -> None:
    exists = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_catalog = 'store' "
        "AND table_schema = 'main' AND table_name = ?", [table]).fetchall()
    if exists and exists[0][0] != "BASE TABLE":
        raise InvalidInputError(f"output {table!r} is a {exists[0][0].lower()} in the store, not a table")
    view = f"_duckml_scored_{uuid.uuid4().hex[:8]}"
    con.register(view, pa.RecordBatchReader.from_batches(run.schema, run.batches()))
    try:
        target = f"store.main.{quote_ident(table)}"
        con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {view}" if exists
                    else f"CREATE TABLE {target} AS SELECT * FROM {view}")
    except duckdb.Error as e:
        raise (run.error or _table_error(e, table)) from e
    finally:
        con.unregister(view)


def _table_error(error: duckdb.Error, table: str) -> DuckmlError:
    return InvalidInputError(f"cannot write predictions into table {table!r}: {str(error).strip()} "
                             "(appending matches columns by name; choose a new table name otherwise)")


def predict(model_uri: str | os.PathLike, source, output: str | os.PathLike | None = None, *,
            memory_limit: str | None = None, progress: Callable[[int, int], None] | None = None,
            workers: int | None = None):
    """Score a Parquet ``source`` (path, glob or list of paths) with a stored model.

    Returns a Polars frame (every source column plus ``prediction``, rows in source order) when ``output``
    is None. Otherwise streams into ``output`` and returns None: a path ending in ``.parquet`` (written
    whole or not at all), or the name of a table in the store (created, or appended to by column name).
    Either way a row in the store's ``predictions`` table records which model version scored which source
    into which output, when, and how many rows.

    Args:
        model_uri: any form ``load_model`` accepts (``models:/sales@champion``, ``runs:/<id>/model``…)
            or a local model folder.
        memory_limit: DuckDB's memory limit while it reads the source (``'512MB'``); the scoring side
            holds at most ``2 * workers`` batches of 65,536 rows.
        progress: called as ``progress(rows_done, rows_total)`` after each scored batch.
        workers: scoring threads (default: the CPU count, at most 4).

    >>> import duckml
    >>> duckml.predict("models:/churn@champion", "week.parquet")["prediction"].to_list()
    [1, 0, 1, 0, 1, 0, 1, 0]
    >>> duckml.predict("models:/churn@champion", "week*.parquet", output="forecasts")
    >>> duckml.connect().sql("SELECT count(*) FROM forecasts").fetchone()
    (8,)
    """
    if output is not None and not isinstance(output, (str, os.PathLike)):
        raise InvalidInputError(f"output must be a .parquet path or a table name, got {output!r}")
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    target = None if output is None else os.fspath(output)
    path = table = None
    if target is not None and target.lower().endswith(".parquet"):
        path = Path(target).resolve()
        if not path.parent.is_dir():
            raise NotFoundError(f"output folder {str(path.parent)!r} does not exist; create it first")
    elif target is not None:
        table = _check_table_name(target)
    job = plan(model_uri, source)
    try:
        return _score(job, path, table, memory_limit, progress, workers)
    except _CompiledFailed:
        # A compiled form that fails where the Python UDF may not (a macro stored by an older compiler, a
        # value its SQL cannot take): nothing was written, so the UDF path scores the job again, and raises
        # its own error if the model itself refuses the rows.
        return _score(replace(job, compiled=None), path, table, memory_limit, progress, workers)


class _CompiledFailed(Exception):
    """Scoring with the compiled SQL failed; predict() scores again with the UDF."""


def _score(job: Plan, path: Path | None, table: str | None, memory_limit, progress, workers: int):
    started = utcnow()
    try:
        run = _Scoring(job, memory_limit, progress, workers)
    except DuckmlError as e:
        if job.compiled is not None:
            raise _CompiledFailed() from e
        raise
    try:
        if path is None and table is None:
            import polars as pl

            return pl.from_arrow(pa.Table.from_batches(list(run.batches()), run.schema))
        from duckml.store import get_store

        if path is not None:
            _write_parquet(run, path)
            with get_store().write() as con:
                _lineage(con, job.found, job.source, str(path), "parquet", run.rows, started, utcnow(), job.engine)
        else:
            with get_store().write() as con:
                _write_table(run, con, table)
                _lineage(con, job.found, job.source, table, "table", run.rows, started, utcnow(), job.engine)
        return None
    except Exception as e:
        if job.compiled is not None and run.error is not None:  # it failed while the SQL was scoring
            raise _CompiledFailed() from e
        raise
    finally:
        run.close()
