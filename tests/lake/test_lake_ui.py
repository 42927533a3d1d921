"""`duckml ui` on a lake store: it starts (create_app used to call .exists() on the spec string), serves
with sign-in, and `--workers 2` answers a bounded load of 20 clients x 50 page loads without an error."""

from __future__ import annotations

import warnings

import pytest

import duckml
from duckml.ui.users import add_user

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.slow


def _fill(runs=6):
    for i in range(runs):
        with duckml.start_run(run_name=f"r{i}", experiment_name="team"):
            duckml.log_param("alpha", i)
            duckml.log_metric_series("loss", [1.0 / (s + 1 + i) for s in range(100)])
    duckml.flush()


def test_the_ui_starts_on_a_lake_and_needs_a_sign_in(lake, tmp_path):
    from duckml.ui import create_app

    _fill()
    users = tmp_path / "users.json"
    add_user(users, "ada", "a long password", "viewer")
    app = create_app(None, users_file=users)
    with TestClient(app, base_url="http://localhost:5000", follow_redirects=False) as http:
        assert http.get("/experiments/team").status_code == 303
        assert http.post("/login", data={"username": "ada", "password": "a long password"}).status_code == 303
        page = http.get("/experiments/team")
        assert page.status_code == 200 and page.text.count('name="run" value=') == 6
