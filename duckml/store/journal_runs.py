"""A run as the journal alone records it: for logging to a run of another process while the file is held.

A process that logs to a run it did not create (``log_metric(..., run_id=…)``, ``start_run(run_id=…)``)
checks the run first, in the file. While another program holds the file, the journal segments that still
hold the run's creation answer instead: those of its creator while it lives, and of any process whose
records are not ingested yet. A run whose records have all left the journal is not found here, and the
caller waits for the file as before.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from duckml.store import journal
from duckml.store.journal import INSERT, SERIES, UPDATE, UPSERT

RUN_COLUMNS = ("run_id", "experiment_id", "run_name", "status", "start_time", "end_time", "lifecycle_stage",
               "parent_run_id")
_EPOCH = datetime(1970, 1, 1)  # the store keeps naive UTC timestamps


def _moment(value):
    return _EPOCH + timedelta(microseconds=value) if isinstance(value, int) else value


def run_from_journal(journal_dir: Path, run_id: str) -> tuple[tuple, dict[str, str]] | None:
    """``(row in RUN_COLUMNS order, params)`` of the run as the journal's segments record it, or None.

    >>> import tempfile
    >>> run_from_journal(Path(tempfile.mkdtemp()), "abc") is None
    True
    """
    events = []
    for segment in journal.list_segments(journal_dir):
        delta = journal.read_segment(journal_dir, segment, 0, 0, max_points=0)  # events only
        events.extend(event for event in delta.events
                      if event[1] != SERIES and isinstance(event[3], dict) and event[3].get("run_id") == run_id)
    events.sort(key=lambda event: event[0])  # time order across processes, as the ingest folds them
    run, params = None, {}
    for _, op, table, row in events:
        if table == "runs":
            if op == INSERT and run is None:
                run = dict(row)
            elif op in (UPDATE, UPSERT) and run is not None:
                run.update(row)
        elif table == "params" and op == INSERT:
            params.setdefault(row.get("key"), row.get("value"))
    if run is None:
        return None
    return tuple(_moment(run.get(column)) if column.endswith("_time") else run.get(column)
                 for column in RUN_COLUMNS), params
