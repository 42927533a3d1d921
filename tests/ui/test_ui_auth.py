"""`duckml ui --auth`: every route needs a session, writes need a role, sessions are fresh at each sign-in and
end at sign-out, failed sign-ins are slowed then lock the account, and a user's name reaches the writes."""

from __future__ import annotations

import dataclasses
import re
import shutil
import warnings

import pytest
from click.testing import CliRunner
from starlette.routing import Mount, Route

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import duckml
import duckml.cli
import duckml.errors
from duckml.store.actor import current_actor
from duckml.ui import create_app
from duckml.ui.auth import COOKIE, OPEN_PATHS
from duckml.ui.users import add_user

from tests.ui.conftest import BASE_URL, fill_ui_store

PASSWORD = "a long password"


@pytest.fixture(scope="module")
def auth_folder(store_templates, tmp_path_factory):
    """The UI store copied once for the module, and a users file with one user of each role."""
    folder = tmp_path_factory.mktemp("ui-auth")
    ids = store_templates.copy_into("ui", fill_ui_store, folder)
    for role in ("viewer", "editor", "admin"):
        add_user(folder / "users.json", role, PASSWORD, role)
    duckml.reset_state()
    return folder, store_templates.store_path(folder), ids


@pytest.fixture
def users_file(auth_folder, tmp_path):
    """This test's own copy of the users file (sessions and failures are kept beside it)."""
    copy = tmp_path / "users.json"
    shutil.copy2(auth_folder[0] / "users.json", copy)
    return copy


@pytest.fixture
def auth_app(auth_folder, users_file):
    app = create_app(auth_folder[1], users_file=users_file)
    yield app
    app.state.store.close()
    duckml.reset_state()


def client(app, base_url=BASE_URL) -> TestClient:
    return TestClient(app, base_url=base_url, follow_redirects=False)


def sign_in(http: TestClient, name: str, password: str = PASSWORD, **extra):
    return http.post("/login", data={"username": name, "password": password, **extra})


def session_cookie(response) -> str:
    match = re.search(rf"{COOKIE}=([^;]*)", response.headers.get("set-cookie", ""))
    assert match, response.headers
    return match[1]


def concrete_paths(app) -> list[str]:
    """One concrete path for every route of the app (parameters filled in), so new routes are covered."""
    paths = []
    for route in app.routes:
        if isinstance(route, Mount) or route.path in OPEN_PATHS:
            continue
        assert isinstance(route, Route), route
        paths.append(re.sub(r"\{[^}]+\}", "x", route.path))
    return paths


def test_every_page_redirects_and_every_api_route_answers_401_without_a_session(auth_app):
    paths = concrete_paths(auth_app)
    assert "/" in paths and any(p.startswith("/api/") for p in paths)
    with client(auth_app) as http:
        for path in paths:
            answer = http.get(path + "?a=1")
            if path.startswith("/api/"):
                assert answer.status_code == 401, path
                assert answer.json() == {"error": "sign in first (POST /login)"}
            else:
                assert answer.status_code == 303, path
                assert answer.headers["location"].startswith("/login?next=" + path.replace("/", "%2F")), path
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                assert http.request(method, path).status_code == 401, (method, path)
        assert http.get("/login").status_code == 200
        assert http.get("/static/app.css").status_code == 200  # the sign-in page's style


def test_signing_in_leads_back_to_the_page_asked_for_and_never_elsewhere(auth_app, auth_folder):
    run_id = auth_folder[2]["parent"]
    with client(auth_app) as http:
        assert sign_in(http, "viewer", next=f"/runs/{run_id}").headers["location"] == f"/runs/{run_id}"
        page = http.get(f"/runs/{run_id}")
        assert page.status_code == 200 and "viewer (viewer)" in page.text and "Sign out" in page.text
        for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
            assert sign_in(http, "viewer", next=target).headers["location"] == "/"


def test_the_cookie_is_httponly_samesite_strict_and_secure_over_https(auth_app):
    with client(auth_app) as http:
        cookie = sign_in(http, "viewer").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    with client(auth_app, base_url="https://localhost:5000") as http:
        cookie = sign_in(http, "viewer").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie


@pytest.mark.parametrize("method, path", [
    ("PUT", "/api/runs/x/tags/k"), ("PATCH", "/api/runs/x"), ("POST", "/api/runs/x/delete"),
    ("DELETE", "/api/runs/x/tags/k"), ("POST", "/api/models/reg/versions"),
    ("PUT", "/api/models/reg/aliases/champion"), ("PATCH", "/api/models/reg"), ("POST", "/sql")])
def test_a_viewers_write_gets_403(auth_app, method, path):
    with client(auth_app) as http:
        sign_in(http, "viewer")
        answer = http.request(method, path, json={"value": "v"})
    assert answer.status_code == 403
    assert "viewer" in answer.json()["error"]


@pytest.mark.parametrize("method, path", [
    ("POST", "/api/models/reg/versions"), ("PUT", "/api/models/reg/aliases/champion"),
    ("DELETE", "/api/models/reg/aliases/champion"), ("PATCH", "/api/models/reg"),
    ("PATCH", "/api/models/reg/versions/1"), ("PUT", "/api/models/reg/tags/team"),
    ("DELETE", "/api/models/reg/tags/team"), ("PUT", "/api/models/reg/versions/1/tags/team"),
    ("DELETE", "/api/models/reg/versions/1/tags/team")])
def test_an_editors_registry_write_gets_403_and_an_admins_passes_the_check(auth_app, method, path):
    with client(auth_app) as http:
        sign_in(http, "editor")
        headers = page_csrf_headers(http)  # the role check comes first; the CSRF check would refuse too
        assert http.request(method, path, json={"version": 1}, headers=headers).status_code == 403
        assert http.request("PUT", "/api/runs/x/tags/k", json={"value": "v"},
                            headers=headers).status_code not in (401, 403)
    with client(auth_app) as http:
        sign_in(http, "admin")
        headers = page_csrf_headers(http)
        assert http.request(method, path, json={"version": 1}, headers=headers).status_code not in (401, 403)


def page_csrf_headers(http: TestClient) -> dict:
    """What the UI's own script sends with a write: the page's CSRF token (bound to the session) and Origin."""
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', http.get("/").text).group(1)
    return {"X-CSRF-Token": token, "Origin": BASE_URL}


def test_a_new_session_id_at_every_sign_in_and_the_old_one_is_refused(auth_app):
    with client(auth_app) as http:
        http.cookies.set(COOKIE, "chosen-by-an-attacker")
        first = session_cookie(sign_in(http, "viewer"))
        assert first != "chosen-by-an-attacker"
        second = session_cookie(sign_in(http, "viewer"))
        assert second != first
    with client(auth_app) as http:
        http.cookies.set(COOKIE, first)
        assert http.get("/api/runs/x/metrics/loss").status_code == 401  # replaced at the second sign-in
        http.cookies.set(COOKIE, second)
        assert http.get("/").status_code == 200


def test_a_cookie_replayed_after_sign_out_is_refused(auth_app):
    with client(auth_app) as http:
        cookie = session_cookie(sign_in(http, "editor"))
        assert http.get("/").status_code == 200
        assert http.post("/logout").status_code == 303
    with client(auth_app) as replay:
        replay.cookies.set(COOKIE, cookie)
        assert replay.get("/").status_code == 303
        assert replay.get("/api/runs/x/metrics/loss").status_code == 401


def test_a_session_ends_after_the_idle_time_and_when_its_user_is_removed(auth_app, users_file):
    clock = [1_000_000.0]
    auth = auth_app.state.auth
    auth.settings = dataclasses.replace(auth.settings, now=lambda: clock[0], idle_seconds=3600)
    with client(auth_app) as http:
        sign_in(http, "viewer")
        clock[0] += 3000
        assert http.get("/").status_code == 200  # a request restarts the idle clock
        clock[0] += 3000
        assert http.get("/").status_code == 200
        clock[0] += 3601
        assert http.get("/").status_code == 303
        sign_in(http, "viewer")
        from duckml.ui.users import remove_user
        remove_user(users_file, "viewer")
        assert http.get("/").status_code == 303


def test_failed_sign_ins_are_slowed_then_lock_the_account_and_the_page_says_so(auth_app):
    clock = [1_000_000.0]
    auth = auth_app.state.auth
    auth.settings = dataclasses.replace(auth.settings, now=lambda: clock[0], free_failures=2, delay_seconds=1,
                                        lock_after=5, lock_seconds=600)
    with client(auth_app) as http:
        for _ in range(2):
            assert sign_in(http, "editor", "wrong password").status_code == 401
        early = sign_in(http, "editor")  # the third attempt waits, even with the right password (not checked)
        assert early.status_code == 429 and int(early.headers["retry-after"]) == 1
        assert "Too many failed sign-ins" in early.text
        clock[0] += 1.5
        assert sign_in(http, "editor", "wrong password").status_code == 401
        assert sign_in(http, "editor", "wrong password").headers["retry-after"] == "2"  # the wait doubles
        clock[0] += 2.5
        assert sign_in(http, "editor", "wrong password").status_code == 401
        clock[0] += 4.5
        locked = sign_in(http, "editor", "wrong password")  # the fifth failure
        assert locked.status_code == 429 and "locked" in locked.text
        clock[0] += 300
        still = sign_in(http, "editor")
        assert still.status_code == 429 and "This account is locked" in still.text
        assert 290 <= int(still.headers["retry-after"]) <= 300
        clock[0] += 301
        assert sign_in(http, "editor").status_code == 303  # the lock has passed
        assert http.get("/").status_code == 200


def test_failures_from_one_address_slow_sign_ins_to_every_account(auth_app):
    clock = [1_000_000.0]
    auth = auth_app.state.auth
    auth.settings = dataclasses.replace(auth.settings, now=lambda: clock[0], free_failures=3)
    with client(auth_app) as http:
        for name in ("nobody1", "nobody2", "nobody3"):
            assert sign_in(http, name, "guess").status_code == 401
        assert sign_in(http, "admin").status_code == 429


def test_the_signed_in_user_is_the_actor_of_the_writes_of_the_request(auth_app):
    seen = []

    def probe(request):
        from starlette.responses import JSONResponse
        seen.append(current_actor())
        return JSONResponse({})

    auth_app.router.routes.insert(0, Route("/api/runs/probe", probe, methods=["POST"]))
    with client(auth_app) as http:
        sign_in(http, "editor")
        assert http.post("/api/runs/probe").status_code == 200
    assert seen == ["editor"] and current_actor() is None


def test_a_users_file_with_a_wrong_mode_or_format_is_refused_at_start(auth_folder, users_file):
    users_file.chmod(0o644)
    with pytest.raises(duckml.errors.InvalidInputError, match="group or others may read"):
        create_app(auth_folder[1], users_file=users_file)
    result = CliRunner().invoke(duckml.cli.cli, ["--store", str(auth_folder[1]), "ui", "--no-browser",
                                                 "--auth", str(users_file)])
    assert result.exit_code == 1 and "chmod 600" in result.output
    users_file.write_text("{}")
    users_file.chmod(0o600)
    with pytest.raises(duckml.errors.InvalidInputError, match="not one duckml wrote"):
        create_app(auth_folder[1], users_file=users_file)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "ml.example.com"])
def test_serving_beyond_loopback_without_auth_is_refused_naming_auth(auth_folder, host):
    result = CliRunner().invoke(duckml.cli.cli, ["--store", str(auth_folder[1]), "ui", "--no-browser",
                                                 "--host", host])
    assert result.exit_code == 1
    assert "--auth" in result.output and f"--host {host}" in result.output


def test_allowed_host_extends_the_host_check(auth_folder, users_file):
    plain = create_app(auth_folder[1])
    named = create_app(auth_folder[1], allowed_host_names=("ML.example.com",))
    with client(plain, "http://ml.example.com") as http:
        assert http.get("/").status_code == 400
    with client(named, "http://ml.example.com:8080") as http:
        assert http.get("/").status_code == 200
        assert http.get("/", headers={"host": "other.example.com"}).status_code == 400


def test_a_sign_in_or_out_posted_from_another_origin_is_refused(auth_app):
    with client(auth_app) as http:
        foreign = sign_in_from(http, "https://evil.example")
        assert foreign.status_code == 403 and COOKIE not in foreign.headers.get("set-cookie", "")
        assert sign_in_from(http, "http://localhost:5000").status_code == 303
        assert http.post("/logout", headers={"origin": "https://evil.example"}).status_code == 403
        assert http.get("/").status_code == 200  # still signed in
        assert http.post("/logout", headers={"origin": "http://localhost:5000"}).status_code == 303


def sign_in_from(http, origin):
    return http.post("/login", data={"username": "viewer", "password": PASSWORD}, headers={"origin": origin})


def test_a_users_file_made_unsafe_while_serving_stops_every_sign_in_with_a_clear_answer(auth_app, users_file,
                                                                                         capsys):
    with client(auth_app) as http:
        sign_in(http, "viewer")
        assert http.get("/").status_code == 200
        users_file.chmod(0o644)
        refused = http.get("/")
        assert refused.status_code == 503 and "users file is unsafe or missing" in refused.json()["error"]
        assert str(users_file) not in refused.text and "chmod 600" in capsys.readouterr().err
        assert sign_in(http, "viewer").status_code == 503
        users_file.unlink()
        assert http.get("/api/runs/x/metrics/loss").status_code == 503


def test_a_sign_in_form_larger_than_a_form_is_refused_without_reading_it_all(auth_app):
    with client(auth_app) as http:
        answer = http.post("/login", content=b"username=viewer&password=" + b"x" * 100_000,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413
