"""Issue 16 item 6: one lone surrogate must never make the store unusable."""

from __future__ import annotations

import os
import warnings

import pytest

import duckml
from duckml.errors import InvalidInputError
from tiers import slow_case

BAD = "bad\udc80"


def _store_still_works():
    with duckml.start_run(run_name="after") as run:
        duckml.log_param("ok", "fine")
        duckml.log_metric("m", 1.0)
    duckml.flush()
    assert len(duckml.search_runs()) >= 1
    assert duckml.get_run(run.info.run_id).data.params["ok"] == "fine"


def _in_run(call):
    def go():
        with duckml.start_run():
            call()
    return go


CALLS = {
    "param value": _in_run(lambda: duckml.log_param("p", BAD)),
    "param key": _in_run(lambda: duckml.log_param(BAD, 1)),
    "params dict value": _in_run(lambda: duckml.log_params({"a": 1, "b": BAD})),
    "tag value": _in_run(lambda: duckml.set_tag("t", BAD)),
    "tag key": _in_run(lambda: duckml.set_tags({BAD: "x"})),
    "metric key": _in_run(lambda: duckml.log_metric(BAD, 1.0)),
    "run name": lambda: duckml.start_run(run_name=BAD),
    "run description": lambda: duckml.start_run(description=BAD),
    "start_run tag value": lambda: duckml.start_run(tags={"t": BAD}),
    "experiment name": lambda: duckml.set_experiment(BAD),
    "artifact path": _in_run(lambda: duckml.log_text("x", f"notes/{BAD}.txt")),
}


# The inner loop keeps one case per behaviour (a key, a value, a run's, an experiment's and an artifact's
# name); the full suite runs every call
FAST_CALLS = {"param value", "tag key", "metric key", "run name", "experiment name", "artifact path"}


@pytest.mark.parametrize("what", [what if what in FAST_CALLS else slow_case(what) for what in CALLS])
def test_lone_surrogate_is_refused_at_the_call_and_the_store_keeps_working(what):
    with pytest.raises(InvalidInputError, match=r"\\udc80.*lone surrogate"):
        CALLS[what]()
    while duckml.active_run() is not None:
        duckml.end_run()
    _store_still_works()


def test_log_artifacts_on_a_folder_with_a_latin1_file_name_names_the_file(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "good.txt").write_text("ok")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as handle:
        handle.write(b"latin-1 named")
    with duckml.start_run() as run:
        with pytest.raises(InvalidInputError, match=r"caf\\udce9\.txt"):
            duckml.log_artifacts(str(folder), "reports")
    assert duckml.list_artifacts(run.info.run_id) == [] or all(
        "caf" not in a.path for a in duckml.list_artifacts(run.info.run_id))
    _store_still_works()


def test_registry_description_with_surrogate_is_refused(tmp_path):
    from sklearn.linear_model import LinearRegression

    with duckml.start_run():
        duckml.log_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), "model", registered_model_name="lr")
    with pytest.raises(InvalidInputError, match="description"):
        duckml.update_registered_model("lr", BAD)
    _store_still_works()


def test_a_surrogate_already_in_the_journal_is_replaced_and_reported(store):
    """What an older duckml left behind: the record is kept with U+FFFD, and nothing else is blocked."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with duckml.start_run() as run:
            store.store.journal.upsert("params", {"run_id": run.info.run_id, "key": "p", "value": BAD})
        duckml.flush()
    assert any("not valid Unicode" in str(w.message) for w in caught)
    assert duckml.get_run(run.info.run_id).data.params["p"] == "bad\ufffd"
    _store_still_works()


@pytest.mark.parametrize("read", [
    lambda: duckml.get_run("run\udc80"),
    lambda: duckml.search_runs(experiment_names=["exp\udc80"]),
    lambda: duckml.search_runs(filter_string="params.a = 'x\udc80'"),
    lambda: duckml.get_experiment_by_name("exp\udc80"),
], ids=["get_run", "experiment_names", "filter_string", "experiment_by_name"])
def test_reads_with_a_surrogate_raise_a_duckml_error_not_a_pybind11_one(read):
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        read()
