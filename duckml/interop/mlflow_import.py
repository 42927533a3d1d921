"""``duckml import-mlflow``: bring an MLflow tracking store's history into a duckml store.

Reading is ``mlflow_sources`` (no ``mlflow`` needed), writing is ``merge`` (ids and version numbers kept;
re-running adds nothing; a run that exists with other content is reported and left as it is). Then the
imported MLflow scikit-learn models are made loadable where that is safe:

- a model MLflow saved in skops format gets a ``duckml_model.json`` beside its ``model.skops``, after the
  same type and tree checks every duckml load applies: it loads directly;
- a pickled one (``pickle``/``cloudpickle``) stays files only: unpickling runs whatever code the pickle
  names. With ``trust_pickled_models=True`` each is unpickled once, in a subprocess, and re-saved in
  duckml's skops format beside the original files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from duckml.interop.checks import check_source
from duckml.interop.merge import MergeReport, _copy_artifacts, merge
from duckml.interop.mlflow_sources import read_tracking_uri
from duckml.interop.records import ArtifactRecord, ImportSource, RunRecord
from duckml.store import get_store

MLMODEL = "MLmodel"
_PICKLE_FORMATS = ("pickle", "cloudpickle")
_CONVERT = """
import pickle, sys
from duckml.models.format import save_model
with open(sys.argv[1], "rb") as handle:
    model = pickle.load(handle)
save_model(model, sys.argv[2])
"""


@dataclass
class MlflowImportReport(MergeReport):
    models_loadable: list[str] = field(default_factory=list)  # "runs:/<id>/<path>" made loadable now
    models_untrusted: list[str] = field(default_factory=list)  # pickled models left as files

    def summary(self) -> list[str]:
        """The lines ``duckml import-mlflow`` prints at the end."""
        lines = [f"experiments created: {len(self.experiments_created)}",
                 f"runs imported: {len(self.runs_imported)} ({self.metric_points} metric points, "
                 f"{self.artifacts_copied} artifact files); already present: {len(self.runs_skipped)}",
                 *self.skipped_points_lines(),
                 *([f"runs updated (they grew in the source): {len(self.runs_updated)}"] if self.runs_updated else []),
                 f"datasets added: {self.datasets_added}",
                 f"model versions imported: {len(self.versions_imported)}; already present: {self.versions_skipped}; "
                 f"aliases set: {len(self.aliases_set)}",
                 f"models made loadable: {len(self.models_loadable)}"]
        if self.models_untrusted:
            lines.append(f"pickled models NOT loadable: {len(self.models_untrusted)} (re-run with "
                         "--trust-pickled-models only if you trust who saved them)")
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"CONFLICT, not overwritten: {what}" for what in self.conflicts]
        return lines


def import_mlflow(tracking_uri: str, *, trust_pickled_models: bool = False, store=None,
                  progress=None, artifact_roots_ok=(), update: bool = False) -> MlflowImportReport:
    """Import an MLflow store (``sqlite:///mlflow.db`` or an ``mlruns/`` folder) into the current store.

    ``progress`` receives one line per step (the CLI prints them on stderr). Artifact folders outside the
    tracking folder are skipped (noted in the report) unless they lie in one of ``artifact_roots_ok``.
    Every record is checked as the API checks it before anything is written (``checks.py``).
    ``update=True`` re-syncs a source that kept logging: runs that only grew get their new points, params,
    tags and artifacts; a run whose stored data changed is still a conflict (``resync.py``).

    >>> report = import_mlflow("sqlite:///mlflow.db")  # doctest: +SKIP
    >>> len(report.runs_imported), report.conflicts  # doctest: +SKIP
    (42, [])
    """
    store = store or get_store()
    source = read_tracking_uri(str(tracking_uri), progress, artifact_roots_ok)
    check_source(source, f"MLflow store {tracking_uri}", closed=False)
    store.create()  # importing is writing: it creates the store if there is none
    merged = merge(store, source, versions="keep", on_conflict="report", progress=progress, update=update)
    report = MlflowImportReport(**vars(merged))
    adopt_models(store, source, report, trust_pickled_models, progress)
    return report


# -- models ------------------------------------------------------------------------------------------------------
def _model_folders(run: RunRecord) -> dict[str, dict[str, ArtifactRecord]]:
    """MLflow model folders of a run: folder path -> {file name: artifact}."""
    folders: dict[str, dict[str, ArtifactRecord]] = {}
    for item in run.artifacts:
        folder, _, name = item.path.rpartition("/")
        folders.setdefault(folder, {})[name] = item
    return {folder: files for folder, files in folders.items() if MLMODEL in files and folder}


def _sklearn_flavor(mlmodel: Path) -> dict | None:
    from duckml.errors import InvalidInputError
    from duckml.interop.source_files import SourceTree

    try:
        data = SourceTree(mlmodel.parent).yaml(mlmodel)  # no aliases, bounded, not through a symlink
    except InvalidInputError:
        return None
    flavors = data.get("flavors")
    flavor = flavors.get("sklearn") if isinstance(flavors, dict) else None
    return flavor if isinstance(flavor, dict) else None


def adopt_models(store, source: ImportSource, report: MlflowImportReport, trusted: bool, progress=None) -> None:
    """Make the imported MLflow sklearn models loadable by duckml (see the module docstring)."""
    runs = {r.run_id: r for r in source.runs if r.run_id not in set(report.conflicts)}
    with store.read() as con:
        known = {(r[0], r[1]) for r in con.execute(
            "SELECT run_id, path FROM artifacts WHERE run_id IN (SELECT unnest(?)) AND path LIKE '%duckml_model.json'",
            [list(runs)]).fetchall()}
    added: list[dict] = []
    for run in runs.values():
        for folder, files in _model_folders(run).items():
            uri = f"runs:/{run.run_id}/{folder}"
            if (run.run_id, f"{folder}/duckml_model.json") in known:
                continue
            flavor = _sklearn_flavor(files[MLMODEL].local)
            model_file = (flavor or {}).get("pickled_model")
            if flavor is None or model_file not in files:
                report.notes.append(f"{uri} is not a scikit-learn model; its files were imported as they are")
                continue
            fmt = flavor.get("serialization_format") or "cloudpickle"
            with tempfile.TemporaryDirectory(prefix="duckml-adopt-") as tmp:
                made = None
                if fmt == "skops":
                    made = _describe_skops(files[model_file], Path(tmp), uri, report)
                elif fmt in _PICKLE_FORMATS and not trusted:
                    report.models_untrusted.append(uri)
                elif fmt in _PICKLE_FORMATS:
                    if progress:
                        progress(f"unpickling {uri} in a subprocess (trusted)")
                    made = _convert_pickle(files[model_file].local, Path(tmp) / "model", uri, report)
                else:
                    report.notes.append(f"{uri}: serialization format {fmt!r} is not supported")
                if made is not None:
                    extra = RunRecord(run.run_id, run.experiment_name, None, "", run.start_time, None,
                                      artifacts=[ArtifactRecord(f"{folder}/{p.name}", p) for p in sorted(made)])
                    added.extend(_copy_artifacts(store, extra, report))
                    report.models_loadable.append(uri)
    if added:
        _insert_artifact_rows(store, added)


def _describe_skops(item: ArtifactRecord, tmp: Path, uri: str, report) -> list[Path] | None:
    """Metadata for MLflow's own ``model.skops``, written only if duckml's safe loader accepts the file."""
    from datetime import datetime, timezone

    from duckml.errors import DuckmlError
    from duckml.store.objects import file_sha256
    from duckml.models.format import METADATA_FILE, ModelMetadata, infer_signature, load_model_file, \
        qualified_name

    sha256 = file_sha256(item.local)
    try:
        model = load_model_file(item.local, sha256=sha256, source=uri)
    except DuckmlError as error:
        report.notes.append(f"{uri}: skops model not made loadable: {error}")
        return None
    meta = ModelMetadata(model_class=qualified_name(model), sha256=sha256, signature=infer_signature(model),
                         model_file=item.path.rpartition("/")[2],
                         created_at=datetime.now(timezone.utc).replace(tzinfo=None).isoformat())
    target = tmp / METADATA_FILE
    target.write_text(json.dumps(meta.to_dict(), indent=2, allow_nan=False))
    return [target]


def _convert_pickle(pickle_file: Path, out: Path, uri: str, report) -> list[Path] | None:
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-c", _CONVERT, str(pickle_file), str(out)], capture_output=True,
                          text=True, env=env, cwd=out.parent, timeout=600)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-2:])
        report.notes.append(f"{uri}: the trusted pickle could not be re-saved: {tail}")
        return None
    return [p for p in out.iterdir() if p.is_file()]


def _insert_artifact_rows(store, rows: list[dict]) -> None:
    from duckml.interop.merge import to_datetime

    with store.write() as con:
        for row in rows:
            con.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        [row["run_id"], row["path"], row["size"], row["sha256"], row["media_type"],
                         to_datetime(row["created_at"])])
