"""PREDICT on Spark: duckml's models score a Spark DataFrame on the executors, or run as Spark SQL.

``predict(df, model_uri)`` scores with duckml's own Python scoring function through ``mapInArrow``;
``register(spark, model_uri, name)`` makes ``name(col, ...)`` a Spark SQL function (a SQL expression for
a model that compiles, else a vectorized Arrow UDF); ``run_context()`` lets code on the executors log child
runs of the driver's run into the same store. PySpark is imported only here (``pip install 'duckml[spark]'``):
``import duckml`` never loads it.
"""

from duckml.spark.functions import SparkFunction, register
from duckml.spark.scoring import predict
from duckml.spark.tracking import SparkRunContext, run_context

__all__ = ["predict", "register", "SparkFunction", "run_context", "SparkRunContext"]
