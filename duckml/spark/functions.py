"""``duckml.spark.register``: a stored model as a function of Spark SQL and of the DataFrame API.

A model that compiles (``duckml.compiler``, written in the Spark dialect) becomes a SQL function,
``CREATE TEMPORARY FUNCTION name(p0 DOUBLE, ...) RETURN <expression>``: Spark inlines it, so it runs in
the JVM's generated code and the physical plan has no Python node. Any other model becomes a vectorized
Arrow UDF scoring with duckml's own function (the model travels as in ``predict``: the safe file's bytes).
"""

from __future__ import annotations

import os
import re

import numpy as np
from dataclasses import dataclass

from duckml.compiler import ModelNotCompilableError, compile_sklearn
from duckml.compiler.macro import inputs_from_signature
from duckml.errors import InvalidInputError
from duckml.scoring import udf as scoring
from duckml.spark.scoring import SPARK_TYPES, require_pyspark, resolve, worker_spec

# Trees a model may have and still register as a Spark SQL expression when no engine is asked for: Spark
# adds a forest's trees with aggregate(), which it interprets, and a large forest's generated code passes
# the JVM's 64 KB method limit. Measured at 200,000 rows (docs/predict.md): one tree of depth 4 compiled
# 1.20-1.74x the Python path, 3 trees 0.80-0.84x, 10 trees 0.46-0.59x, 50 trees 0.09x.
SQL_TREE_LIMIT = 1
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# DuckDB type names of compiled predictions and inputs -> Spark's
SPARK_SQL_TYPES = {"DOUBLE": "DOUBLE", "BIGINT": "BIGINT", "VARCHAR": "STRING", "BOOLEAN": "BOOLEAN"}


@dataclass(frozen=True)
class SparkFunction:
    """A registered model: call it with columns (default: the model's inputs by name) to get a Column.

    ``engine`` is ``"sql"`` (a Spark SQL expression) or ``"udf"`` (an Arrow Python UDF)."""

    name: str
    engine: str
    inputs: tuple[str, ...]
    expression: str | None = None

    def __call__(self, *columns):
        from pyspark.sql import functions as F

        chosen = columns or tuple(F.col(f"`{n.replace('`', '``')}`") for n in self.inputs)
        if len(chosen) != len(self.inputs):
            raise InvalidInputError(f"{self.name} takes {len(self.inputs)} columns ({', '.join(self.inputs)}), "
                                    f"got {len(chosen)}")
        return F.call_function(self.name, *chosen)


def sql_function_statement(name: str, compiled, input_types: list[str]) -> str:
    """``CREATE OR REPLACE TEMPORARY FUNCTION`` of a model compiled over inputs named ``p0``, ``p1``…

    >>> from sklearn.linear_model import LinearRegression
    >>> model = LinearRegression().fit([[0.0], [1.0]], [1.0, 3.0])
    >>> print(sql_function_statement("f", compile_sklearn(model, [("p0", "DOUBLE")], "spark"), ["DOUBLE"]))
    ... # doctest: +ELLIPSIS
    CREATE OR REPLACE TEMPORARY FUNCTION f(p0 DOUBLE) RETURNS DOUBLE RETURN CAST(((CAST(`p0` AS DOUBLE) * ...
    """
    params = ", ".join(f"p{i} {SPARK_SQL_TYPES[t]}" for i, t in enumerate(input_types))
    return (f"CREATE OR REPLACE TEMPORARY FUNCTION {name}({params}) "
            f"RETURNS {SPARK_SQL_TYPES[compiled.prediction_type]} RETURN {compiled.prediction}")


def preferred_engine(model) -> str:
    """"sql" for a model Spark scores faster as an expression (no trees, or one tree), else "udf".

    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from sklearn.linear_model import LinearRegression
    >>> X, y = [[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0]
    >>> preferred_engine(LinearRegression().fit(X, y)), preferred_engine(RandomForestRegressor(3).fit(X, y))
    ('sql', 'udf')
    """
    from sklearn.pipeline import Pipeline

    while type(model) is Pipeline:
        model = model.steps[-1][1]
    estimators = getattr(model, "estimators_", None)
    trees = 0 if estimators is None else sum(1 for e in np.ravel(estimators) if hasattr(e, "tree_"))
    return "udf" if trees > SQL_TREE_LIMIT else "sql"


def register(spark, model_uri: str | os.PathLike, name: str, *, engine: str | None = None) -> SparkFunction:
    """Make ``name(col, ...)`` callable in Spark SQL (and return it for the DataFrame API); the columns
    are the model's inputs in fitted order. A model that compiles runs as a Spark SQL expression, exact as
    the DuckDB macro is; others (or ``engine="udf"``) as an Arrow UDF. A forest or a boosted ensemble compiles
    too, but Spark runs it slower than the UDF (:func:`preferred_engine`): it gets the UDF unless
    ``engine="sql"`` asks for the expression.

    >>> import duckml.spark
    >>> churn = duckml.spark.register(spark, "models:/churn@champion", "churn")  # doctest: +SKIP
    >>> spark.sql("SELECT churn(tenure, spend) FROM customers")  # doctest: +SKIP
    >>> customers.withColumn("churn", churn())  # doctest: +SKIP
    """
    require_pyspark()
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(f"function name {name!r} must be a plain SQL identifier (letters, digits, _)")
    if engine not in (None, "sql", "udf"):
        raise InvalidInputError(f"engine must be 'sql', 'udf' or None, got {engine!r}")
    spec, _, data, shipped = resolve(model_uri)
    if engine is None and preferred_engine(spec.model) == "udf":
        return _register_udf(spark, spec, data, shipped, name)
    typed = inputs_from_signature(spec.model, shipped.signature)
    if engine != "udf":
        try:
            compiled = compile_sklearn(spec.model, [(f"p{i}", t) for i, (_, t) in enumerate(typed)], "spark")
        except ModelNotCompilableError:
            if engine == "sql":
                raise
        else:
            statement = sql_function_statement(name, compiled, [t for _, t in typed])
            spark.sql(statement)
            return SparkFunction(name, "sql", tuple(n for n, _ in typed), compiled.prediction)
    return _register_udf(spark, spec, data, shipped, name)


def _register_udf(spark, spec: scoring.ModelSpec, data: bytes, shipped, name: str) -> SparkFunction:
    from pyspark.sql.functions import arrow_udf

    content = spark.sparkContext.broadcast(data)
    names = [n for n, _ in spec.inputs]
    output = spec.output

    def score(*arrays):  # runs on the executors
        import pyarrow as pa

        model = worker_spec(shipped, lambda: content.value)
        columns = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
        return scoring.score(model.key, pa.StructArray.from_arrays(columns, names=names), output)

    udf = arrow_udf(score, SPARK_TYPES[output])
    spark.udf.register(name, udf)
    return SparkFunction(name, "udf", tuple(names))
