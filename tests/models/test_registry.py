"""The model registry: log/register/alias/tag/delete, URI forms, caching, history and concurrent numbering."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

import duckdb
import numpy as np
import pytest

import duckml
from duckml.models import registry
from duckml.errors import (
    FilterSyntaxError,
    InvalidInputError,
    InvalidModelURIError,
    InvalidNameError,
    NotFoundError,
    UntrustedModelError,
)

RNG = np.random.default_rng(1)
X = RNG.normal(size=(80, 3))
Y = (X[:, 0] > 0).astype(int)


def _fit(c: float = 1.0):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c).fit(X, Y)


def _log(name="churn", c=1.0, acc=None):
    with duckml.start_run():
        if acc is not None:
            duckml.log_metric("acc", acc)
        return duckml.log_model(_fit(c), name="model", input_example=X[:3], registered_model_name=name)


def _versions(count: int, name: str = "churn") -> str:
    """Register ``count`` versions of one logged model (cheaper than logging each) and return its URI."""
    uri = _log(name).model_uri
    for _ in range(count - 1):
        duckml.register_model(uri, name)
    return uri


def _events(name="churn"):
    return duckml.connect().sql(
        "SELECT event, version, alias FROM registry_events WHERE name = ? ORDER BY event_time", [name]).fetchall()


def test_log_model_registers_versions_one_two_three():
    infos = [_log(c=c) for c in (0.5, 1.0, 2.0)]  # each a new run, as a sweep logs them
    assert [i.registered_model_version for i in infos] == [1, 2, 3]
    first = infos[0]
    assert first.model_uri == f"runs:/{first.run_id}/model" and first.artifact_path == "model"
    assert first.signature["task"] == "classification" and first.signature["classes"] == [0, 1]
    files = {f.path for f in duckml.list_artifacts(first.run_id, "model")}
    assert {"model/model.skops", "model/duckml_model.json", "model/input_example.json"} <= files
    version = duckml.get_model_version("churn", "2")
    assert (version.name, version.version, version.run_id) == ("churn", 2, infos[1].run_id)
    assert version.source_uri == infos[1].model_uri and version.aliases == ()
    assert [e[0] for e in _events()] == ["created", "version_created", "version_created", "version_created"]


def test_log_model_without_registering_and_register_later():
    with duckml.start_run() as run:
        info = duckml.log_model(_fit(), name="clf")
    assert info.registered_model_version is None and info.model_uri == f"runs:/{run.info.run_id}/clf"
    assert duckml.register_model(info.model_uri, "later").version == 1
    assert duckml.register_model("models:/later/1", "copy").source_uri == info.model_uri


def test_deleted_version_number_is_never_reused():
    uri = _versions(3)
    duckml.delete_model_version("churn", 3)
    with pytest.raises(NotFoundError, match="has no version 3; its versions are 1, 2"):
        duckml.get_model_version("churn", 3)
    assert duckml.register_model(uri, "churn").version == 4
    registry.delete_registered_model("churn")
    with pytest.raises(NotFoundError, match="'churn' does not exist"):
        duckml.get_model_version("churn", 1)
    assert duckml.register_model(uri, "churn").version == 5


def test_aliases_move_and_follow_deletes():
    _versions(3)
    duckml.set_registered_model_alias("churn", "champion", 1)
    duckml.set_registered_model_alias("churn", "champion", 2)
    duckml.set_registered_model_alias("churn", "challenger", 3)
    assert duckml.get_model_version_by_alias("churn", "champion").version == 2
    assert duckml.get_model_version("churn", 2).aliases == ("champion",)
    duckml.delete_registered_model_alias("churn", "challenger")
    with pytest.raises(NotFoundError, match="no alias 'challenger'; its aliases are champion"):
        duckml.get_model_version_by_alias("churn", "challenger")
    duckml.delete_model_version("churn", 2)  # takes its alias with it, recorded as an event
    with pytest.raises(NotFoundError, match="no alias 'champion'"):
        duckml.get_model_version_by_alias("churn", "champion")
    assert _events()[-2:] == [("alias_deleted", 2, "champion"), ("version_deleted", 2, None)]
    with pytest.raises(NotFoundError, match="no version 9"):
        duckml.set_registered_model_alias("churn", "champion", 9)
    for bad in ("latest", "v2", "7", "a/b", ""):
        with pytest.raises(InvalidNameError):
            duckml.set_registered_model_alias("churn", bad, 1)


def test_alias_history_answers_as_of_queries():
    _versions(3)
    duckml.set_registered_model_alias("churn", "champion", 1)
    duckml.set_registered_model_alias("churn", "champion", 3)
    duckml.delete_registered_model_alias("churn", "champion")
    duckml.set_registered_model_alias("churn", "champion", 2)
    store = duckml.connect()
    times = [r[0] for r in store.sql("SELECT event_time FROM registry_events WHERE alias = 'champion' "
                                     "ORDER BY event_time").fetchall()]
    assert times == sorted(set(times)), "event times are strictly increasing"
    one_query = ("SELECT version FROM alias_history WHERE name = ? AND alias = ? AND valid_from <= ? "
                 "AND (valid_to IS NULL OR valid_to > ?)")
    expected = [(times[0] - timedelta(seconds=1), None), (times[0], 1), (times[1] - timedelta(microseconds=1), 1),
                (times[1], 3), (times[2], None), (times[3], 2), (times[3] + timedelta(days=365), 2)]
    for moment, version in expected:
        rows = store.sql(one_query, ["churn", "champion", moment, moment]).fetchall()
        assert rows == ([] if version is None else [(version,)]), moment
        macro = store.sql("SELECT version FROM alias_as_of('churn', 'champion', ?)", [moment]).fetchall()
        assert macro == rows
    duckml.flush()
    with duckdb.connect(str(store.path), read_only=True) as plain:  # a plain duckdb client, no duckml code
        assert plain.execute("SELECT version FROM alias_as_of('churn', 'champion', ?)", [times[1]]).fetchall() == [(3,)]


def test_every_uri_form_loads_the_right_model_and_is_cached():
    info = _log(c=0.1)
    _log(c=10.0)
    duckml.set_registered_model_alias("churn", "champion", 1)
    expected = {"models:/churn/1": 0.1, "models:/churn@champion": 0.1, "models:/churn/latest": 10.0,
                "churn": 10.0, "churn/1": 0.1, "churn@champion": 0.1, "churn/latest": 10.0, info.model_uri: 0.1}
    for uri, c in expected.items():
        model = duckml.load_model(uri)
        assert model.C == c, uri
        assert np.array_equal(model.predict(X), _fit(c).predict(X))
    assert duckml.load_model("churn/1") is duckml.load_model("models:/churn@champion")


def test_cache_notices_a_tampered_file():
    _log()
    resolved = registry.resolve_model_uri("churn/1")
    duckml.load_model("churn/1")
    data = bytearray(resolved.model_file.read_bytes())
    data[-10] ^= 0xFF
    resolved.model_file.chmod(0o644)
    resolved.model_file.write_bytes(bytes(data))
    with pytest.raises(UntrustedModelError, match="modified after saving"):
        duckml.load_model("churn/1")


def test_replaced_metadata_file_is_refused():
    info = _log()
    from duckml.tracking.artifacts import artifact_local_path

    meta_file = artifact_local_path(info.run_id, "model/duckml_model.json")
    text = meta_file.read_text()
    meta_file.chmod(0o644)
    meta_file.write_text(text + " ")  # still valid JSON with the same fields: only the digest tells
    with pytest.raises(UntrustedModelError, match="duckml_model.json of run .* was modified"):
        duckml.load_model("churn/1")


def test_resolve_gives_signature_and_a_model_folder():
    _log()
    resolved = registry.resolve_model_uri("models:/churn/latest")
    assert (resolved.name, resolved.version) == ("churn", 1)
    assert [c["name"] for c in resolved.signature["inputs"]] == ["f0", "f1", "f2"]
    assert {p.name for p in resolved.directory.iterdir()} == {"model.skops", "duckml_model.json",
                                                              "input_example.json"}
    from duckml.models.format import load_model as load_folder

    assert np.array_equal(load_folder(resolved.directory).predict(X), _fit().predict(X))


def _log_one_version(folder) -> None:
    _log()


@pytest.mark.parametrize("uri, error, text", [
    ("models:/nope/1", NotFoundError, "'nope' does not exist"),
    ("churn/7", NotFoundError, "no version 7"),
    ("churn@gone", NotFoundError, "no alias 'gone'"),
    ("runs:/0123/model", NotFoundError, "run '0123' has no model at artifact path 'model'"),
    ("s3://bucket/model", InvalidModelURIError, "unknown scheme"),
    ("churn/one", InvalidModelURIError, "'one' is not a version number"),
    ("models:/", InvalidModelURIError, "names no model"),
    ("runs:/only-run-id", InvalidModelURIError, "runs:/<run_id>/<path>"),
    ("", InvalidModelURIError, "non-empty"),
])
def test_bad_uris_name_what_was_not_found(store_from_template, uri, error, text):
    store_from_template("registry-one-churn-version", _log_one_version)  # logged once per session, copied
    with pytest.raises(error, match=text):
        duckml.load_model(uri)
    assert issubclass(error, (LookupError, ValueError))


def test_tags_descriptions_and_events():
    _log(acc=0.9)
    duckml.set_registered_model_tag("churn", "team", "growth")
    duckml.set_model_version_tag("churn", 1, "validated", True)
    duckml.update_registered_model("churn", "predicts churn")
    duckml.update_model_version("churn", 1, "first try")
    version = duckml.get_model_version("churn", 1)
    assert version.tags == {"validated": "True"} and version.description == "first try"
    assert [e[0] for e in _events()][-4:] == ["tag_set", "tag_set", "description_set", "description_set"]
    with pytest.raises(NotFoundError):
        duckml.set_registered_model_tag("nope", "k", "v")
    with pytest.raises(InvalidInputError):
        duckml.update_model_version("churn", 1, 42)


def test_deleting_model_and_version_tags():
    _log(acc=0.9)
    duckml.set_registered_model_tag("churn", "team", "growth")
    duckml.set_model_version_tag("churn", 1, "validated", "yes")
    duckml.delete_model_version_tag("churn", 1, "validated")
    duckml.delete_registered_model_tag("churn", "team")
    duckml.delete_registered_model_tag("churn", "never-set")  # nothing to remove: nothing happens, no event
    assert duckml.get_model_version("churn", 1).tags == {}
    assert duckml.search_registered_models("tags.team = 'growth'").height == 0
    assert [e[0] for e in _events()][-2:] == ["tag_deleted", "tag_deleted"]
    with pytest.raises(NotFoundError):
        duckml.delete_model_version_tag("churn", 9, "validated")
    with pytest.raises(NotFoundError):
        duckml.delete_registered_model_tag("nope", "team")


def test_search_registered_models_and_overview():
    _log("churn", acc=0.8)
    _log("churn", acc=0.9)
    duckml.register_model("models:/churn/1", "fraud")
    duckml.set_registered_model_tag("fraud", "team", "risk")
    duckml.set_registered_model_alias("churn", "champion", 2)
    found = duckml.search_registered_models()
    assert found["name"].to_list() == ["churn", "fraud"] and found["latest_version"].to_list() == [2, 1]
    assert found.filter(found["name"] == "churn")["aliases"].to_list() == [{"champion": 2}]
    assert duckml.search_registered_models("name LIKE 'ch%'")["name"].to_list() == ["churn"]
    assert duckml.search_registered_models("tags.team = 'risk'")["name"].to_list() == ["fraud"]
    assert duckml.search_registered_models("name = 'x' OR tags.team = 'risk'", max_results=1).height == 1
    with pytest.raises(FilterSyntaxError):
        duckml.search_registered_models("experiment_id = '1'")
    overview = registry.get_model_versions("churn")
    assert overview.columns[:6] == ["name", "version", "aliases", "run_id", "source_uri", "created_at"]
    assert overview["aliases"].to_list() == [[], ["champion"]]
    best = duckml.connect().sql("SELECT version FROM model_versions_overview WHERE name = 'churn' "
                                "ORDER BY metrics['acc'] DESC LIMIT 1").fetchall()
    assert best == [(2,)]


def test_bad_names_are_refused_before_anything_is_written():
    with pytest.raises(InvalidNameError, match="'a/b' contains '/'"):
        _log("a/b")
    assert duckml.connect().sql("SELECT count(*) FROM artifacts").fetchone()[0] == 0


def _register_many(path: str, uri: str, count: int, start) -> None:
    duckml.set_store(path)
    start.wait()
    for _ in range(count):
        duckml.register_model(uri, "shared")


@pytest.mark.slow
def test_concurrent_registration_from_four_processes(store):
    with duckml.start_run():
        info = duckml.log_model(_fit())
    duckml.flush()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    per_process = 4
    workers = [ctx.Process(target=_register_many, args=(str(store.path), info.model_uri, per_process, start))
               for _ in range(4)]
    for p in workers:
        p.start()
    start.set()
    for p in workers:
        p.join(timeout=120)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    versions = [r[0] for r in store.sql("SELECT version FROM model_versions WHERE name = 'shared' "
                                        "ORDER BY version").fetchall()]
    assert versions == list(range(1, 4 * per_process + 1))
    events = store.sql("SELECT count(*) FROM registry_events WHERE name = 'shared' "
                       "AND event = 'version_created'").fetchone()[0]
    assert events == 4 * per_process


def test_create_registered_model_without_a_version(fresh_store):
    """MLflow's MlflowClient.create_registered_model: a model with tags and a description, versions added later;
    a name taken already is refused."""
    from duckml.models.registry import create_registered_model

    create_registered_model("empty", tags={"team": "growth"}, description="not trained yet")
    found = duckml.search_registered_models("name = 'empty'").to_dicts()[0]
    assert found["latest_version"] is None and found["description"] == "not trained yet"
    tags = found["tags"]  # a MAP: a dict or key/value structs, by Polars version
    assert (tags if isinstance(tags, dict) else {t["key"]: t["value"] for t in tags}) == {"team": "growth"}
    with pytest.raises(duckml.InvalidInputError, match="already exists"):
        create_registered_model("empty")
