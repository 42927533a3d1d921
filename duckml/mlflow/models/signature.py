"""``mlflow.models.signature``: the other import path of ``infer_signature`` and ``ModelSignature``."""

from duckml.mlflow.models import ModelSignature, infer_signature

__all__ = ["ModelSignature", "infer_signature"]
