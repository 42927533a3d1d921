"""``import-mlflow --update``: runs that only grew in the source since the last import get what is new.

A run *only grew* when everything the store holds for it is still in the source, unchanged: the same row
(experiment, name, start time, lifecycle stage, parent), every stored param and tag with the same value,
every stored metric point (key, step, timestamp and value bits, counted with multiplicity). Its status and
end time may move on, the end only later (a run imported while running, or resumed since). Such a run gets the
source's new params, tags, points and artifact paths, and its status and end time; any other difference is
a conflict as without ``--update``, and nothing of that run is written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from duckml.interop.records import RunRecord, _value_bits, to_datetime


@dataclass
class Growth:
    """What a run that only grew gets: new params, tags and points, and its row's new status and end."""

    run: RunRecord
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    points: list[tuple[str, int, int, int]] = field(default_factory=list)  # (key, step, timestamp µs, value bits)
    new_paths: set[str] = field(default_factory=set)


def _point_rows(keys, values, steps, stamps) -> Counter:
    bits = _value_bits(values) if len(keys) else np.array([], dtype=np.uint64)
    return Counter(zip(np.asarray(keys, dtype=object).tolist(), np.asarray(steps, dtype=np.int64).tolist(),
                       np.asarray(stamps, dtype=np.int64).tolist(), bits.tolist()))


def _grew(stored: dict, incoming: dict) -> dict | None:
    """The incoming entries not stored, or None when a stored entry is missing or changed."""
    if any(incoming.get(key, object()) != value for key, value in stored.items()):
        return None
    return {key: value for key, value in incoming.items() if key not in stored}


def growth(con, run: RunRecord, experiment_id: str) -> Growth | None:
    """How ``run`` (from the source) extends the stored run of its id, or None if the stored one changed."""
    row = con.execute("SELECT experiment_id, run_name, status, epoch_us(start_time), epoch_us(end_time), "
                      "lifecycle_stage, parent_run_id FROM runs WHERE run_id = ?", [run.run_id]).fetchone()
    if row is None:
        return None
    exp, name, status, start, end, stage, parent = row
    if (exp, name, start, stage, parent) != (experiment_id, run.run_name, run.start_time, run.lifecycle_stage,
                                             run.parent_run_id):
        return None
    if (status, end) != (run.status, run.end_time) and (
            end is not None and (run.end_time is None or run.end_time < end)):
        return None  # a run goes on (resumed, or still running): its end may only move later
    found = Growth(run)
    for table, incoming, target in (("params", run.params, "params"), ("tags", run.tags, "tags")):
        stored = dict(con.execute(f"SELECT key, value FROM {table} WHERE run_id = ?", [run.run_id]).fetchall())
        new = _grew(stored, incoming)
        if new is None:
            return None
        setattr(found, target, new)
    points = con.execute("SELECT key, value, step, epoch_us(timestamp) AS ts FROM metrics WHERE run_id = ?",
                         [run.run_id]).fetchnumpy()
    values = points["value"]
    if np.ma.isMaskedArray(values):
        values = np.where(np.ma.getmaskarray(values), np.nan, np.ma.getdata(values))
    stored_points = _point_rows(points["key"], values, points["step"], points["ts"])
    incoming_points = _point_rows(*run.metrics.arrays())
    if stored_points - incoming_points:  # a stored point the source no longer has
        return None
    found.points = list((incoming_points - stored_points).elements())
    stored_paths = {r[0] for r in con.execute("SELECT path FROM artifacts WHERE run_id = ?", [run.run_id]).fetchall()}
    found.new_paths = {a.path for a in run.artifacts} - stored_paths
    return found


def write_growth(con, grown: list[Growth], artifact_rows: list[dict]) -> int:
    """Append what each run grew (params, tags, points, artifact rows), set its status and end, and refresh its
    latest metric points; returns the number of points added."""
    from duckml.store.ingest import latest_points_sql

    added = 0
    for item in grown:
        run = item.run
        for table, pairs in (("params", item.params), ("tags", item.tags)):
            if pairs:
                con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?)", [[run.run_id, k, v] for k, v in pairs.items()])
        if item.points:
            keys, steps, stamps, bits = zip(*item.points)
            values = np.asarray(bits, dtype=np.uint64).view(np.float64)
            con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)",
                            [[run.run_id, k, float(v), s, to_datetime(t)]
                             for k, v, s, t in zip(keys, values.tolist(), steps, stamps)])
            added += len(item.points)
        con.execute("UPDATE runs SET status = ?, end_time = ? WHERE run_id = ?",
                    [run.status, to_datetime(run.end_time), run.run_id])
    for row in artifact_rows:
        con.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [row["run_id"], row["path"], row["size"], row["sha256"], row["media_type"],
                     to_datetime(row["created_at"])])
    changed = [g.run.run_id for g in grown if g.points]
    if changed:
        con.execute("DELETE FROM _duckml_latest WHERE run_id IN (SELECT unnest(?))", [changed])
        points = "(SELECT * FROM metrics WHERE run_id IN (SELECT unnest(?)))"
        con.execute(f"INSERT INTO _duckml_latest {latest_points_sql(points)}", [changed])
    return added
