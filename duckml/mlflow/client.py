"""``mlflow.client``: MLflow's other import path of ``MlflowClient``."""

from duckml.mlflow.tracking.client import MlflowClient

__all__ = ["MlflowClient"]
