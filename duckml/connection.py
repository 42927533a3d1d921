"""``duckml.connect()``: a store plus everything that SQL on it may call, ``predict`` included.

The store layer runs SQL on its file; the scoring layer provides ``predict``. This connection sits above
both, so neither needs the other: it registers the scoring functions on the store's DuckDB connection
before a query that names them, and turns an error raised inside a scoring UDF back into the duckml error
it was.
"""

from __future__ import annotations

import os

from duckml.errors import QueryError
from duckml.store import Store, get_store


class Connection:
    """A handle on a store for SQL: ``.sql(query, params)`` returns a DuckDB relation (``.pl()`` for Polars).

    >>> import duckml, tempfile, os
    >>> con = duckml.connect(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> con.sql("SELECT count(*) FROM runs_overview").fetchone()
    (0,)
    """

    __slots__ = ("store",)  # a typo such as con.pth = … fails loudly instead of doing nothing

    def __init__(self, store: Store):
        self.store = store

    def __repr__(self) -> str:
        return f"Connection({str(self.store.path)!r})"

    @property
    def path(self):
        """The store's DuckDB file."""
        return self.store.path

    @property
    def artifact_root(self):
        """The artifact folder beside the file."""
        return self.store.artifact_root

    @property
    def journal_dir(self):
        """Where this store's processes journal what they log."""
        return self.store.journal_dir

    def read(self):
        """A read snapshot of the store (see ``Store.read``)."""
        return self.store.read()

    def write(self, timeout: float | None = None):
        """A read-write transaction on the store (see ``Store.write``)."""
        return self.store.write(timeout=timeout)

    def flush(self) -> None:
        """Return once everything this process logged is in the file."""
        self.store.flush()

    def release(self) -> None:
        """Let go of a lingering read-only attachment now (see ``Store.release``)."""
        self.store.release()

    def close(self) -> None:
        """Ingest this process's journal and close the store's connections (it stays usable)."""
        self.store.close()

    def sql(self, query: str, params=None):
        """Run SQL on the store with every table, view and macro by plain name, ``predict`` included.

        >>> import duckml, tempfile, os
        >>> con = duckml.connect(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> con.sql("SELECT ? + 1 AS two", [1]).pl()["two"].to_list()
        [2]
        """
        try:
            return self.store.sql(query, params, prepare=self._prepare)
        except QueryError as error:
            raised_in_udf = _scoring_error(error.__cause__)
            if raised_in_udf is not None:
                raise raised_in_udf from error.__cause__
            raise

    def _prepare(self, con, query: str) -> None:
        if "predict" not in query.lower():
            return
        registered = self.store.cache("connection.predict_registered", dict)
        if id(con) in registered:
            return
        from duckml.scoring import register_predict  # imports scikit-learn: only when a query needs it

        register_predict(con)
        registered[id(con)] = con  # holding the connection keeps its id from being reused


def _scoring_error(error: BaseException | None):
    if error is None:
        return None
    from duckml.scoring import unwrap_udf_error

    return unwrap_udf_error(error)


def connect(path: str | os.PathLike | None = None) -> Connection:
    """A connection to a store (``path``, else the selected store): SQL with every view and macro.

    >>> import duckml, tempfile, os
    >>> duckml.connect(os.path.join(tempfile.mkdtemp(), "s.duckdb")).sql("SELECT 1").fetchone()
    (1,)
    """
    return Connection(get_store(path))
