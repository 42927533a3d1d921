"""What the compiler passes between steps: SQL features, and the checks a query must make.

A :class:`Feature` is one column of the matrix scikit-learn would see at that point of a pipeline, as a
DuckDB expression: a DOUBLE (``kind="num"``) or a VARCHAR (``kind="str"``). NULL stands for NaN/None, and
``nullable`` says whether NULL can occur, so steps skip NULL handling that cannot matter. A float input may
also hold NaN (``nan=True``): arithmetic lets NaN through as numpy does, so linear chains skip the NaN->NULL
step; whatever compares, fills or branches takes :func:`as_null` of it first. ``onehot`` marks a one-hot
output as (compared expression, category literal or None for the missing category), so a linear model
can weigh a whole encoded column with one CASE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from duckml.compiler.emit import Dialect, current
from duckml.errors import ModelNotCompilableError


@dataclass(frozen=True)
class Feature:
    sql: str
    kind: str  # "num" (DOUBLE) or "str" (VARCHAR)
    nullable: bool = True
    nan: bool = False
    onehot: tuple[str, str | None] | None = None


def as_null(feature: Feature) -> Feature:
    """The feature with NaN turned into NULL (DuckDB sorts NaN above every number and NaN = NaN is true,
    so comparisons, CASE and coalesce need NULL to behave as scikit-learn does with NaN)."""
    if not feature.nan:
        return feature
    # isnan, not nullif(x, NaN): with a Parquet column's min/max statistics (which leave NaN out) DuckDB
    # folds comparisons of the raw column, NaN rows included (`x = NaN` to false, `NaN <= 5.0` to true when
    # the column's max is below 5; measured on duckdb 1.5.5). isnan is evaluated, and the CASE hides the stats.
    return Feature(f"(CASE WHEN isnan({feature.sql}) THEN NULL ELSE {feature.sql} END)", feature.kind, True)


def as_null_all(features: list[Feature]) -> list[Feature]:
    return [as_null(f) for f in features]


@dataclass
class Context:
    """Collected while compiling: row checks that must raise (the dialect's error call), each as
    (condition, message expression); the final expression evaluates them before anything else. ``dialect``
    is the SQL dialect the compile writes (emit.writing sets it for every emitter)."""

    checks: list[tuple[str, str]] = field(default_factory=list)
    dialect: Dialect = field(default_factory=current)

    def check(self, condition: str, message_sql: str) -> None:
        self.checks.append((condition, message_sql))


def describe(step, where: str) -> str:
    name = type(step).__name__
    return f"{where} ({name})" if where else name


def refuse(step, where: str, why: str = "") -> ModelNotCompilableError:
    """The error for a step with no exact SQL form; names the step's path and class."""
    reason = f": {why}" if why else ""
    return ModelNotCompilableError(
        f"{describe(step, where)} cannot be compiled to SQL exactly{reason}; score it with the Python "
        "UDF path (duckml.predict), which every model supports")
