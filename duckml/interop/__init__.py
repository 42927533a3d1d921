"""Interop with the tools teams come from: scikit-learn autologging, MLflow stores, store-to-store bundles.

- ``duckml.interop.autolog``: ``duckml.autolog()``, MLflow's sklearn autolog semantics.
- ``duckml.interop.mlflow_import``: ``duckml import-mlflow``, reads an MLflow store without ``mlflow``.
- ``duckml.interop.bundle``: ``duckml export`` / ``duckml import``.
"""
