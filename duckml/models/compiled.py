"""PREDICT without Python: registered models compiled into table macros stored in the DuckDB file.

``compile_model("models:/sales@champion")`` stores ``predict_sales_champion(src)``, which any DuckDB client
(the plain ``duckdb`` CLI, a BI tool) runs with no Python: every column of the Parquet ``src`` plus
``prediction``, equal to scikit-learn's ``predict``. The compiler (duckml.compiler) does the SQL; this module
resolves the model, stores the macro, records it in ``compiled_models`` and ``registry_events``, and tells
``predict()`` which compiled form to use by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from duckml.compiler.macro import check_macro_name, macro_name, table_macro
from duckml.errors import InvalidInputError, ModelNotCompilableError
from duckml.models.loader import load_resolved, resolve_parsed
from duckml.models.uri import parse_model_uri
from duckml.models.registry import _Events, store_macro
from duckml.store import get_store, schema
from duckml.store.guard import is_protected_table


def compile_model(model_uri: str, macro: str | None = None) -> str:
    """Compile a stored model to SQL and store it as a table macro; return the macro's name.

    The default name is ``predict_<name>_<alias>`` (which then follows the alias when it moves) or
    ``predict_<name>_v<version>``. Raises ModelNotCompilableError naming the step that has no exact SQL
    form; nothing is stored then.

    >>> duckml.compile_model("models:/churn@champion")
    'predict_churn_champion'
    >>> duckml.connect().sql("SELECT prediction FROM store.predict_churn_champion('week.parquet') LIMIT 2").fetchall()
    [(1,), (0,)]
    """
    if not isinstance(model_uri, str):
        raise InvalidInputError(f"model_uri must be a model URI such as 'models:/sales@champion', got {model_uri!r}")
    parsed = parse_model_uri(model_uri)
    store = get_store()
    if macro is not None:
        macro = check_macro_name(macro)
    with store.read() as con:  # load outside the write lock: loading a big model takes a while
        if macro is not None:
            check_free_name(con, macro)
        resolved = resolve_parsed(con, store, parsed)
    model = load_resolved(resolved)
    alias = parsed.alias if parsed.kind == "alias" else None
    if macro is None:
        if resolved.name is None:
            macro = macro_name(None, fallback=f"run_{resolved.run_id[:12]}_{resolved.artifact_path}")
        else:
            macro = macro_name(resolved.name, alias=alias, version=None if alias else resolved.version)
    definition = table_macro(macro, model, resolved.signature)
    with store.write() as con:
        current = resolve_parsed(con, store, parsed)
        if current.source_uri != resolved.source_uri:  # the alias moved meanwhile: compile what it is now
            resolved, model = current, load_resolved(current)
            definition = table_macro(macro, model, resolved.signature)
        store_macro(con, _Events(con) if resolved.name else None, definition, resolved, alias)
    return definition.name


def check_free_name(con, name: str) -> None:
    """Refuse a macro name that would replace one of duckml's shipped views, macros or tables (sql/), or
    shadow a DuckDB function: ``CREATE OR REPLACE MACRO read_parquet`` in the store would make every plain
    client's ``read_parquet`` (the macro's own included) call the model's macro instead.

    >>> check_free_name(duckdb.connect(), "predict_churn_v1")
    >>> check_free_name(duckdb.connect(), "read_parquet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    duckml.errors.ModelNotCompilableError: macro name 'read_parquet' is a DuckDB table function; ...
    """
    lowered = name.lower()
    if lowered in schema.definition_names() or is_protected_table(lowered):
        raise ModelNotCompilableError(f"macro name {name!r} is one of duckml's own views, macros or tables "
                                      "(see sql/); choose another name. Nothing was stored")
    # 'system' holds DuckDB's functions and loaded extensions' and the UDFs; 'temp' duckml's predict macros
    taken = con.execute("SELECT function_type FROM duckdb_functions() WHERE lower(function_name) = ? AND "
                        "database_name IN ('system', 'temp') LIMIT 1", [lowered]).fetchall()
    if taken:
        raise ModelNotCompilableError(f"macro name {name!r} is a DuckDB {taken[0][0]} function; a macro of that "
                                      "name would hide it from every client of the store. Choose another "
                                      "name. Nothing was stored")


@dataclass(frozen=True)
class CompiledForm:
    macro: str
    prediction_sql: str
    engine: str


def compiled_form(con, name: str | None, version: int | None, source_uri: str) -> CompiledForm | None:
    """The compiled form predict() should use for this model version (engine 'sql'), or None."""
    try:
        rows = con.execute(
            "SELECT macro_name, prediction_sql, engine FROM compiled_models WHERE engine = 'sql' AND "
            "((model_name = ? AND model_version = ?) OR (model_name IS NULL AND source_uri = ?)) "
            "ORDER BY created_at DESC LIMIT 1", [name, version, source_uri]).fetchall()
    except duckdb.CatalogException:  # a store file from before compiled models, read by an older reader
        return None
    return CompiledForm(*rows[0]) if rows else None


def compiled_models(name: str | None = None):
    """The ``compiled_models`` rows (all, or one model's) as a Polars frame, without the SQL text.

    >>> _ = duckml.compile_model("models:/churn@champion")
    >>> duckml.models.compiled.compiled_models("churn")["macro_name"].to_list()
    ['predict_churn_champion']
    """
    where = "" if name is None else "WHERE model_name = ?"
    with get_store().read() as con:
        return con.execute(
            "SELECT macro_name, model_name, model_version, model_alias, engine, node_count, prediction_type, "
            f"sql_sha256, created_at FROM compiled_models {where} ORDER BY macro_name",
            [] if name is None else [name]).pl()


def versions_with_engines(name: str):
    """``registry.get_model_versions(name)`` plus, per version, its compiled macros and the engine
    predict() uses by itself ("sql" when a compiled form wins, else "udf").

    >>> _ = duckml.compile_model("models:/churn/2")
    >>> duckml.models.compiled.versions_with_engines("churn").sort("version")["engine"].to_list()
    ['udf', 'sql']
    """
    import polars as pl

    from duckml.models.registry import get_model_versions

    versions = get_model_versions(name)
    with get_store().read() as con:
        rows = con.execute("SELECT model_version, list(macro_name ORDER BY macro_name), bool_or(engine = 'sql') "
                           "FROM compiled_models WHERE model_name = ? GROUP BY model_version", [name]).fetchall()
    macros = {v: m for v, m, _ in rows}
    sql = {v: s for v, _, s in rows}
    return versions.with_columns(
        pl.Series("compiled_macros", [macros.get(v, []) for v in versions["version"]], dtype=pl.List(pl.String)),
        pl.Series("engine", ["sql" if sql.get(v) else "udf" for v in versions["version"]], dtype=pl.String))
