"""duckml's benchmark suite: duckml against MLflow 3.17.2, side by side (``python -m benchmarks --help``)."""
