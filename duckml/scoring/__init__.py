"""The scoring layer: stored models score Parquet in Arrow batches.

``udf`` holds the vectorized scoring functions DuckDB calls (and the process's loaded-model specs);
``prediction`` builds the ``predict`` / ``predict_proba`` table macros and ``duckml.predict``, the Python face
that writes predictions with lineage.
"""

from duckml.scoring.prediction import predict, register_predict
from duckml.scoring.udf import unwrap_udf_error

__all__ = ["predict", "register_predict", "unwrap_udf_error"]
