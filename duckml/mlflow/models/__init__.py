"""``mlflow.models``: ``infer_signature``, ``ModelSignature`` and ``ModelInfo``.

A signature is inferred from the data, as MLflow does: a DataFrame gives named columns with MLflow's type
names (``double``, ``long``, ``string`` …), a numpy array a tensor of its dtype. Passed to
``duckml.mlflow.sklearn.log_model``, its column names name the model's inputs.
"""

from __future__ import annotations

import json

_PANDAS_TYPES = {"float64": "double", "float32": "float", "int64": "long", "int32": "integer", "bool": "boolean",
                 "object": "string", "str": "string", "string": "string", "datetime64[ns]": "datetime",
                 "datetime64[us]": "datetime", "bytes": "binary"}
_ARROW_TYPES = {"double": "double", "float": "float", "long": "int64", "integer": "int32", "boolean": "bool",
                "string": "string", "binary": "binary", "datetime": "timestamp[us]"}


class ColSpec:
    def __init__(self, type: str, name: str | None = None, required: bool = True):
        self.type, self.name, self.required = type, name, required

    def to_dict(self) -> dict:
        return {"type": self.type, **({"name": self.name} if self.name is not None else {}), "required": self.required}

    def __repr__(self) -> str:
        return f"{self.name!r}: {self.type!r}" if self.name is not None else repr(self.type)


class TensorSpec:
    def __init__(self, type, shape: tuple, name: str | None = None):
        self.type, self.shape, self.name = type, tuple(shape), name

    def to_dict(self) -> dict:
        return {"type": "tensor", "tensor-spec": {"dtype": str(self.type), "shape": list(self.shape)}}

    def __repr__(self) -> str:
        return f"Tensor({str(self.type)!r}, {self.shape})"


class Schema:
    """A list of ``ColSpec`` (named columns) or one ``TensorSpec``."""

    def __init__(self, inputs: list):
        self.inputs = list(inputs)

    def input_names(self) -> list:
        return [spec.name if spec.name is not None else i for i, spec in enumerate(self.inputs)]

    def has_input_names(self) -> bool:
        return bool(self.inputs) and all(spec.name is not None for spec in self.inputs)

    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def to_dict(self) -> list:
        return [spec.to_dict() for spec in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __repr__(self) -> str:
        return "[" + ", ".join(repr(s) for s in self.inputs) + "]"


class ModelSignature:
    """The inputs and outputs a model takes and gives (``.inputs``, ``.outputs``, ``.params``)."""

    def __init__(self, inputs: Schema | None = None, outputs: Schema | None = None, params=None):
        self.inputs, self.outputs, self.params = inputs, outputs, params

    def to_dict(self) -> dict:
        return {"inputs": self.inputs.to_json() if self.inputs else None,
                "outputs": self.outputs.to_json() if self.outputs else None, "params": None}

    def __repr__(self) -> str:
        return f"inputs: \n  {self.inputs!r}\noutputs: \n  {self.outputs!r}\nparams: \n  {self.params!r}\n"

    def __eq__(self, other) -> bool:
        return isinstance(other, ModelSignature) and self.to_dict() == other.to_dict()


def _schema(data) -> Schema | None:
    if data is None:
        return None
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "dtypes") and hasattr(data, "columns"):
        return Schema([ColSpec(_PANDAS_TYPES.get(str(dtype), "string"), str(name))
                       for name, dtype in data.dtypes.items()])
    if module == "pandas":  # a Series
        return Schema([ColSpec(_PANDAS_TYPES.get(str(data.dtype), "string"), data.name)])
    if module == "polars":
        return _schema(data.to_pandas())
    if isinstance(data, dict):
        return Schema([ColSpec(_PANDAS_TYPES.get(type(v).__name__, "string"), str(k)) for k, v in data.items()])
    import numpy as np

    array = np.asarray(data)
    return Schema([TensorSpec(array.dtype, (-1, *array.shape[1:]))])


def infer_signature(model_input=None, model_output=None, params=None) -> ModelSignature:
    """MLflow's ``infer_signature``: the schema of the input (and output) data.

    >>> import pandas as pd
    >>> infer_signature(pd.DataFrame({"tenure": [1.5], "plan": ["a"]}), [0]).inputs.to_dict()
    [{'type': 'double', 'name': 'tenure', 'required': True}, {'type': 'string', 'name': 'plan', 'required': True}]
    """
    return ModelSignature(_schema(model_input), _schema(model_output), params)


def duckml_signature(signature, model, input_example) -> dict:
    """duckml's signature of a model logged with an MLflow signature: duckml's own inference (task, classes,
    output type), with the signature's column names and types for the inputs."""
    from duckml.models.format import infer_signature as infer_duckml

    inferred = infer_duckml(model, input_example)
    if isinstance(signature, dict):
        return signature
    inputs = getattr(signature, "inputs", None)
    if inputs is not None and inputs.has_input_names() and not inputs.is_tensor_spec():
        inferred["inputs"] = [{"name": spec.name, "type": _ARROW_TYPES.get(spec.type)} for spec in inputs.inputs]
        inferred["positional"] = False
    return inferred


class ModelInfo:
    """What ``log_model`` returns: ``model_uri`` (``runs:/<run_id>/<name>``), ``artifact_path``, ``run_id``,
    ``signature``, ``flavors`` and ``registered_model_version``."""

    def __init__(self, artifact_path, flavors, model_uri, model_uuid, run_id, saved_input_example_info, signature,
                 utc_time_created, mlflow_version, metadata=None, registered_model_version=None):
        self.artifact_path, self.flavors, self.model_uri = artifact_path, flavors, model_uri
        self.model_uuid = model_uuid
        self.run_id, self.saved_input_example_info, self.signature = run_id, saved_input_example_info, signature
        self.utc_time_created, self.mlflow_version, self.metadata = utc_time_created, mlflow_version, metadata
        self.registered_model_version = registered_model_version

    @property
    def model_id(self) -> str:
        return self.model_uuid

    def __repr__(self) -> str:
        return f"<ModelInfo: model_uri={self.model_uri!r}, registered_model_version={self.registered_model_version}>"
