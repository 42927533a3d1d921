"""``mlflow.data``: describe a training set for ``log_input`` (``from_pandas``, ``from_numpy``).

>>> import pandas as pd
>>> from_pandas(pd.DataFrame({"x": [1, 2]}), name="train").name
'train'
"""

from __future__ import annotations


class Dataset:
    """A dataset for ``log_input``: what it holds (``duckml_source``), its ``name``, ``source`` and ``targets``."""

    def __init__(self, data, name: str | None, source=None, targets=None, digest: str | None = None):
        self.duckml_source = data
        self.name = name or "dataset"
        self.source = source
        self.targets = targets
        self._digest = digest

    @property
    def digest(self) -> str:
        if self._digest is None:
            import duckml.tracking.datasets as datasets

            self._digest = datasets.compute_digest(self.duckml_source)
        return self._digest


class PandasDataset(Dataset):
    @property
    def df(self):
        return self.duckml_source


class NumpyDataset(Dataset):
    @property
    def features(self):
        return self._features


def from_pandas(df, source=None, targets: str | None = None, name: str | None = None, digest: str | None = None,
                predictions: str | None = None) -> PandasDataset:
    return PandasDataset(df, name, source, targets, digest)


def from_numpy(features, source=None, targets=None, name: str | None = None, digest: str | None = None) -> NumpyDataset:
    """A numpy feature matrix (columns ``f0``, ``f1`` …) as a dataset."""
    import numpy as np
    import pyarrow as pa

    array = np.asarray(features)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    table = pa.table({f"f{i}": array[:, i] for i in range(array.shape[1])})
    dataset = NumpyDataset(table, name, source, targets, digest)
    dataset._features = features
    return dataset
