"""``mlflow.tracking``: ``MlflowClient`` and the tracking-URI functions.

>>> from duckml.mlflow.tracking import MlflowClient
>>> MlflowClient().search_experiments() is not None
True
"""

from duckml.mlflow.config import get_tracking_uri, is_tracking_uri_set, set_tracking_uri
from duckml.mlflow.tracking.client import MlflowClient

__all__ = ["MlflowClient", "get_tracking_uri", "is_tracking_uri_set", "set_tracking_uri"]
