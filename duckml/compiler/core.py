"""What the compiler passes between steps: SQL features, and the checks a query must make.

A :class:`Feature` is one column of the matrix scikit-learn would see at that point of a pipeline, as a
DuckDB expression: a DOUBLE (``kind="num"``) or a VARCHAR (``kind="str"``). NULL stands for NaN/None
everywhere (inputs turn NaN into NULL first), and ``nullable`` says whether NULL can occur, so steps
skip NULL handling that cannot matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from duckml.errors import ModelNotCompilableError


@dataclass(frozen=True)
class Feature:
    sql: str
    kind: str  # "num" (DOUBLE) or "str" (VARCHAR)
    nullable: bool = True


@dataclass
class Context:
    """Collected while compiling: row checks that must raise (``error()`` calls), each as
    (condition, message expression); the final expression evaluates them before anything else."""

    checks: list[tuple[str, str]] = field(default_factory=list)

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
