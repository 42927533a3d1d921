"""``mlflow.models.model``: the other import path of ``ModelInfo``."""

from duckml.mlflow.models import ModelInfo

__all__ = ["ModelInfo"]
