"""``mlflow.pyfunc.load_model``: a model behind a URI as an object with ``.predict(DataFrame)``.

>>> import duckml.mlflow as mlflow, pandas as pd
>>> from sklearn.linear_model import LinearRegression
>>> frame = pd.DataFrame({"x": [0.0, 1.0]})
>>> with mlflow.start_run():
...     info = mlflow.sklearn.log_model(LinearRegression().fit(frame, [0.0, 1.0]), name="model")
>>> mlflow.pyfunc.load_model(info.model_uri).predict(pd.DataFrame({"x": [3.0]})).round(6).tolist()
[3.0]
"""

from __future__ import annotations

import duckml
from duckml.mlflow.exceptions import MlflowException, mlflow_errors


class ModelMetadata:
    """What MLflow's ``PyFuncModel.metadata`` tells scripts: where the model came from, its signature."""

    def __init__(self, resolved, flavors: dict):
        self.run_id = resolved.run_id
        self.artifact_path = resolved.artifact_path
        self.signature = resolved.signature
        self.flavors = flavors
        self.model_uuid = None

    def get_input_schema(self):
        return self.signature.get("inputs") if isinstance(self.signature, dict) else None

    def get_model_info(self):
        return self


class PyFuncModel:
    """A loaded model: ``predict(data, params=None)`` as MLflow's generic python_function flavour."""

    def __init__(self, model, metadata: ModelMetadata):
        self._model = model
        self.metadata = metadata

    @mlflow_errors
    def predict(self, data, params=None):
        if params:
            raise MlflowException("predict(params=...) is not supported for scikit-learn models",
                                  error_code="INVALID_PARAMETER_VALUE")
        return self._model.predict(data)

    def get_raw_model(self):
        return self._model

    def unwrap_python_model(self):
        raise MlflowException("this model is a scikit-learn model, not a python_function model; use "
                              "get_raw_model()", error_code="INVALID_PARAMETER_VALUE")

    def __repr__(self) -> str:
        return (f"mlflow.pyfunc.loaded_model:\n  artifact_path: {self.metadata.artifact_path}\n"
                f"  flavor: duckml.mlflow.sklearn\n  run_id: {self.metadata.run_id}")


@mlflow_errors
def load_model(model_uri: str, suppress_warnings: bool = False, dst_path=None, model_config=None) -> PyFuncModel:
    """The model at ``model_uri`` (``runs:/``, ``models:/name/version``, ``models:/name@alias``) for scoring."""
    from duckml.mlflow.sklearn import FLAVORS

    resolved = duckml.resolve_model_uri(model_uri)
    return PyFuncModel(duckml.load_model(model_uri), ModelMetadata(resolved, FLAVORS))


def spark_udf(spark, model_uri, result_type=None, env_manager=None, params=None, extra_env=None,
              prebuilt_env_uri=None, model_config=None):
    raise MlflowException("mlflow.pyfunc.spark_udf is not part of duckml.mlflow; duckml.spark.predict scores a "
                          "Spark DataFrame", error_code="INVALID_PARAMETER_VALUE")
