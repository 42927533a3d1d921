"""duckml export / import: a bundle merges into a store with runs of its own, twice without duplicates."""

from __future__ import annotations

import json
import math
import zipfile

import duckdb
import numpy as np
import pytest

import duckml
from duckml.store import schema
from duckml.interop.bundle import MANIFEST, STORE_FILE, export_bundle, import_bundle
from duckml.interop.merge import SOURCE_VERSION_TAG, RunConflictError

from .mlflow_fixtures import X, fitted_model


def _log_runs(prefix: str, tmp_path, n: int = 2, register: bool = True) -> list[str]:
    duckml.set_experiment("churn")
    ids = []
    data = tmp_path / f"{prefix}.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    for i in range(n):
        with duckml.start_run(run_name=f"{prefix}-{i}") as run:
            duckml.log_params({"C": i, "who": prefix})
            duckml.log_metric("loss", 1.0 / (i + 1), step=0)
            duckml.log_metric("loss", float("nan"), step=1)
            duckml.log_text(f"{prefix} {i}", "notes/readme.txt")
            duckml.log_input(str(data), name=f"{prefix}-data")
            duckml.log_model(fitted_model(1.0 + i), name="model",
                             registered_model_name="churn-model" if register else None)
        ids.append(run.run_id)
    if register:
        duckml.set_registered_model_alias("churn-model", "champion", 1)
    return ids


def _switch(path) -> None:
    duckml.flush()
    duckml.set_store(path)


def _counts() -> dict[str, int]:
    tables = ["experiments", "runs", "params", "tags", "metrics", "_duckml_latest", "artifacts", "datasets",
              "run_inputs", "registered_models", "model_versions", "model_aliases", "model_version_tags"]
    with duckml.get_store().read() as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def _export_then_start_b(folder):
    _switch(folder / "a.duckdb")
    a_runs = _log_runs("a", folder)
    manifest = export_bundle(folder / "handover.zip", experiments=["churn"])
    _switch(folder / "b.duckdb")
    b_runs = _log_runs("b", folder, n=1)
    duckml.flush()
    return manifest, a_runs, b_runs


@pytest.fixture
def exported(tmp_path, store_templates):
    """Runs logged in store A and exported; the test continues in store B, which has runs of its own.

    Both stores and the bundle are made once per session and copied into each test's folder.
    """
    duckml.reset_state()
    manifest, a_runs, b_runs = store_templates.copy_into("bundle", _export_then_start_b, tmp_path)
    duckml.set_store(tmp_path / "b.duckdb")
    return tmp_path / "handover.zip", manifest, a_runs, b_runs


def test_a_bundle_merges_into_a_store_with_runs_of_its_own(exported, tmp_path):
    bundle, manifest, a_runs, b_runs = exported
    assert manifest["runs"] == 2 and manifest["schema_version"] == schema.code_version()
    report = import_bundle(bundle)
    assert sorted(report.runs_imported) == sorted(a_runs)
    runs = duckml.search_runs(experiment_names=["churn"])
    assert sorted(runs["run_id"].to_list()) == sorted(a_runs + b_runs)
    history = duckml.get_metric_history(a_runs[1], "loss")
    assert history["value"][0] == 0.5 and math.isnan(history["value"][1])
    out = duckml.download_artifacts(a_runs[0], "notes/readme.txt", tmp_path / "dl")
    assert open(out).read() == "a 0"
    assert duckml.get_run_inputs(a_runs[0])["name"].to_list() == ["a-data"]
    model = duckml.load_model(f"runs:/{a_runs[1]}/model")
    assert (model.predict(X) == fitted_model(2.0).predict(X)).all()


def test_imported_versions_take_the_next_numbers_and_record_their_source(exported):
    bundle, _, a_runs, b_runs = exported
    report = import_bundle(bundle)
    assert sorted(report.versions_imported) == [("churn-model", 1, 2), ("churn-model", 2, 3)]
    v2 = duckml.get_model_version("churn-model", 2)
    assert v2.run_id == a_runs[0] and v2.tags[SOURCE_VERSION_TAG] == "1"
    assert duckml.get_model_version("churn-model", 1).run_id == b_runs[0]
    assert duckml.get_model_version_by_alias("churn-model", "champion").version == 1  # the store's own stays
    assert any("champion" in note for note in report.notes)


def test_importing_twice_adds_nothing(exported):
    bundle, *_ = exported
    import_bundle(bundle)
    before = _counts()
    again = import_bundle(bundle)
    assert again.runs_imported == [] and len(again.runs_skipped) == 2 and again.versions_imported == []
    assert _counts() == before


def test_a_conflicting_run_is_an_error_naming_it_and_nothing_is_written(exported):
    bundle, _, a_runs, _ = exported
    import_bundle(bundle)
    duckml.set_tag("edited", "yes", run_id=a_runs[1])
    duckml.flush()
    before = _counts()
    with pytest.raises(RunConflictError, match=a_runs[1]):
        import_bundle(bundle)
    assert _counts() == before


def test_a_folder_bundle_and_single_runs(tmp_path):
    _switch(tmp_path / "a.duckdb")
    runs = _log_runs("a", tmp_path, register=False)
    export_bundle(tmp_path / "one", run_ids=[runs[1]])
    assert (tmp_path / "one" / MANIFEST).is_file() and (tmp_path / "one" / STORE_FILE).is_file()
    with pytest.raises(duckml.InvalidInputError, match="already exists"):
        export_bundle(tmp_path / "one", run_ids=[runs[1]])
    with pytest.raises(duckml.NotFoundError, match="no experiment"):
        export_bundle(tmp_path / "two", experiments=["nope"])
    _switch(tmp_path / "b.duckdb")
    report = import_bundle(tmp_path / "one")
    assert report.runs_imported == [runs[1]]


def test_an_older_bundle_is_migrated_on_import(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH '{folder / STORE_FILE}' AS store")
    schema.migrate(con, "store", stop_after=3)
    con.execute("INSERT INTO store.experiments VALUES ('e1', 'legacy', 'active', TIMESTAMP '2024-01-01', "
                "TIMESTAMP '2024-01-01')")
    con.execute("INSERT INTO store.runs VALUES ('r' || repeat('1', 31), 'e1', 'old-run', 'FINISHED', "
                "TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-02', 'active', NULL)")
    con.execute("INSERT INTO store.metrics VALUES ('r' || repeat('1', 31), 'rmse', 0.5, 3, TIMESTAMP '2024-01-01')")
    con.execute("DETACH store")
    (folder / MANIFEST).write_text(json.dumps({"format": 1, "schema_version": 3}))
    report = import_bundle(folder)
    run_id = "r" + "1" * 31
    assert report.runs_imported == [run_id]
    assert duckml.get_run(run_id).data.metrics == {"rmse": 0.5}
    assert duckml.get_experiment_by_name("legacy").experiment_id == "e1"


def test_bundles_from_a_newer_duckml_or_with_unsafe_paths_are_refused(tmp_path):
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / MANIFEST).write_text(json.dumps({"format": 1, "schema_version": schema.code_version() + 1}))
    with pytest.raises(duckml.SchemaError, match="upgrade duckml"):
        import_bundle(folder)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../escape.txt", "x")
    with pytest.raises(duckml.UnsafePathError):
        import_bundle(evil)
    assert not (tmp_path / "escape.txt").exists()


def test_metric_points_keep_their_bits(tmp_path):
    _switch(tmp_path / "a.duckdb")
    values = np.array([0.1, -0.0, np.inf, -np.inf, np.nan, 1e-300, 123456789.123456789])
    with duckml.start_run() as run:
        duckml.log_metric_series("v", values, timestamps=list(range(1_700_000_000_000, 1_700_000_000_007)))
    export_bundle(tmp_path / "b.zip", run_ids=[run.run_id])
    _switch(tmp_path / "c.duckdb")
    import_bundle(tmp_path / "b.zip")
    got = duckml.get_metric_history(run.run_id, "v")["value"].to_numpy()
    assert np.array_equal(got, values, equal_nan=True)
    assert np.signbit(got[1])


def test_two_versions_of_one_run_and_source_stay_two(tmp_path):
    duckml.reset_state()
    _switch(tmp_path / "a.duckdb")
    duckml.set_experiment("churn")
    with duckml.start_run() as run:
        duckml.log_model(fitted_model(), name="model")
    duckml.register_model(f"runs:/{run.info.run_id}/model", "twice")
    duckml.register_model(f"runs:/{run.info.run_id}/model", "twice")  # MLflow and duckml allow it: a new number
    duckml.set_registered_model_alias("twice", "best", 2)
    export_bundle(tmp_path / "a.zip", experiments=["churn"])
    _switch(tmp_path / "b.duckdb")
    duckml.set_experiment("other")
    with duckml.start_run() as own:
        duckml.log_model(fitted_model(), name="model")
    duckml.register_model(f"runs:/{own.info.run_id}/model", "twice")
    duckml.set_registered_model_alias("twice", "best", 1)
    report = import_bundle(tmp_path / "a.zip")
    assert sorted(report.versions_imported) == [("twice", 1, 2), ("twice", 2, 3)]
    assert duckml.get_model_version("twice", 3).run_id == run.info.run_id
    # the kept alias is named with the numbers of this store: the source's version 2 is version 3 here
    note = next(n for n in report.notes if "twice@best" in n)
    assert "version 1" in note and "version 3" in note, note
    again = import_bundle(tmp_path / "a.zip")
    assert again.versions_imported == [] and again.versions_skipped == 2
