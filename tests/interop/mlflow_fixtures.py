"""Small MLflow stores built by hand (no mlflow needed): a SQLite database of MLflow's schema and an mlruns/ folder.

Both hold the same history: experiment "churn" (tag team=growth) with runs "lr-0" (parent) and "child",
experiment "forecast" with a FAILED run; metric points with NaN, ±inf and two points at one step; artifacts;
a dataset input; a registry "churn-model" with a pickled model (v1, @champion) and a skops one (v2).
"""

from __future__ import annotations

import pickle
import sqlite3
import sys
from pathlib import Path

import numpy as np
import yaml
from sklearn.linear_model import LogisticRegression

RUN_PARENT = "a" * 32
RUN_CHILD = "b" * 32
RUN_FAILED = "c" * 32
DATASET = "d" * 32
X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]] * 3)
Y = np.array([1, 0, 1, 0] * 3)
T0 = 1_700_000_000_000  # ms

# (run, key, value, timestamp ms, step)
POINTS = [
    (RUN_PARENT, "loss", 0.9, T0, 0), (RUN_PARENT, "loss", 0.5, T0 + 1, 1), (RUN_PARENT, "loss", 0.4, T0 + 2, 1),
    (RUN_PARENT, "loss", 0.1, T0 + 3, 2), (RUN_PARENT, "odd", float("nan"), T0, 0),
    (RUN_PARENT, "odd", float("inf"), T0 + 1, 1), (RUN_PARENT, "odd", float("-inf"), T0 + 2, 2),
    (RUN_CHILD, "loss", 0.3, T0 + 10, 0), (RUN_FAILED, "mape", 12.5, T0 + 20, 0),
]
RUNS = [  # run_id, experiment id, name, status, start, end, params, tags
    (RUN_PARENT, "1", "lr-0", "FINISHED", T0, T0 + 100, {"C": "0.1", "model": "lr"},
     {"stage": "dev", "with space": "yes"}),
    (RUN_CHILD, "1", "child", "FINISHED", T0 + 5, T0 + 50, {"fold": "1"}, {"mlflow.parentRunId": RUN_PARENT}),
    (RUN_FAILED, "2", "arima", "FAILED", T0 + 200, T0 + 300, {"order": "(1, 1, 1)"}, {}),
]


def fitted_model(c: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=c).fit(X, Y)


def _write_artifacts(root: Path) -> dict[str, Path]:
    """Artifact folders of the three runs, with two MLflow model folders in the parent's."""
    folders = {}
    for run_id, *_ in RUNS:
        folder = root / run_id / "artifacts"
        (folder / "docs").mkdir(parents=True)
        (folder / "docs" / "notes.txt").write_text(f"notes of {run_id}\n")
        folders[run_id] = folder
    parent = folders[RUN_PARENT]
    pickled = parent / "model"
    pickled.mkdir()
    with open(pickled / "model.pkl", "wb") as handle:
        pickle.dump(fitted_model(0.1), handle)
    (pickled / "MLmodel").write_text(yaml.safe_dump({"flavors": {
        "python_function": {"loader_module": "mlflow.sklearn"},
        "sklearn": {"pickled_model": "model.pkl", "serialization_format": "cloudpickle"}}}))
    skopsed = parent / "skops_model"
    skopsed.mkdir()
    import skops.io as sio

    sio.dump(fitted_model(10.0), skopsed / "model.skops")
    (skopsed / "MLmodel").write_text(yaml.safe_dump({"flavors": {
        "sklearn": {"pickled_model": "model.skops", "serialization_format": "skops"}}}))
    return folders


def build_sqlite_store(folder: Path) -> str:
    """An MLflow-schema SQLite database (the columns duckml reads) plus artifacts; returns its sqlite:/// URI."""
    folder.mkdir(parents=True, exist_ok=True)
    artifacts = _write_artifacts(folder / "mlruns")
    con = sqlite3.connect(folder / "mlflow.db")
    con.executescript("""
        CREATE TABLE alembic_version (version_num VARCHAR(32));
        INSERT INTO alembic_version VALUES ('1b5f0d9ad7c1');
        CREATE TABLE experiments (experiment_id INTEGER, name VARCHAR, artifact_location VARCHAR,
            lifecycle_stage VARCHAR, creation_time BIGINT, last_update_time BIGINT);
        CREATE TABLE experiment_tags (key VARCHAR, value VARCHAR, experiment_id INTEGER);
        CREATE TABLE runs (run_uuid VARCHAR, name VARCHAR, source_type VARCHAR, source_name VARCHAR,
            entry_point_name VARCHAR, user_id VARCHAR, status VARCHAR, start_time BIGINT, end_time BIGINT,
            source_version VARCHAR, lifecycle_stage VARCHAR, artifact_uri VARCHAR, experiment_id INTEGER,
            deleted_time BIGINT);
        CREATE TABLE params (key VARCHAR, value VARCHAR, run_uuid VARCHAR);
        CREATE TABLE tags (key VARCHAR, value VARCHAR, run_uuid VARCHAR);
        CREATE TABLE metrics (key VARCHAR, value FLOAT, timestamp BIGINT, run_uuid VARCHAR, step BIGINT,
            is_nan BOOLEAN);
        CREATE TABLE latest_metrics (key VARCHAR, value FLOAT, timestamp BIGINT, step BIGINT, is_nan BOOLEAN,
            run_uuid VARCHAR);
        CREATE TABLE datasets (dataset_uuid VARCHAR, experiment_id INTEGER, name VARCHAR, digest VARCHAR,
            dataset_source_type VARCHAR, dataset_source VARCHAR, dataset_schema VARCHAR, dataset_profile VARCHAR);
        CREATE TABLE inputs (input_uuid VARCHAR, source_type VARCHAR, source_id VARCHAR,
            destination_type VARCHAR, destination_id VARCHAR);
        CREATE TABLE input_tags (input_uuid VARCHAR, name VARCHAR, value VARCHAR);
        CREATE TABLE registered_models (name VARCHAR, creation_time BIGINT, last_updated_time BIGINT,
            description VARCHAR);
        CREATE TABLE registered_model_tags (key VARCHAR, value VARCHAR, name VARCHAR);
        CREATE TABLE model_versions (name VARCHAR, version INTEGER, creation_time BIGINT,
            last_updated_time BIGINT, description VARCHAR, user_id VARCHAR, current_stage VARCHAR,
            source VARCHAR, run_id VARCHAR, status VARCHAR, status_message VARCHAR, run_link VARCHAR,
            storage_location VARCHAR);
        CREATE TABLE model_version_tags (key VARCHAR, value VARCHAR, name VARCHAR, version INTEGER);
        CREATE TABLE registered_model_aliases (alias VARCHAR, version INTEGER, name VARCHAR);
    """)
    con.executemany("INSERT INTO experiments VALUES (?, ?, ?, 'active', ?, ?)", [
        (0, "Default", str(folder / "mlruns" / "0"), T0, T0), (1, "churn", str(folder / "mlruns" / "1"), T0, T0),
        (2, "forecast", str(folder / "mlruns" / "2"), T0, T0)])
    con.execute("INSERT INTO experiment_tags VALUES ('team', 'growth', 1)")
    for run_id, exp, name, status, start, end, params, tags in RUNS:
        con.execute("INSERT INTO runs VALUES (?, ?, 'LOCAL', '', '', 'me', ?, ?, ?, '', 'active', ?, ?, NULL)",
                    [run_id, name, status, start, end, artifacts[run_id].as_uri(), int(exp)])
        con.executemany("INSERT INTO params VALUES (?, ?, ?)", [(k, v, run_id) for k, v in params.items()])
        con.executemany("INSERT INTO tags VALUES (?, ?, ?)",
                        [(k, v, run_id) for k, v in {**tags, "mlflow.runName": name}.items()])
    for run_id, key, value, stamp, step in POINTS:  # as MLflow's SQLAlchemy store writes them
        is_nan = value != value
        stored = 0.0 if is_nan else (sys.float_info.max if value == float("inf") else
                                     -sys.float_info.max if value == float("-inf") else value)
        con.execute("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)", [key, stored, stamp, run_id, step, is_nan])
    con.execute("INSERT INTO datasets VALUES (?, 1, 'train', '63689b00', 'local', '{\"uri\": \"train.csv\"}', "
                "'{\"mlflow_colspec\": []}', '{\"num_rows\": 12}')", [DATASET])
    con.execute("INSERT INTO inputs VALUES ('i1', 'DATASET', ?, 'RUN', ?)", [DATASET, RUN_PARENT])
    con.execute("INSERT INTO input_tags VALUES ('i1', 'mlflow.data.context', 'training')")
    con.execute("INSERT INTO registered_models VALUES ('churn-model', ?, ?, 'predicts churn')", [T0, T0 + 500])
    con.execute("INSERT INTO registered_model_tags VALUES ('owner', 'growth', 'churn-model')")
    for version, path in ((1, "model"), (2, "skops_model")):
        source = (artifacts[RUN_PARENT] / path).as_uri()
        con.execute("INSERT INTO model_versions VALUES ('churn-model', ?, ?, ?, NULL, NULL, 'None', ?, ?, 'READY', "
                    "NULL, NULL, ?)", [version, T0 + version, T0 + version, source, RUN_PARENT, source])
    con.execute("INSERT INTO model_version_tags VALUES ('validated', 'yes', 'churn-model', 1)")
    con.execute("INSERT INTO registered_model_aliases VALUES ('champion', 1, 'churn-model')")
    con.commit()
    con.close()
    return "sqlite:///" + str(folder / "mlflow.db")


def _key_files(folder: Path, values: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        (folder / key).write_text(value)


def build_file_store(folder: Path) -> Path:
    """The same history as an mlruns/ folder (MLflow's file store layout); returns the folder."""
    root = folder / "mlruns"
    artifacts = _write_artifacts(root / "_artifacts")
    status_numbers = {"FINISHED": 3, "FAILED": 4}
    for exp, name in (("0", "Default"), ("1", "churn"), ("2", "forecast")):
        (root / exp).mkdir(parents=True)
        (root / exp / "meta.yaml").write_text(yaml.safe_dump({
            "experiment_id": exp, "name": name, "lifecycle_stage": "active", "creation_time": T0,
            "last_update_time": T0, "artifact_location": (root / exp).as_uri()}))
    _key_files(root / "1" / "tags", {"team": "growth"})
    for run_id, exp, name, status, start, end, params, tags in RUNS:
        run_dir = root / exp / run_id
        run_dir.mkdir()
        (run_dir / "meta.yaml").write_text(yaml.safe_dump({
            "run_id": run_id, "run_uuid": run_id, "run_name": name, "experiment_id": exp,
            "status": status_numbers[status], "start_time": start, "end_time": end, "lifecycle_stage": "active",
            "artifact_uri": artifacts[run_id].as_uri(), "tags": []}))
        _key_files(run_dir / "params", params)
        _key_files(run_dir / "tags", {**tags, "mlflow.runName": name})
        (run_dir / "metrics").mkdir()
        for point_run, key, value, stamp, step in POINTS:
            if point_run == run_id:
                with open(run_dir / "metrics" / key, "a") as handle:
                    handle.write(f"{stamp} {value} {step}\n")
    inputs = root / "1" / RUN_PARENT / "inputs" / "i1"
    inputs.mkdir(parents=True)
    (inputs / "meta.yaml").write_text(yaml.safe_dump({
        "source_type": "DATASET", "source_id": DATASET, "destination_type": "RUN", "destination_id": RUN_PARENT,
        "tags": {"mlflow.data.context": "training"}}))
    ds = root / "1" / "datasets" / DATASET
    ds.mkdir(parents=True)
    (ds / "meta.yaml").write_text(yaml.safe_dump({
        "name": "train", "digest": "63689b00", "source_type": "local", "source": '{"uri": "train.csv"}',
        "schema": '{"mlflow_colspec": []}', "profile": '{"num_rows": 12}'}))
    model = root / "models" / "churn-model"
    model.mkdir(parents=True)
    (model / "meta.yaml").write_text(yaml.safe_dump({
        "name": "churn-model", "creation_timestamp": T0, "last_updated_timestamp": T0 + 500,
        "description": "predicts churn", "aliases": {"champion": "1"}}))
    _key_files(model / "tags", {"owner": "growth"})
    for version, path in ((1, "model"), (2, "skops_model")):
        (model / f"version-{version}").mkdir()
        (model / f"version-{version}" / "meta.yaml").write_text(yaml.safe_dump({
            "name": "churn-model", "version": version, "creation_timestamp": T0 + version,
            "run_id": RUN_PARENT, "source": (artifacts[RUN_PARENT] / path).as_uri()}))
    _key_files(model / "version-1" / "tags", {"validated": "yes"})
    return root


# -- what the fidelity tests add: a deleted experiment with its run, stages, registry times --------------------
RUN_DELETED = "e" * 32
DELETED_EXPERIMENT = ("3", "old-churn")


def add_fidelity_sqlite(uri: str) -> None:
    """A deleted experiment and run, version stages and update times, as MLflow's SQL store keeps them."""
    con = sqlite3.connect(uri[len("sqlite:///"):])
    eid, name = DELETED_EXPERIMENT
    con.execute("INSERT INTO experiments VALUES (?, ?, '', 'deleted', ?, ?)", [int(eid), name, T0, T0 + 900])
    con.execute("INSERT INTO runs VALUES (?, 'gone', 'LOCAL', '', '', 'me', 'FINISHED', ?, ?, '', 'deleted', NULL, "
                "?, ?)", [RUN_DELETED, T0 + 1, T0 + 2, int(eid), T0 + 900])
    con.execute("INSERT INTO params VALUES ('C', '5', ?)", [RUN_DELETED])
    con.execute("UPDATE model_versions SET current_stage = 'Production', last_updated_time = ? WHERE version = 1",
                [T0 + 700])
    con.execute("UPDATE model_versions SET current_stage = 'Staging', last_updated_time = ? WHERE version = 2",
                [T0 + 800])
    con.commit()
    con.close()


def add_fidelity_file_store(root: Path) -> None:
    """The same in an mlruns/ folder: the deleted experiment lies in mlruns/.trash, as MLflow moves it there."""
    eid, name = DELETED_EXPERIMENT
    folder = root / ".trash" / eid
    folder.mkdir(parents=True)
    (folder / "meta.yaml").write_text(yaml.safe_dump({
        "experiment_id": eid, "name": name, "lifecycle_stage": "deleted", "creation_time": T0,
        "last_update_time": T0 + 900, "artifact_location": folder.as_uri()}))
    run_dir = folder / RUN_DELETED
    run_dir.mkdir()
    (run_dir / "meta.yaml").write_text(yaml.safe_dump({
        "run_id": RUN_DELETED, "run_uuid": RUN_DELETED, "run_name": "gone", "experiment_id": eid, "status": 3,
        "start_time": T0 + 1, "end_time": T0 + 2, "lifecycle_stage": "deleted", "tags": []}))
    _key_files(run_dir / "params", {"C": "5"})
    for version, stage, updated in ((1, "Production", T0 + 700), (2, "Staging", T0 + 800)):
        meta_path = root / "models" / "churn-model" / f"version-{version}" / "meta.yaml"
        meta = yaml.safe_load(meta_path.read_text())
        meta.update(current_stage=stage, last_updated_timestamp=updated)
        meta_path.write_text(yaml.safe_dump(meta))


def grow_source(uri: str) -> None:
    """The source kept logging after an import: RUN_PARENT was resumed (a later end), got a point, a param and
    a tag; RUN_CHILD's param ``fold`` is changed (not a growth: ``--update`` still refuses it)."""
    if uri.startswith("sqlite:///"):
        con = sqlite3.connect(uri[len("sqlite:///"):])
        con.execute("INSERT INTO metrics VALUES ('loss', 0.05, ?, ?, 3, 0)", [T0 + 4, RUN_PARENT])
        con.execute("UPDATE runs SET end_time = ? WHERE run_uuid = ?", [T0 + 150, RUN_PARENT])
        con.execute("INSERT INTO params VALUES ('epochs', '10', ?)", [RUN_PARENT])
        con.execute("INSERT INTO tags VALUES ('note', 'more', ?)", [RUN_PARENT])
        con.execute("UPDATE params SET value = '2' WHERE run_uuid = ? AND key = 'fold'", [RUN_CHILD])
        con.commit()
        con.close()
        return
    run_dir = Path(uri) / "1" / RUN_PARENT
    meta = yaml.safe_load((run_dir / "meta.yaml").read_text())
    meta["end_time"] = T0 + 150
    (run_dir / "meta.yaml").write_text(yaml.safe_dump(meta))
    with open(run_dir / "metrics" / "loss", "a") as handle:
        handle.write(f"{T0 + 4} 0.05 3\n")
    _key_files(run_dir / "params", {"epochs": "10"})
    _key_files(run_dir / "tags", {"note": "more"})
    _key_files(Path(uri) / "1" / RUN_CHILD / "params", {"fold": "2"})


PROFILE = '{"num_rows": 12, "num_elements": 36}'


def add_input_details(uri: str) -> None:
    """The dataset input gets a tag besides its context, and the dataset a profile with more than num_rows."""
    if uri.startswith("sqlite:///"):
        con = sqlite3.connect(uri[len("sqlite:///"):])
        con.execute("INSERT INTO input_tags VALUES ('i1', 'mlflow.data.split', 'holdout-a')")
        con.execute("UPDATE datasets SET dataset_profile = ?", [PROFILE])
        con.commit()
        con.close()
        return
    root = Path(uri)
    meta_path = root / "1" / RUN_PARENT / "inputs" / "i1" / "meta.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["tags"]["mlflow.data.split"] = "holdout-a"
    meta_path.write_text(yaml.safe_dump(meta))
    ds_path = root / "1" / "datasets" / DATASET / "meta.yaml"
    ds = yaml.safe_load(ds_path.read_text())
    ds["profile"] = PROFILE
    ds_path.write_text(yaml.safe_dump(ds))


MODEL_WITH_RUN = "m-" + "1" * 32
MODEL_WITHOUT_RUN = "m-" + "2" * 32


def add_logged_models(uri: str) -> None:
    """Two MLflow 3 LoggedModels in experiment "churn": one of RUN_PARENT with params, tags and a linked metric,
    one logged outside any run (with a file), as MLflow's stores keep them."""
    sqlite = uri.startswith("sqlite:///")
    base = Path(uri[len("sqlite:///"):]).parent / "mlruns" if sqlite else Path(uri)
    models = {MODEL_WITH_RUN: (RUN_PARENT, "clf", {"alpha": "0.5"}, {"team": "ml"}),
              MODEL_WITHOUT_RUN: (None, "standalone", {"kind": "prompt"}, {})}
    for model_id in models:
        files = base / "1" / "models" / model_id / "artifacts"
        files.mkdir(parents=True)
        (files / "MLmodel").write_text(yaml.safe_dump({"flavors": {}}))
    metric = ("acc", 0.9, 0, T0 + 3, RUN_PARENT, "eval", "abc123")
    if sqlite:
        con = sqlite3.connect(uri[len("sqlite:///"):])
        con.executescript("""
            CREATE TABLE logged_models (model_id VARCHAR, experiment_id INTEGER, name VARCHAR,
                artifact_location VARCHAR, creation_timestamp_ms BIGINT, last_updated_timestamp_ms BIGINT,
                status INTEGER, lifecycle_stage VARCHAR, model_type VARCHAR, source_run_id VARCHAR,
                status_message VARCHAR);
            CREATE TABLE logged_model_params (model_id VARCHAR, experiment_id INTEGER, param_key VARCHAR,
                param_value TEXT);
            CREATE TABLE logged_model_tags (model_id VARCHAR, experiment_id INTEGER, tag_key VARCHAR,
                tag_value TEXT);
            CREATE TABLE logged_model_metrics (model_id VARCHAR, metric_name VARCHAR, metric_timestamp_ms BIGINT,
                metric_step BIGINT, metric_value FLOAT, experiment_id INTEGER, run_id VARCHAR,
                dataset_uuid VARCHAR, dataset_name VARCHAR, dataset_digest VARCHAR);
        """)
        for model_id, (run_id, name, params, tags) in models.items():
            location = (base / "1" / "models" / model_id / "artifacts").as_uri()
            con.execute("INSERT INTO logged_models VALUES (?, 1, ?, ?, ?, ?, 2, 'active', '', ?, NULL)",
                        [model_id, name, location, T0 + 5, T0 + 6, run_id])
            con.executemany("INSERT INTO logged_model_params VALUES (?, 1, ?, ?)",
                            [(model_id, k, v) for k, v in params.items()])
            con.executemany("INSERT INTO logged_model_tags VALUES (?, 1, ?, ?)",
                            [(model_id, k, v) for k, v in tags.items()])
        key, value, step, stamp, run_id, dataset, digest = metric
        con.execute("INSERT INTO logged_model_metrics VALUES (?, ?, ?, ?, ?, 1, ?, 'u', ?, ?)",
                    [MODEL_WITH_RUN, key, stamp, step, value, run_id, dataset, digest])
        con.commit()
        con.close()
        return
    for model_id, (run_id, name, params, tags) in models.items():
        folder = base / "1" / "models" / model_id
        (folder / "meta.yaml").write_text(yaml.safe_dump({
            "model_id": model_id, "experiment_id": "1", "name": name, "creation_timestamp": T0 + 5,
            "last_updated_timestamp": T0 + 6, "status": "READY", "source_run_id": run_id,
            "artifact_location": (folder / "artifacts").as_uri()}))
        _key_files(folder / "params", params)
        _key_files(folder / "tags", tags)
    key, value, step, stamp, run_id, dataset, digest = metric
    _key_files(base / "1" / "models" / MODEL_WITH_RUN / "metrics",
               {key: f"{stamp} {value} {step} {run_id} {dataset} {digest}\n"})
