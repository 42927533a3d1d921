"""The exceptions duckml raises: callers need to catch only these.

Each branch also inherits a builtin (as scikit-learn's ``NotFittedError`` does), so code written
against ``ValueError``/``LookupError`` keeps working.
"""

from __future__ import annotations


class DuckmlError(Exception):
    """Base of every error duckml raises on purpose."""


class NotFoundError(DuckmlError, LookupError):
    """A run, experiment, model, version, alias or artifact does not exist."""


class InvalidInputError(DuckmlError, ValueError):
    """An argument is malformed: a key, a value, a name, a URI, a path."""


class ParamConflictError(InvalidInputError):
    """A param was logged again with a different value; params are immutable."""


class FilterSyntaxError(InvalidInputError):
    """A filter string or order_by clause does not parse.

    ``position`` is the 0-based character offset of the problem in the text.
    """

    def __init__(self, message: str, text: str = "", position: int | None = None):
        self.text = text
        self.position = position
        if position is not None and text:
            message = f"{message} at position {position}: {text[:position]}>>>{text[position:]}"
        super().__init__(message)


class InvalidNameError(InvalidInputError):
    """A key, experiment or model name is empty, not a string, or has forbidden characters."""


class InvalidModelURIError(InvalidInputError):
    """A model URI has none of the accepted forms."""


class UnsafePathError(InvalidInputError):
    """An artifact path would leave the run's artifact folder."""


class RunStateError(DuckmlError, RuntimeError):
    """An operation does not fit the run's state (no active run, a deleted run, a nested-run mix-up)."""


class StoreError(DuckmlError):
    """The store file cannot be used."""


class StoreNotFoundError(StoreError, NotFoundError):
    """A read found no store at the chosen path (reads never create one)."""


class StoreLockedError(StoreError, TimeoutError):
    """Another process held the DuckDB file longer than the lock timeout."""


class JournalWriteError(StoreError, OSError):
    """A tracking call could not be recorded in the journal (e.g. the disk is full); nothing torn is left."""


class SchemaError(StoreError):
    """The file is not a duckml store, was written by a newer duckml, or its migrations were edited."""


class UntrustedModelError(DuckmlError, ValueError):
    """A stored model file contains types that were not trusted; it was not loaded."""


class QueryError(InvalidInputError):
    """SQL given to ``Store.sql`` / ``duckml sql`` failed; the message is DuckDB's."""


class ModelNotCompilableError(InvalidInputError):
    """A fitted model (or one of its steps) has no exact SQL form; the message names the class or step.

    duckml never approximates: such a model keeps scoring through the Python UDF path.
    """
