"""The UI's writes (``/api`` JSON routes): they go through duckml's API, show at once on the pages, and are
refused (403, nothing changed) without the page's CSRF token, from another Origin, or on a read-only UI."""

from __future__ import annotations

import re
import warnings

import pytest

import duckml

from tests.ui.conftest import BASE_URL, HOSTILE

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def page_token(client, url="/") -> str:
    page = client.get(url)
    assert page.status_code == 200
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text).group(1)


def write_headers(client) -> dict:
    return {"X-CSRF-Token": page_token(client), "Origin": BASE_URL}


def every_write(ids) -> list[tuple[str, str, dict | None]]:
    run = ids["hostile"]
    return [("PATCH", f"/api/runs/{run}", {"name": "renamed", "description": "new"}),
            ("PUT", f"/api/runs/{run}/tags/owner", {"value": "mallory"}),
            ("DELETE", f"/api/runs/{run}/tags/owner", None),
            ("POST", f"/api/runs/{run}/delete", None),
            ("POST", f"/api/runs/{run}/restore", None),
            ("POST", "/api/models/reg/versions", {"run_id": run, "path": "model"}),
            ("PUT", "/api/models/reg/aliases/champion", {"version": 1}),
            ("DELETE", "/api/models/reg/aliases/champion", None),
            ("PATCH", "/api/models/reg", {"description": "hacked"}),
            ("PATCH", "/api/models/reg/versions/1", {"description": "hacked"}),
            ("PUT", "/api/models/reg/tags/team", {"value": "mallory"}),
            ("DELETE", "/api/models/reg/tags/team", None),
            ("PUT", "/api/models/reg/versions/1/tags/team", {"value": "mallory"}),
            ("DELETE", "/api/models/reg/versions/1/tags/team", None)]


def send(client, method, url, body=None, headers=None):
    return client.request(method, url, json=body, headers=headers or {})


def snapshot(ids) -> tuple:
    run = duckml.get_run(ids["hostile"])
    versions = duckml.search_registered_models()
    return run.info.run_name, run.info.lifecycle_stage, dict(run.data.tags), versions.to_dicts()


# -- refusals (on the shared store: its untouched-file check proves nothing was written) -----------------
@pytest.mark.parametrize("case", ["no token", "wrong token", "other origin", "no origin", "null origin"])
def test_writes_without_token_or_from_another_origin_are_refused(client, ui_store, case):
    token = page_token(client)
    headers = {"no token": {"Origin": BASE_URL},
               "wrong token": {"X-CSRF-Token": "0" * 64, "Origin": BASE_URL},
               "other origin": {"X-CSRF-Token": token, "Origin": "http://evil.example"},
               "no origin": {"X-CSRF-Token": token},
               "null origin": {"X-CSRF-Token": token, "Origin": "null"}}[case]
    for method, url, body in every_write(ui_store):
        response = send(client, method, url, body, headers)
        assert response.status_code == 403, (case, method, url)
        assert response.json()["error"], (case, url)


def test_a_token_needs_its_own_cookie(client, ui_store):
    token = page_token(client)
    with TestClient(client.app, base_url=BASE_URL) as stranger:  # another browser: another cookie
        stranger.get("/")
        response = stranger.post(f"/api/runs/{ui_store['hostile']}/delete",
                                 headers={"X-CSRF-Token": token, "Origin": BASE_URL})
    assert response.status_code == 403


def test_every_page_carries_the_token(client, ui_store):
    token = page_token(client)
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    for url in ["/", f"/runs/{ui_store['hostile']}", "/models/reg", "/sql"]:
        assert page_token(client, url) == token, url


def test_read_only_refuses_every_write_and_hides_the_controls(private_ui_store, fresh_store):
    from duckml.ui import create_app

    with TestClient(create_app(fresh_store, read_only=True), base_url=BASE_URL) as client:
        before = snapshot(private_ui_store)
        headers = write_headers(client)
        for method, url, body in every_write(private_ui_store):
            response = send(client, method, url, body, headers)
            assert response.status_code == 403, url
            assert "--read-only" in response.json()["error"]
        assert snapshot(private_ui_store) == before
        page = client.get(f"/runs/{private_ui_store['hostile']}").text
        assert "api-form" not in page and "edit.js" not in page and "api-button" not in page
        assert "api-form" not in client.get("/models/reg").text


def test_workers_sharing_a_store_accept_each_others_tokens(private_ui_store, fresh_store):
    from duckml.ui import create_app

    first, second = create_app(fresh_store), create_app(fresh_store)  # as `uvicorn --workers 2` builds them
    with TestClient(first, base_url=BASE_URL) as one, TestClient(second, base_url=BASE_URL) as two:
        token = page_token(one)
        two.cookies = one.cookies
        response = two.put(f"/api/runs/{private_ui_store['hostile']}/tags/team",
                           json={"value": "a"}, headers={"X-CSRF-Token": token, "Origin": BASE_URL})
    assert response.status_code == 200, response.text
    assert duckml.get_run(private_ui_store["hostile"]).data.tags["team"] == "a"


# -- runs ------------------------------------------------------------------------------------------------
def test_rename_and_description_show_at_once_escaped(private_client, private_ui_store):
    run = private_ui_store["hostile"]
    description = f"first line\n{HOSTILE}\n<img src=x onerror=alert(1)>"
    response = private_client.patch(f"/api/runs/{run}", json={"name": f"renamed {HOSTILE}", "description": description},
                                    headers=write_headers(private_client))
    assert response.status_code == 200, response.text
    assert response.json()["description"] == description
    page = private_client.get(f"/runs/{run}").text
    assert "<script>alert" not in page and "<img src=x" not in page
    shown = re.search(r'<div class="description" id="description-text">(.*?)</div>', page, re.S).group(1)
    assert shown == "first line\n&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\n&lt;img src=x onerror=alert(1)&gt;"
    assert "renamed &lt;script&gt;" in page
    assert duckml.get_run(run).data.tags["mlflow.note.content"] == description
    assert duckml.get_run(run).info.run_name == f"renamed {HOSTILE}"
    # an empty description removes the tag
    assert private_client.patch(f"/api/runs/{run}", json={"description": ""},
                                headers=write_headers(private_client)).status_code == 200
    assert "mlflow.note.content" not in duckml.get_run(run).data.tags
    assert "No description." in private_client.get(f"/runs/{run}").text


@pytest.mark.parametrize("body, message", [
    ({"name": ""}, "run name must not be empty"),
    ({"name": "a\x00b"}, "control character"),
    ({"name": "x" * 300}, "limit is 250"),
    ({"name": 3}, "name must be a string"),
    ({"description": ["a"]}, "description must be a string"),
    ({"colour": "red"}, "unknown field 'colour'"),
    ({}, "send a name or a description"),
])
def test_bad_run_edits_answer_400_naming_the_problem(private_client, private_ui_store, body, message):
    run = private_ui_store["hostile"]
    before = snapshot(private_ui_store)
    response = private_client.patch(f"/api/runs/{run}", json=body, headers=write_headers(private_client))
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert snapshot(private_ui_store) == before


def test_bad_bodies_answer_400(private_client, private_ui_store):
    url = f"/api/runs/{private_ui_store['hostile']}"
    headers = write_headers(private_client)
    not_json = private_client.patch(url, content=b"name=x", headers={**headers, "content-type": "text/plain"})
    assert not_json.status_code == 400 and "must be JSON" in not_json.json()["error"]
    broken = private_client.patch(url, content=b"{", headers={**headers, "content-type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
    array = private_client.patch(url, json=["name"], headers=headers)
    assert array.status_code == 400 and "JSON object" in array.json()["error"]


def test_unknown_run_is_404_and_changes_nothing(private_client):
    headers = write_headers(private_client)
    for method, url, body in [("PATCH", "/api/runs/" + "0" * 32, {"name": "x"}),
                              ("PUT", "/api/runs/" + "0" * 32 + "/tags/a", {"value": "b"}),
                              ("POST", "/api/runs/" + "0" * 32 + "/delete", None)]:
        response = send(private_client, method, url, body, headers)
        assert response.status_code == 404, url
        assert "0" * 32 in response.json()["error"]


def test_tags_set_edit_delete(private_client, private_ui_store):
    run = private_ui_store["hostile"]
    headers = write_headers(private_client)
    assert private_client.put(f"/api/runs/{run}/tags/team%2Fsub", json={"value": HOSTILE}, headers=headers).json() == \
        {"run_id": run, "key": "team/sub", "value": HOSTILE}
    assert private_client.put(f"/api/runs/{run}/tags/stage", json={"value": 3}, headers=headers).status_code == 200
    page = private_client.get(f"/runs/{run}").text
    assert "team/sub" in page and "<script>alert" not in page
    assert duckml.get_run(run).data.tags["stage"] == "3"
    assert private_client.delete(f"/api/runs/{run}/tags/team%2Fsub", headers=headers).status_code == 200
    assert "team/sub" not in duckml.get_run(run).data.tags
    missing = private_client.delete(f"/api/runs/{run}/tags/never", headers=headers)
    assert missing.status_code == 404 and "never" in missing.json()["error"]
    system = private_client.put(f"/api/runs/{run}/tags/mlflow.user", json={"value": "x"}, headers=headers)
    assert system.status_code == 400 and "system tags" in system.json()["error"]
    for body, message in [({}, "missing field 'value'"), ({"value": None}, "value must be text"),
                          ({"value": {"a": 1}}, "value must be text")]:
        response = private_client.put(f"/api/runs/{run}/tags/x", json=body, headers=headers)
        assert response.status_code == 400 and message in response.json()["error"], body


def test_delete_and_restore_show_on_the_run_list(private_client, private_ui_store):
    run = private_ui_store["children"][0]
    headers = write_headers(private_client)
    experiment = "/experiments/sweep & <b>co</b>"
    assert run in private_client.get(experiment).text
    assert private_client.post(f"/api/runs/{run}/delete", headers=headers).status_code == 200
    assert run not in private_client.get(experiment).text
    page = private_client.get(f"/runs/{run}").text
    assert 'id="restore-run"' in page and 'id="delete-run"' not in page
    refused = private_client.patch(f"/api/runs/{run}", json={"description": "x"}, headers=headers)
    assert refused.status_code == 400 and "deleted" in refused.json()["error"]
    assert private_client.post(f"/api/runs/{run}/restore", headers=headers).status_code == 200
    assert run in private_client.get(experiment).text


# -- registry --------------------------------------------------------------------------------------------
def test_register_alias_and_descriptions_show_on_the_model_page(private_client, private_ui_store):
    headers = write_headers(private_client)
    run = private_ui_store["hostile"]
    registered = private_client.post("/api/models/new-model/versions", json={"run_id": run, "path": "model2"},
                                     headers=headers)
    assert registered.status_code == 200 and registered.json()["version"] == 1
    again = private_client.post("/api/models/new-model/versions", json={"run_id": run}, headers=headers)
    assert again.json()["version"] == 2
    assert private_client.put("/api/models/new-model/aliases/champion", json={"version": 1},
                              headers=headers).json()["version"] == 1
    assert private_client.put("/api/models/new-model/aliases/champion", json={"version": "2"},
                              headers=headers).json()["version"] == 2  # moved
    assert private_client.patch("/api/models/new-model", json={"description": f"sales {HOSTILE}"},
                                headers=headers).status_code == 200
    assert private_client.patch("/api/models/new-model/versions/2", json={"description": "retrained"},
                                headers=headers).status_code == 200
    page = private_client.get("/models/new-model").text
    assert "@champion" in page and "sales &lt;script&gt;" in page and "<script>alert" not in page
    assert duckml.get_model_version("new-model", 2).description == "retrained"
    assert duckml.get_model_version_by_alias("new-model", "champion").version == 2
    assert private_client.delete("/api/models/new-model/aliases/champion", headers=headers).status_code == 200
    assert duckml.get_model_version("new-model", 2).aliases == ()
    assert "'pill'>@champion" not in private_client.get("/models/new-model").text.replace('"', "'")


def test_model_and_version_tags_set_edit_delete_and_show(private_client, private_ui_store, fresh_store):
    headers = write_headers(private_client)
    assert private_client.put("/api/models/reg/tags/team%2Fsub", json={"value": HOSTILE}, headers=headers).json() == \
        {"name": "reg", "key": "team/sub", "value": HOSTILE}
    assert private_client.put("/api/models/reg/versions/2/tags/validated", json={"value": 1},
                              headers=headers).json() == {"name": "reg", "version": 2, "key": "validated", "value": "1"}
    model_page = private_client.get("/models/reg").text
    assert "team/sub" in model_page and "<script>alert" not in model_page and 'id="model-tag-form"' in model_page
    version_page = private_client.get("/models/reg/versions/2").text
    assert ">validated<" in version_page and 'id="version-tag-form"' in version_page
    assert duckml.get_model_version("reg", 2).tags == {"validated": "1"}
    assert private_client.put("/api/models/reg/versions/2/tags/validated", json={"value": "twice"},
                              headers=headers).json()["value"] == "twice"  # edited in place
    assert private_client.delete("/api/models/reg/versions/2/tags/validated", headers=headers).status_code == 200
    assert private_client.delete("/api/models/reg/tags/team%2Fsub", headers=headers).status_code == 200
    assert duckml.get_model_version("reg", 2).tags == {}
    assert "team/sub" not in private_client.get("/models/reg").text
    con = duckml.connect(fresh_store)
    events = con.sql("SELECT event, version FROM registry_events WHERE name = 'reg' AND event LIKE 'tag%' "
                     "ORDER BY event_time").fetchall()
    assert events == [("tag_set", None), ("tag_set", 2), ("tag_set", 2), ("tag_deleted", 2), ("tag_deleted", None)]


@pytest.mark.parametrize("method, url, body, status, message", [
    ("PUT", "/api/models/nope/tags/team", {"value": "x"}, 404, "nope"),
    ("PUT", "/api/models/reg/versions/9/tags/team", {"value": "x"}, 404, "9"),
    ("PUT", "/api/models/reg/tags/team", {}, 400, "missing field 'value'"),
    ("PUT", "/api/models/reg/tags/team", {"value": None}, 400, "value must be text"),
    ("PUT", "/api/models/reg/versions/1/tags/team", {"value": [1]}, 400, "value must be text"),
    ("PUT", "/api/models/reg/versions/one/tags/team", {"value": "x"}, 400, "positive integer"),
    ("DELETE", "/api/models/nope/tags/team", None, 404, "nope"),
])
def test_bad_registry_tag_writes(private_client, private_ui_store, method, url, body, status, message):
    before = snapshot(private_ui_store)
    response = send(private_client, method, url, body, write_headers(private_client))
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert snapshot(private_ui_store) == before


@pytest.mark.parametrize("method, url, body, status, message", [
    ("POST", "/api/models/bad@name/versions", {"run_id": "RUN", "path": "model"}, 400, "contains '@'"),
    ("POST", "/api/models/m/versions", {"run_id": "RUN", "path": "nothing-here"}, 404, "no model at artifact path"),
    ("POST", "/api/models/m/versions", {"path": "model"}, 400, "missing field 'run_id'"),
    ("POST", "/api/models/m/versions", {"run_id": "0" * 32}, 404, "0" * 32),
    ("PUT", "/api/models/reg/aliases/v3", {"version": 1}, 400, "looks like a version"),
    ("PUT", "/api/models/reg/aliases/champion", {"version": 99}, 404, "no version 99"),
    ("PUT", "/api/models/reg/aliases/champion", {"version": "one"}, 400, "positive integer"),
    ("PUT", "/api/models/nope/aliases/champion", {"version": 1}, 404, "nope"),
    ("DELETE", "/api/models/reg/aliases/never", None, 404, "never"),
    ("PATCH", "/api/models/nope", {"description": "x"}, 404, "nope"),
    ("PATCH", "/api/models/reg/versions/9", {"description": "x"}, 404, "9"),
    ("PATCH", "/api/models/reg", {"description": 5}, 400, "description must be a string"),
])
def test_bad_registry_writes(private_client, private_ui_store, method, url, body, status, message):
    if body and body.get("run_id") == "RUN":
        body = {**body, "run_id": private_ui_store["hostile"]}
    before = snapshot(private_ui_store)
    response = send(private_client, method, url, body, write_headers(private_client))
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert snapshot(private_ui_store) == before


# -- the role of each route, for an auth layer ------------------------------------------------------------
def test_each_write_route_has_a_role_and_the_hook_can_refuse(private_client, private_ui_store):
    from duckml.ui.writes import WRITE_ROUTES

    roles = {(r.method, r.path): r.role for r in WRITE_ROUTES}
    assert roles[("PATCH", "/api/runs/{run_id}")] == "edit"
    assert roles[("PUT", "/api/runs/{run_id}/tags/{key:path}")] == "edit"
    assert roles[("PUT", "/api/models/{name}/aliases/{alias}")] == "admin"
    assert roles[("POST", "/api/models/{name}/versions")] == "admin"
    assert roles[("PUT", "/api/models/{name}/tags/{key:path}")] == "admin"
    assert roles[("DELETE", "/api/models/{name}/versions/{version}/tags/{key:path}")] == "admin"
    assert len(roles) == 14
    asked = []

    def only_edit(request, role):
        asked.append(role)
        if role == "admin":
            raise PermissionError("this user may not change the registry")

    private_client.app.state.authorize = only_edit
    headers = write_headers(private_client)
    assert private_client.put(f"/api/runs/{private_ui_store['hostile']}/tags/a", json={"value": "b"},
                              headers=headers).status_code == 200
    refused = private_client.put("/api/models/reg/aliases/other", json={"version": 1}, headers=headers)
    assert refused.status_code == 403 and "registry" in refused.json()["error"]
    assert asked == ["edit", "admin"]
    assert duckml.get_model_version("reg", 1).aliases == ()


def test_pages_offer_the_edit_controls(client, ui_store):
    run_page = client.get(f"/runs/{ui_store['hostile']}").text
    assert '<script src="/static/edit.js" defer></script>' in run_page
    for control in ('id="edit-description"', 'id="rename-run"', 'id="delete-run"', 'id="tag-form"',
                    'id="register-run-model"', '<option value="model2">'):
        assert control in run_page, control
    model_page = client.get("/models/reg").text
    for control in ('id="alias-form"', 'id="register-form"', 'id="edit-model-description"',
                    'aria-label="delete alias champion"', '<a href="/models">models</a>'):
        assert control in model_page, control
    assert client.get("/static/edit.js").status_code == 200


def test_hostile_tag_keys_stay_escaped_in_the_controls(private_client, private_ui_store):
    run = private_ui_store["hostile"]
    key = "\"><img src=x onerror=alert(1)>"
    from urllib.parse import quote

    response = private_client.put(f"/api/runs/{run}/tags/{quote(key, safe='')}", json={"value": HOSTILE},
                                  headers=write_headers(private_client))
    assert response.status_code == 200 and response.json()["key"] == key
    page = private_client.get(f"/runs/{run}").text
    assert "<img src=x" not in page and "<script>alert" not in page
    assert 'data-key="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"' in page
    delete_url = re.search(r'data-method="DELETE" data-url="([^"]+)"[^>]*aria-label="delete tag &#34;&gt;&lt;img',
                           page).group(1)
    assert private_client.delete(delete_url.replace("&amp;", "&"), headers=write_headers(private_client)).status_code == 200
    assert key not in duckml.get_run(run).data.tags


def test_a_store_held_by_another_program_answers_503(private_client, monkeypatch):
    from duckml.errors import StoreLockedError

    def held(*args):
        raise StoreLockedError("another process held the store file for 60 s")

    monkeypatch.setattr(duckml, "set_registered_model_alias", held)
    response = private_client.put("/api/models/reg/aliases/champion", json={"version": 1},
                                  headers=write_headers(private_client))
    assert response.status_code == 503 and "try again" in response.json()["error"]
