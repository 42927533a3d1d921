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


def _console_error(response) -> str | None:
    found = re.search(r'<p class="error">(.*?)</p>', response.text, re.S)
    return found.group(1) if found else None


def test_sql_console_page_has_a_byte_budget(client):
    response = client.get("/sql", params={"q": "SELECT repeat('<', 200000) AS big, range AS n FROM range(1000)"})
    assert response.status_code == 200
    assert _console_error(response) is None
    # 800 MB before: every cell is cut in SQL at CELL_CHARS, and rows stop at PAGE_CHARS characters
    assert len(response.content) < 6 * console_limits()["page_chars"] + 100_000
    info = re.search(r'id="result-info">(.*?)</p>', response.text, re.S).group(1)
    assert "cut at 1000 characters" in info and "stopped at the page" in info
    assert '<span class="cut"' in response.text
    assert "&lt;" * 1000 in response.text and "&lt;" * 1001 not in response.text


def console_limits() -> dict:
    from duckml.ui import console

    return {"cell_chars": console.CELL_CHARS, "page_chars": console.PAGE_CHARS}


def test_sql_console_cuts_in_sql_rows_columns_and_nested_values(shared_ui):
    from duckml.sqlresult import Cut
    from duckml.ui import console

    result = console.run_console_query(
        shared_ui.store, "SELECT [repeat('x', 5000)] AS l, repeat('y', 50) AS short, 'z' || range AS n "
                         "FROM range(10) ORDER BY range DESC", cell_chars=100, page_chars=10**6)
    assert [row[2] for row in result["rows"]] == [f"z{i}" for i in range(9, -1, -1)]
    assert all(isinstance(row[0], Cut) and len(row[0]) == 100 for row in result["rows"])
    assert result["rows"][0][1] == "y" * 50 and not isinstance(result["rows"][0][1], Cut)
    assert result["cut_cells"] == 10
    wide = console.run_console_query(
        shared_ui.store, "SELECT " + ", ".join(f"{i} AS c{i}" for i in range(console.MAX_COLUMNS + 5)))
    assert wide["column_count"] == console.MAX_COLUMNS + 5 and len(wide["columns"]) == console.MAX_COLUMNS
    assert len(wide["rows"][0]) == console.MAX_COLUMNS


def test_sql_console_shows_timestamptz_and_infinite_times(client, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pytz", None)  # as with the declared dependencies
    response = client.get("/sql", params={"q": "SELECT TIMESTAMPTZ '2026-01-02 03:04:05+02' AS t, now() AS now, "
                                               "'infinity'::TIMESTAMP AS i, '-infinity'::DATE AS d"})
    assert _console_error(response) is None, _console_error(response)
    assert "2026-01-02 01:04:05+00:00" in response.text
    assert "<td>infinity</td>" in response.text.replace('<td class="">', "<td>")
    assert "-infinity" in response.text and "9999-12-31" not in response.text
