"""Who made a write is recorded with it: an application (the UI) sets the actor around a request; run edits
get the `duckml.edited_by` tag and registry changes the actor of their `registry_events` row; the model
page shows who set an alias and when. Without an actor (scripts, the CLI) nothing extra is written."""

from __future__ import annotations

import duckml
from duckml.store.actor import EDITED_BY_TAG, acting_as


def _tags(run_id):
    return duckml.get_run(run_id).data.tags


def test_run_edits_made_for_a_user_are_tagged_with_their_name(private_ui_store):
    run_id = private_ui_store["parent"]
    duckml.set_tag("plain", "1", run_id=run_id)
    assert EDITED_BY_TAG not in _tags(run_id)
    with acting_as("ada"):
        duckml.set_tag("stage", "reviewed", run_id=run_id)
    assert _tags(run_id)[EDITED_BY_TAG] == "ada"
    with acting_as("bob"):
        duckml.delete_tag("stage", run_id=run_id)
    assert _tags(run_id)[EDITED_BY_TAG] == "bob"
    child = private_ui_store["children"][0]
    with acting_as("carl"):
        duckml.delete_run(child)
    assert _tags(child)[EDITED_BY_TAG] == "carl"
    with acting_as("dora"):
        duckml.restore_run(child)
    assert _tags(child)[EDITED_BY_TAG] == "dora"
    with acting_as("eve"):  # the UI's rename goes through rename_run
        duckml.rename_run(child, "renamed by eve")
    assert _tags(child)[EDITED_BY_TAG] == "eve"


def test_registry_events_record_the_actor_and_alias_history_shows_it(private_ui_store, fresh_store):
    with acting_as("ada"):
        duckml.set_registered_model_alias("reg", "staging", 1)
        duckml.update_registered_model("reg", "described by ada")
    duckml.set_registered_model_alias("reg", "staging", 2)  # a script: no actor
    con = duckml.connect(fresh_store)
    events = con.sql("SELECT event, version, actor FROM registry_events WHERE name = 'reg' "
                     "AND event IN ('alias_set', 'description_set') AND alias IS DISTINCT FROM 'champion' "
                     "ORDER BY event_time").fetchall()
    assert events == [("alias_set", 1, "ada"), ("description_set", None, "ada"), ("alias_set", 2, None)]
    history = con.sql("SELECT version, set_by FROM alias_history WHERE name = 'reg' AND alias = 'staging' "
                      "ORDER BY valid_from").fetchall()
    assert history == [(1, "ada"), (2, None)]


def test_registry_tag_edits_record_the_actor(private_ui_store, fresh_store):
    with acting_as("grace"):  # what the UI does around a request under --auth
        duckml.set_registered_model_tag("reg", "team", "risk")
        duckml.set_model_version_tag("reg", 1, "checked", "yes")
        duckml.delete_model_version_tag("reg", 1, "checked")
        duckml.delete_registered_model_tag("reg", "team")
    con = duckml.connect(fresh_store)
    events = con.sql("SELECT event, version, actor FROM registry_events WHERE name = 'reg' AND event LIKE 'tag%' "
                     "ORDER BY event_time").fetchall()
    assert events == [("tag_set", None, "grace"), ("tag_set", 1, "grace"), ("tag_deleted", 1, "grace"),
                      ("tag_deleted", None, "grace")]


def test_the_model_page_shows_who_set_an_alias_and_when(private_ui_store, fresh_store):
    from starlette.testclient import TestClient

    from duckml.ui import create_app

    with acting_as("ada.lovelace"):
        duckml.set_registered_model_alias("reg", "staging", 1)
    with TestClient(create_app(fresh_store), base_url="http://localhost:5000") as http:
        page = http.get("/models/reg").text
    assert "<th>set by</th>" in page
    row = next(line for line in page.splitlines() if "@staging" in line and "ada.lovelace" in line)
    assert "v1" in row
