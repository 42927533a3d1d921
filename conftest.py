"""Doctests of duckml/ run against a throw-away store, never ./duckml.duckdb (tests/conftest.py does the same
for the test suite).

The registry's and PREDICT's examples (duckml/models/, duckml/scoring/) run against a store that already holds a registered model
``churn``: versions 1 and 2 of a small classifier, alias ``champion`` on 2, and ``week.parquet`` to score.
Their namespace has ``duckml``, ``clf`` and ``X`` (what was fitted) and ``run_id`` (the run of version 2). The store is
built once per session and copied for each example.
"""

from __future__ import annotations

import shutil

import pytest


def _fill_churn_store(folder) -> dict:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import duckml

    X = pd.DataFrame({"tenure": [1.0, 5.0, 12.0, 30.0, 2.0, 48.0, 7.0, 24.0],
                      "spend": [80.0, 20.0, 55.0, 10.0, 95.0, 15.0, 70.0, 30.0]})
    y = [1, 0, 1, 0, 1, 0, 1, 0]
    clf = LogisticRegression().fit(X, y)
    for version in (1, 2):
        with duckml.start_run(run_name=f"churn-{version}") as run:
            duckml.log_model(clf, name="model", input_example=X.head(3), registered_model_name="churn")
    duckml.set_registered_model_alias("churn", "champion", 2)
    X.to_parquet(folder / "week.parquet")
    duckml.flush()
    return {"clf": clf, "X": X, "run_id": run.info.run_id}


@pytest.fixture(scope="session")
def _churn_template(tmp_path_factory):
    import duckml

    folder = tmp_path_factory.mktemp("doctest-churn")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DUCKML_STORE", str(folder / "doctest.duckdb"))
        duckml.reset_state()
        namespace = _fill_churn_store(folder)
        duckml.reset_state()
    return folder, namespace


@pytest.fixture(autouse=True)
def _doctest_store(request, tmp_path, monkeypatch):
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    import duckml

    monkeypatch.setenv("DUCKML_STORE", str(tmp_path / "doctest.duckdb"))
    monkeypatch.chdir(tmp_path)
    duckml.reset_state()
    if request.node.name.startswith(("duckml.models.", "duckml.scoring.")):
        folder, namespace = request.getfixturevalue("_churn_template")
        shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
        request.node.dtest.globs.update(namespace, duckml=duckml)
    yield
    while duckml.active_run() is not None:
        duckml.end_run()
    duckml.reset_state()
