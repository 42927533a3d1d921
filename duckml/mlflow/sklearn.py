"""``mlflow.sklearn``: log and load scikit-learn models in duckml's safe format (skops, never a pickle).

>>> import duckml.mlflow as mlflow
>>> from sklearn.linear_model import LinearRegression
>>> with mlflow.start_run():
...     info = mlflow.sklearn.log_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), name="model")
>>> mlflow.sklearn.load_model(info.model_uri).predict([[2.0]]).round(6).tolist()
[2.0]
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import duckml
from duckml.mlflow.exceptions import mlflow_errors
from duckml.mlflow.models import ModelInfo, duckml_signature

FLAVORS = {"python_function": {"loader_module": "duckml.mlflow.sklearn"}, "sklearn": {"serialization_format": "skops"}}


@mlflow_errors
def log_model(sk_model, artifact_path: str | None = None, conda_env=None, code_paths=None,
              serialization_format=None, registered_model_name: str | None = None, signature=None,
              input_example=None, await_registration_for: int = 300, pip_requirements=None,
              extra_pip_requirements=None, pyfunc_predict_fn: str = "predict", metadata=None, extra_files=None,
              params: dict | None = None, tags: dict | None = None, model_type=None, step: int = 0,
              model_id=None, name: str | None = None, skops_trusted_types: list | None = None,
              **kwargs) -> ModelInfo:
    """Save a fitted estimator as an artifact of the active run (``name``, or MLflow 2's ``artifact_path``);
    ``params`` and ``tags`` go to the run. The environment arguments (conda, pip) have no use in duckml."""
    if params:
        duckml.log_params(params)
    if tags:
        duckml.set_tags(tags)
    chosen = name or artifact_path or "model"
    duckml_sig = None if signature is None else duckml_signature(signature, sk_model, input_example)
    info = duckml.log_model(sk_model, name=chosen, input_example=input_example, signature=duckml_sig,
                            registered_model_name=registered_model_name)
    return ModelInfo(info.artifact_path, FLAVORS, info.model_uri, uuid.uuid4().hex, info.run_id,
                     None if input_example is None else {"artifact_path": "input_example.json"},
                     signature, datetime.now(timezone.utc).isoformat(), duckml.__version__, metadata,
                     info.registered_model_version)


@mlflow_errors
def load_model(model_uri: str, dst_path=None):
    """The fitted estimator behind ``runs:/…``, ``models:/name/version``, ``models:/name@alias``."""
    return duckml.load_model(model_uri)


def autolog(log_input_examples: bool = False, log_model_signatures: bool = True, log_models: bool = True,
            log_datasets: bool = True, disable: bool = False, exclusive: bool = False,
            disable_for_unsupported_versions: bool = False, silent: bool = False, max_tuning_runs: int | None = 5,
            log_post_training_metrics: bool = True, serialization_format=None, registered_model_name=None,
            pos_label=None, extra_tags=None) -> None:
    """duckml's scikit-learn autolog with MLflow's arguments."""
    mlflow_errors(duckml.autolog)(disable=disable, log_models=log_models, log_datasets=log_datasets,
                                  log_input_examples=log_input_examples, max_tuning_runs=max_tuning_runs,
                                  registered_model_name=registered_model_name, silent=silent)
