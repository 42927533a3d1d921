"""Hard delete: remove soft-deleted runs and experiments for good, and the artifact files nobody uses.

MLflow users complain that deleting runs frees nothing; ``gc`` is the step that does. It runs in two phases:

1. Rows, in one write transaction (pending journal data is ingested first): runs whose lifecycle stage is
   ``deleted``, or whose experiment is, lose their params, metrics, tags, artifacts rows, run inputs and the
   run row; deleted experiments left without runs lose their tags and row; datasets no run uses any more go.
   A run that a registered model version points to is kept (``GcReport.runs_kept``), and so is its experiment.
2. Files: every object in ``objects/`` that no ``artifacts`` row references is removed. A logger may be
   reusing that very object at the same moment (it journals its row first, then moves its bytes in, or
   skips the move when the object exists), so removal is two-step: rename the object to a tombstone, read
   the references again, then restore the tombstones that gained a reference and unlink the rest. Temp files
   older than a day (a crashed logger) and tombstones of an interrupted gc are cleaned up too.
   On a lake, another machine's artifact rows sit in its own journal until its ingest reaches the catalog,
   invisible here; so an object stored or reused (loggers refresh its mtime) within ``min_age_seconds``
   (default: an hour on a lake, none on a file store, whose journal every process reads) is kept.
"""

from __future__ import annotations

import os
import re
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from duckml.store.objects import OBJECTS, TMP_PREFIX

RUN_TABLES = ("params", "metrics", "_duckml_latest", "_duckml_metric_summary", "tags", "artifacts", "run_input_tags",
              "run_inputs", "logged_model_metrics", "logged_models", "runs")
STALE_TEMP_SECONDS = 24 * 3600
LAKE_MIN_AGE_SECONDS = 3600
_OBJECT_NAME = re.compile(r"^[0-9a-f]{64}$")
_TOMBSTONE_NAME = re.compile(r"^([0-9a-f]{64})\.gc-[0-9a-f]+$")


@dataclass(frozen=True, slots=True)
class GcReport:
    """What ``gc`` removed (or, with ``dry_run``, would remove)."""

    runs_removed: int
    experiments_removed: int
    rows_removed: int
    files_removed: int
    bytes_freed: int
    runs_kept: tuple[str, ...] = ()
    dry_run: bool = False

    def __str__(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        text = (f"gc {verb} {self.runs_removed} run(s), {self.experiments_removed} experiment(s), "
                f"{self.rows_removed} row(s) and {self.files_removed} file(s), "
                f"{'freeing' if not self.dry_run else 'to free'} {self.bytes_freed} bytes")
        if self.runs_kept:
            text += (f"; kept {len(self.runs_kept)} deleted run(s) used by registered model versions: "
                     f"{', '.join(self.runs_kept)}")
        return text


def _plan(con) -> tuple[list[str], list[str], list[str]]:
    """(runs to remove, runs kept for the registry, experiments to remove)."""
    candidates = [r[0] for r in con.execute(
        """SELECT r.run_id FROM runs r LEFT JOIN experiments e USING (experiment_id)
           WHERE r.lifecycle_stage = 'deleted' OR e.lifecycle_stage = 'deleted'
           ORDER BY r.run_id""").fetchall()]
    kept = [r[0] for r in con.execute(
        "SELECT DISTINCT run_id FROM model_versions WHERE list_contains(?, run_id) ORDER BY run_id",
        [candidates]).fetchall()]
    remove = sorted(set(candidates) - set(kept))
    experiments = [r[0] for r in con.execute(
        """SELECT e.experiment_id FROM experiments e
           WHERE e.lifecycle_stage = 'deleted'
             AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.experiment_id = e.experiment_id
                             AND NOT list_contains(?, r.run_id))
           ORDER BY e.experiment_id""", [remove]).fetchall()]
    return remove, kept, experiments


def _count_or_delete(con, delete: bool, table: str, where: str, params: list) -> int:
    verb = "DELETE FROM" if delete else "SELECT count(*) FROM"
    return con.execute(f"{verb} {table} WHERE {where}", params).fetchall()[0][0]


def _remove_rows(con, remove: list[str], experiments: list[str], delete: bool) -> int:
    rows = 0
    for table in RUN_TABLES:
        rows += _count_or_delete(con, delete, table, "list_contains(?, run_id)", [remove])
    for table in ("experiment_tags", "experiments"):
        rows += _count_or_delete(con, delete, table, "list_contains(?, experiment_id)", [experiments])
    # after the run_inputs delete, "used by no run input" is what is left; in a dry run, by a kept run
    for table in ("dataset_profiles d", "datasets d"):  # a profile kept by import-mlflow goes with its dataset
        rows += _count_or_delete(con, delete, table,
                                 """NOT EXISTS (SELECT 1 FROM run_inputs ri WHERE ri.dataset_id = d.dataset_id
                                                AND NOT list_contains(?, ri.run_id))""", [remove])
    return rows


def _referenced(store, ignoring_runs: list[str] = ()) -> set[str]:
    with store.read() as con:
        return {r[0] for r in con.execute(
            "SELECT DISTINCT sha256 FROM artifacts WHERE NOT list_contains(?, run_id)", [list(ignoring_runs)]).fetchall()}


def _scan(objects: Path) -> tuple[dict[str, Path], dict[Path, str], list[Path]]:
    """(objects by sha, tombstones -> sha, stale temp files) found on disk."""
    found: dict[str, Path] = {}
    tombstones: dict[Path, str] = {}
    stale: list[Path] = []
    if not objects.is_dir():
        return found, tombstones, stale
    cutoff = time.time() - STALE_TEMP_SECONDS
    for entry in os.scandir(objects):
        if entry.is_file(follow_symlinks=False) and entry.name.startswith(TMP_PREFIX):
            if entry.stat().st_mtime < cutoff:
                stale.append(Path(entry.path))
        elif entry.is_dir(follow_symlinks=False) and len(entry.name) == 2:
            for item in os.scandir(entry.path):
                if _OBJECT_NAME.match(item.name) and item.name.startswith(entry.name):
                    found[item.name] = Path(item.path)
                elif match := _TOMBSTONE_NAME.match(item.name):
                    tombstones[Path(item.path)] = match.group(1)
    return found, tombstones, stale


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _old_enough(path: Path, newest: float) -> bool:
    try:
        return path.stat().st_mtime <= newest
    except FileNotFoundError:
        return False


def _remove_files(store, dry_run: bool, ignoring_runs: list[str], min_age_seconds: float) -> tuple[int, int]:
    objects = Path(store.artifact_root) / OBJECTS
    found, tombstones, stale = _scan(objects)
    referenced = _referenced(store, ignoring_runs)
    newest = time.time() - min_age_seconds
    unused = [path for sha, path in found.items()
              if sha not in referenced and (min_age_seconds <= 0 or _old_enough(path, newest))]
    if dry_run:
        doomed = unused + stale + [t for t, sha in tombstones.items() if sha in found or sha not in referenced]
        return len(doomed), sum(_size(p) for p in doomed)
    token = uuid.uuid4().hex[:12]
    for path in unused:
        tomb = path.with_name(f"{path.name}.gc-{token}")
        try:
            os.replace(path, tomb)
        except FileNotFoundError:  # another gc got there first
            continue
        tombstones[tomb] = path.name
    referenced = _referenced(store)  # read again: a logger may have reused an object meanwhile
    files = freed = 0
    for tomb, sha in tombstones.items():
        original = tomb.with_name(sha)
        if sha in referenced and not original.exists():
            os.replace(tomb, original)
            continue
        files, freed = _unlink_counted(tomb, files, freed)
    for path in stale:
        files, freed = _unlink_counted(path, files, freed)
    return files, freed


def _unlink_counted(path: Path, files: int, freed: int) -> tuple[int, int]:
    """Remove a file and add it to the tally; one already gone (another gc) is not counted."""
    size = _size(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return files, freed
    return files + 1, freed + size


def gc(dry_run: bool = False, min_age_seconds: float | None = None) -> GcReport:
    """Hard-delete soft-deleted runs and experiments and free the artifact files no run references.

    With ``dry_run=True`` nothing changes; the report says what would be removed. Unreferenced objects
    stored or reused within ``min_age_seconds`` are kept (default: an hour on a lake, 0 on a file store).

    >>> import duckml, tempfile, os
    >>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run() as run:
    ...     duckml.log_text("temporary", "notes.txt")
    >>> duckml.delete_run(run.info.run_id)
    >>> print(gc())
    gc removed 1 run(s), 0 experiment(s), 5 row(s) and 1 file(s), freeing 9 bytes
    """
    from duckml.store import get_store

    store = get_store()
    if min_age_seconds is None:
        min_age_seconds = LAKE_MIN_AGE_SECONDS if store.artifact_rows_can_hide else 0
    if dry_run:
        with store.read() as con:
            remove, kept, experiments = _plan(con)
            rows = _remove_rows(con, remove, experiments, delete=False)
    else:
        with store.write() as con:
            remove, kept, experiments = _plan(con)
            rows = _remove_rows(con, remove, experiments, delete=True)
    files, freed = _remove_files(store, dry_run, remove if dry_run else [], min_age_seconds)
    if remove and not dry_run:
        from duckml.tracking import runs as tracking

        tracking.forget_cached_runs()  # the removed runs must not linger in this process's cache
    return GcReport(len(remove), len(experiments), rows, files, freed, tuple(kept), dry_run)
