"""Bounded work and clean errors on every UI route (issue 22, items 7-9 and 13-14): out-of-range numbers
get a 400 naming the parameter, every response carries the security headers (errors included), filters
and column lists have limits, and the SQL console's page has a byte budget."""

from __future__ import annotations

import re
import warnings

import pytest

from duckml.ui import queries

from tests.ui.conftest import BASE_URL
from tests.ui.test_ui_routes import assert_secure

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

EXPERIMENT = "/experiments/sweep & <b>co</b>"


@pytest.mark.parametrize("name, value", [
    ("page", "99999999999999999999"),
    ("step_to", "-" + "1" + "0" * 41),
    ("step_from", "9" * 30),
    ("points", "9" * 30),
])
def test_out_of_range_numbers_are_a_400_naming_the_parameter(client, ui_store, name, value):
    url = EXPERIMENT if name == "page" else f"/api/runs/{ui_store['hostile']}/metrics/spiky"
    response = client.get(url, params={name: value})
    assert response.status_code == 400
    assert name in response.text
    assert_secure(response)


def test_error_responses_carry_the_security_headers(shared_ui, monkeypatch):
    client = shared_ui.client
    not_found = client.get("/no/such/page")
    assert not_found.status_code == 404
    assert_secure(not_found)
    bad = client.get(EXPERIMENT, params={"col": "runs.x"})
    assert bad.status_code == 400
    assert_secure(bad)

    def broken(store):
        raise RuntimeError("a bug")

    monkeypatch.setattr(queries, "overview", broken)
    with TestClient(client.app, base_url=BASE_URL, raise_server_exceptions=False) as quiet:
        crashed = quiet.get("/")
    assert crashed.status_code == 500
    assert "a bug" not in crashed.text and "Traceback" not in crashed.text
    assert_secure(crashed)


def test_a_thousand_term_filter_is_refused_with_the_limit(client):
    huge = " and ".join(f"params.k{i} = 'x'" for i in range(1000))
    response = client.get(EXPERIMENT, params={"filter": huge})
    assert response.status_code == 200  # filter errors are shown inline, like a typo
    error = re.search(r'id="filter-error">(.*?)</p>', response.text, re.S)
    assert error and "more than 200 keys" in error.group(1)


def test_columns_per_page_are_limited(client):
    tokens = [f"params.k{i}" for i in range(101)]
    refused = client.get(EXPERIMENT, params={"col": tokens})
    assert refused.status_code == 400
    assert "col" in refused.text and "100 columns" in refused.text
    shown = client.get(EXPERIMENT, params={"col": tokens[:100]})
    assert shown.status_code == 200
    assert len(shown.content) < 1_000_000
