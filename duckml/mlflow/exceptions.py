"""MLflow's exception names, each also a duckml error, so a script's ``except MlflowException`` catches what
duckml raises through ``duckml.mlflow``, and code catching duckml's errors still catches them.

>>> import duckml
>>> from duckml.mlflow.exceptions import MlflowException
>>> issubclass(MlflowException, duckml.DuckmlError)
True
"""

from __future__ import annotations

import functools
import threading

from duckml.errors import DuckmlError, InvalidInputError, NotFoundError, RunStateError, StoreError

# MLflow's error codes (its databricks_pb2 names), for the errors duckml can raise.
INTERNAL_ERROR = "INTERNAL_ERROR"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
INVALID_STATE = "INVALID_STATE"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
BAD_REQUEST = "BAD_REQUEST"

_HTTP_STATUS = {INTERNAL_ERROR: 500, INVALID_PARAMETER_VALUE: 400, RESOURCE_DOES_NOT_EXIST: 404,
                INVALID_STATE: 400, RESOURCE_ALREADY_EXISTS: 400, BAD_REQUEST: 400}


class MlflowException(DuckmlError):
    """MLflow's base exception: ``.message`` and ``.error_code`` (a string such as
    ``"RESOURCE_DOES_NOT_EXIST"``).

    >>> MlflowException("no such run", error_code=RESOURCE_DOES_NOT_EXIST).get_http_status_code()
    404
    """

    def __init__(self, message, error_code: str = INTERNAL_ERROR, **kwargs):
        self.message = str(message)
        self.error_code = error_code if isinstance(error_code, str) else INTERNAL_ERROR
        self.json_kwargs = kwargs
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def get_error_code(self) -> str:
        return self.error_code

    def get_http_status_code(self) -> int:
        return _HTTP_STATUS.get(self.error_code, 500)

    def serialize_as_json(self) -> str:
        import json

        return json.dumps({"error_code": self.error_code, "message": self.message, **self.json_kwargs})

    @classmethod
    def invalid_parameter_value(cls, message, **kwargs) -> "MlflowException":
        return cls(message, error_code=INVALID_PARAMETER_VALUE, **kwargs)


class RestException(MlflowException):
    """MLflow raises it for a tracking server's error answer; duckml has no server, but scripts catch it."""

    def __init__(self, json: dict):
        json = dict(json or {})
        super().__init__(json.get("message", "REST error"), error_code=json.get("error_code", INTERNAL_ERROR))
        self.json = json


class ExecutionException(MlflowException):
    """MLflow's error for a failed project run."""


class MissingConfigException(MlflowException):
    """MLflow's error for a missing configuration file."""


class InvalidUrlException(MlflowException):
    """A URL that cannot be used."""


class MlflowTraceDataException(MlflowException):
    """MLflow's tracing data error (tracing is not part of duckml)."""


# The duckml error each MLflow error code stands for, most specific first.
_CODES = ((NotFoundError, RESOURCE_DOES_NOT_EXIST), (InvalidInputError, INVALID_PARAMETER_VALUE),
          (RunStateError, INVALID_STATE), (StoreError, INTERNAL_ERROR))
_combined: dict[type, type] = {}
_combined_lock = threading.Lock()


def _class_for(error_type: type) -> type:
    """A class that is both MlflowException and ``error_type``, made once per duckml error class."""
    with _combined_lock:
        found = _combined.get(error_type)
        if found is None:
            found = _combined[error_type] = type(error_type.__name__, (MlflowException, error_type),
                                                 {"__module__": __name__, "__init__": MlflowException.__init__,
                                                  "__str__": MlflowException.__str__})
        return found


def as_mlflow_error(error: DuckmlError) -> MlflowException:
    """The same error as an ``MlflowException`` that is still an instance of the duckml error's class,
    with MLflow's error code.

    >>> e = as_mlflow_error(NotFoundError("no run with id 'x'"))
    >>> isinstance(e, MlflowException), isinstance(e, NotFoundError), e.error_code
    (True, True, 'RESOURCE_DOES_NOT_EXIST')
    """
    if isinstance(error, MlflowException):
        return error
    code = next((code for kind, code in _CODES if isinstance(error, kind)), INTERNAL_ERROR)
    converted = _class_for(type(error)).__new__(_class_for(type(error)))
    MlflowException.__init__(converted, str(error), error_code=code)
    converted.__dict__.update({k: v for k, v in getattr(error, "__dict__", {}).items()
                               if k not in ("message", "error_code")})
    return converted


def mlflow_errors(function):
    """Decorate a compatibility function so the duckml errors it raises come out as MLflow's."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except MlflowException:
            raise
        except DuckmlError as error:
            raise as_mlflow_error(error) from error

    return wrapper


__all__ = ["ExecutionException", "InvalidUrlException", "MissingConfigException", "MlflowException",
           "MlflowTraceDataException", "RestException", "as_mlflow_error", "mlflow_errors"]
