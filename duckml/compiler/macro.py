"""The stored table macro of a compiled model, and which engine should score it. Text only: the callers
(duckml.models.compiled, the registry's alias hook) run the statements on the store.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from duckml.compiler.emit import quote_ident
from duckml.errors import ModelNotCompilableError

# Measured by benchmarks/bench_compile.py (100k rows × 20 columns, 2 shared cores): nested-CASE ensembles beat
# the Python UDF path up to a few hundred tree nodes in all (forest 10×depth 4, 310 nodes: 1.17×; boosting
# 30×depth 3, 450 nodes: 0.97×; forest 10×depth 6, 1,270 nodes: 0.56×), and one depth-8 tree (511 nodes) beats
# the hand-written loop 1.2×. Above the limit predict() keeps the UDF by itself; the macro still works.
SQL_NODE_LIMIT = 512


@dataclass(frozen=True)
class MacroDefinition:
    name: str
    statement: str       # CREATE OR REPLACE MACRO name(src) AS TABLE ...
    prediction_sql: str  # the prediction expression over the source's columns
    prediction_type: str
    sha256: str          # of the statement
    engine: str          # "sql" or "udf": what predict() picks by itself
    node_count: int


def macro_name(model_name: str | None, alias: str | None = None, version: int | None = None,
               fallback: str = "model") -> str:
    """``predict_<name>_<alias>`` or ``predict_<name>_v<version>``, every other character as ``_``.

    >>> macro_name("sales-forecast", alias="champion")
    'predict_sales_forecast_champion'
    >>> macro_name("sales", version=3)
    'predict_sales_v3'
    """
    base = model_name if model_name is not None else fallback
    suffix = alias if alias is not None else (f"v{version}" if version is not None else None)
    raw = f"predict_{base}" + (f"_{suffix}" if suffix else "")
    return re.sub(r"[^A-Za-z0-9_]", "_", raw)


def check_macro_name(name: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
        raise ModelNotCompilableError(f"macro name {name!r} must be a plain SQL identifier (letters, digits, _)")
    if name.lower() in ("predict", "predict_proba") or name.lower().startswith("_duckml"):
        raise ModelNotCompilableError(f"macro name {name!r} is one of duckml's own; choose another")
    return name


_TEXT_NAMES = ("string", "str", "utf8", "large_string", "large_utf8", "string_view", "object", "category", "varchar")
_NUMBER_PREFIXES = ("int", "uint", "long", "float", "double", "halffloat", "decimal", "number", "bool")


def _declared_kind(type_name: str) -> str | None:
    if type_name in _TEXT_NAMES:
        return "str"
    if type_name.startswith(_NUMBER_PREFIXES):
        return "num"
    return None


def expected_inputs(model: Any, signature: dict | None) -> list[tuple[str, str | None]]:
    """(column, DuckDB type) of each model input in fitted order: VARCHAR for text, DOUBLE for numbers
    (any numeric source column fits), None for a column no step reads. The kind comes from what the fitted
    model knows (see duckml.compiler.inputs), else from the logged signature; never from a default.

    Raises ModelNotCompilableError when the model and the signature disagree, or the model records no
    input columns.

    >>> from sklearn.linear_model import LinearRegression
    >>> expected_inputs(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), None)
    [('f0', 'DOUBLE')]
    """
    from duckml.compiler.inputs import input_kinds

    declared = {c["name"]: str(c.get("type") or "").lower() for c in (signature or {}).get("inputs") or []}
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None:
        names = [str(n) for n in fitted]
    elif declared:
        names = list(declared)
    elif isinstance(getattr(model, "n_features_in_", None), int):
        names = [f"f{i}" for i in range(model.n_features_in_)]
    else:
        raise ModelNotCompilableError("the model records no input columns (no signature, no fitted feature "
                                      "names); log it again with an input_example")
    found = []
    for name, kind in zip(names, input_kinds(model, len(names))):
        logged = _declared_kind(declared.get(name, ""))
        if kind is not None and logged is not None and kind != logged:
            raise ModelNotCompilableError(
                f"input column {name!r} is {'text' if logged == 'str' else 'a number'} in the logged signature "
                f"but the model reads it as {'text' if kind == 'str' else 'a number'}; its SQL type is unknown")
        kind = kind or logged
        found.append((name, None if kind is None else "VARCHAR" if kind == "str" else "DOUBLE"))
    return found


def inputs_from_signature(model: Any, signature: dict | None) -> list[tuple[str, str]]:
    """:func:`expected_inputs` with a column no step reads typed DOUBLE (its SQL is never emitted)."""
    return [(name, sql_type or "DOUBLE") for name, sql_type in expected_inputs(model, signature)]


def preferred_engine(model: Any) -> str:
    """"sql" where the compiled form scores faster than the Python UDF (measured crossover), else "udf"."""
    from duckml.compiler import node_count

    return "sql" if node_count(model) <= SQL_NODE_LIMIT else "udf"


def table_macro(name: str, model: Any, signature: dict | None) -> MacroDefinition:
    """Compile ``model`` into ``CREATE OR REPLACE MACRO name(src) AS TABLE SELECT *, <expr> AS prediction
    FROM read_parquet(src)``; raises ModelNotCompilableError naming the step that cannot be compiled."""
    from duckml.compiler import compile_sklearn, node_count

    name = check_macro_name(name)
    compiled = compile_sklearn(model, inputs_from_signature(model, signature))
    statement = (f"CREATE OR REPLACE MACRO {quote_ident(name)}(src) AS TABLE "
                 f"SELECT *, {compiled.prediction} AS prediction FROM read_parquet(src)")
    return MacroDefinition(name, statement, compiled.prediction, compiled.prediction_type,
                           hashlib.sha256(statement.encode()).hexdigest(), preferred_engine(model), node_count(model))
