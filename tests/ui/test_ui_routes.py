"""Every route of the UI through Starlette's TestClient: status, JSON shape, headers, Host check, artifact
safety, escaping of user data, filters, pagination and the compare/model pages."""

from __future__ import annotations

import re

import pytest

import duckml

from duckml.ui import queries



SECURITY_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY"}


def assert_secure(response):
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp or "default-src 'none'" in csp
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert not any(h.lower().startswith("access-control-") for h in response.headers)


def page_urls(ids):
    child = ids["children"][0]
    return ["/", "/experiments/sweep & <b>co</b>", f"/runs/{ids['parent']}", f"/runs/{child}",
            f"/runs/{ids['hostile']}", f"/compare?run={ids['children'][0]}&run={ids['children'][1]}",
            "/models/reg", "/models/reg?as_of=2000-01-01", f"/runs/{ids['hostile']}?artifact=notes/readme.txt"]


def test_every_page_renders_with_security_headers(client, ui_store):
    for url in page_urls(ui_store):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert_secure(response)


def test_static_files_are_served_and_guarded(client):
    for path in ("/static/vendor/uPlot.iife.min.js", "/static/app.js", "/static/charts.js", "/static/app.css"):
        response = client.get(path)
        assert response.status_code == 200 and len(response.content) > 100, path
        assert_secure(response)
    assert client.get("/static/../queries.py").status_code == 404
    assert client.get("/static/%2e%2e/queries.py").status_code == 404


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5000", "127.0.0.1.nip.io", "localhost.evil.example", ""])
def test_foreign_host_is_refused(client, ui_store, host):
    for url in page_urls(ui_store)[:3] + [f"/api/runs/{ui_store['hostile']}/metrics/spiky"]:
        response = client.get(url, headers={"host": host})
        assert response.status_code == 400, (host, url)
        assert_secure(response)


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1:5000", "[::1]:5000", "LOCALHOST"])
def test_loopback_hosts_are_accepted(client, host):
    assert client.get("/", headers={"host": host}).status_code == 200


def test_bound_address_is_accepted_and_others_refused(shared_ui):
    from starlette.testclient import TestClient

    from duckml.ui import create_app

    app = create_app(shared_ui.store.path, host="192.168.1.20")
    with TestClient(app, base_url="http://192.168.1.20:5000") as remote:
        assert remote.get("/").status_code == 200
        assert remote.get("/", headers={"host": "192.168.1.21"}).status_code == 400


def test_no_cors_even_when_asked(client):
    response = client.get("/", headers={"origin": "http://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert client.options("/", headers={"origin": "http://evil.example",
                                         "access-control-request-method": "GET"}).status_code == 405


def test_metric_json_shape_and_spike(client, ui_store):
    response = client.get(f"/api/runs/{ui_store['hostile']}/metrics/spiky?points=100")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert_secure(response)
    data = response.json()
    assert {"step", "value", "min", "max"} <= set(data)
    assert len(data["step"]) == len(data["value"]) == len(data["min"]) == len(data["max"]) <= 100
    assert max(data["max"]) == 1000.0  # the one spike among 20,000 zeros survives
    assert data["points"] == 20_000
    assert data["step"] == sorted(data["step"])


def test_metric_json_zoom_refetches_the_range(client, ui_store):
    data = client.get(f"/api/runs/{ui_store['hostile']}/metrics/spiky?points=50&step_from=12000&step_to=12999").json()
    assert data["points"] == 1000
    assert all(12000 <= s <= 12999 for s in data["step"])
    assert max(data["max"]) == 1000.0
    full = client.get(f"/api/runs/{ui_store['hostile']}/metrics/spiky?points=50&step_from=0&step_to=100").json()
    assert max(full["max"]) == 0.0


def test_short_history_comes_back_whole(client, ui_store):
    data = client.get(f"/api/runs/{ui_store['children'][0]}/metrics/loss?points=1000").json()
    assert data["step"] == list(range(50))
    assert data["value"] == data["min"] == data["max"]


@pytest.mark.parametrize("query, status", [("points=1", 400), ("points=abc", 400), ("points=100000", 400),
                                           ("step_from=x", 400), ("points=10", 200)])
def test_metric_json_bad_parameters(client, ui_store, query, status):
    response = client.get(f"/api/runs/{ui_store['hostile']}/metrics/spiky?{query}")
    assert response.status_code == status
    if status != 200:
        assert "error" in response.json()


def test_metric_json_unknown_run_or_key_is_404(client, ui_store):
    assert client.get("/api/runs/nope/metrics/spiky").status_code == 404
    response = client.get(f"/api/runs/{ui_store['hostile']}/metrics/nope")
    assert response.status_code == 404 and "nope" in response.json()["error"]


def test_hostile_names_are_escaped_everywhere(client, ui_store):
    for url in page_urls(ui_store):
        body = client.get(url).text
        assert "<script>alert" not in body, url
        assert "<img src=x" not in body, url
        assert "<b>co</b>" not in body, url
    run_page = client.get(f"/runs/{ui_store['hostile']}").text
    assert "&lt;script&gt;alert(" in run_page
    # the JSON blob for the charts is inert: no closing tag can end its script element early
    blob = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', run_page, re.S).group(1)
    assert "<" not in blob


def test_text_artifact_preview_is_escaped(client, ui_store):
    body = client.get(f"/runs/{ui_store['hostile']}?artifact=notes/readme.txt").text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in body


@pytest.mark.parametrize("path", ["page.html", "plot.svg"])
def test_html_and_svg_artifacts_are_never_rendered(client, ui_store, path):
    page = client.get(f"/runs/{ui_store['hostile']}?artifact={path}").text
    assert "<svg xmlns" not in page and "<html><script>" not in page
    if path == "plot.svg":  # an image that is a document: download only
        assert "No preview for this type" in page and "<img src" not in page
    else:  # HTML is text: shown as escaped source
        assert "&lt;html&gt;&lt;script&gt;alert(1)" in page
    response = client.get(f"/runs/{ui_store['hostile']}/artifact", params={"path": path})
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in response.headers["content-security-policy"]


def test_image_artifact_is_shown_inline(client, ui_store):
    page = client.get(f"/runs/{ui_store['hostile']}?artifact=plots/chart.png").text
    assert '<img src="/runs/' in page
    response = client.get(f"/runs/{ui_store['hostile']}/artifact", params={"path": "plots/chart.png"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"].startswith("inline")
    assert response.content.startswith(b"\x89PNG")


@pytest.mark.parametrize("path", ["../../duckml.duckdb", "../test.duckdb", "/etc/passwd", "notes/../page.html",
                                  "notes/./readme.txt", "..%2f..%2ftest.duckdb", "objects", "", "notes",
                                  "notes/readme.txt/", "NOTES/readme.txt"])
def test_artifact_traversal_attempts_find_nothing(client, ui_store, path):
    response = client.get(f"/runs/{ui_store['hostile']}/artifact", params={"path": path})
    assert response.status_code == 404
    if path:  # an empty ?artifact= asks for no preview
        assert client.get(f"/runs/{ui_store['hostile']}", params={"artifact": path}).status_code == 404


def test_artifact_of_another_run_is_not_served(client, ui_store):
    response = client.get(f"/runs/{ui_store['parent']}/artifact", params={"path": "notes/readme.txt"})
    assert response.status_code == 404
    assert client.get("/runs/../artifact", params={"path": "notes/readme.txt"}).status_code == 404


def test_artifact_row_pointing_outside_objects_is_refused(private_client, private_ui_store, store):
    with store.write() as con:  # a hand-edited row must not lead the UI to another file
        con.execute("UPDATE artifacts SET sha256 = '../../test' WHERE run_id = ? AND path = 'page.html'",
                    [private_ui_store["hostile"]])
    response = private_client.get(f"/runs/{private_ui_store['hostile']}/artifact", params={"path": "page.html"})
    assert response.status_code == 404


def test_run_page_shows_everything(client, ui_store):
    body = client.get(f"/runs/{ui_store['hostile']}").text
    for expected in ("spiky", "20000", "train", "training", "reg", "v1", "v2", "@champion", "notes/readme.txt",
                     "plots/chart.png", "owner"):
        assert expected in body, expected
    parent = client.get(f"/runs/{ui_store['parent']}").text
    assert "child-0" in parent and "compare children" in parent
    child = client.get(f"/runs/{ui_store['children'][0]}").text
    assert f'href="/runs/{ui_store["parent"]}"' in child


def test_unknown_pages_are_404(client):
    for url in ("/runs/nope", "/experiments/nope", "/models/nope", "/compare?run=nope", "/nothing"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert_secure(response)


def test_run_list_nests_children_and_offers_columns(client, ui_store):
    body = client.get("/experiments/sweep & <b>co</b>").text
    # the children (newest first, as every run) right after their parent, before the next top-level run
    assert body.index(">parent<") < body.index(">child-2<") < body.index(">child-1<") < body.index(">child-0<")
    assert body.count('class="depth-1"') == 3
    for column in ("metrics.loss:min", "metrics.loss:max", "metrics.rmse:last", "params.alpha", "tags.owner"):
        assert f'value="{column}"' in body


def test_run_list_filter_order_and_chosen_columns(client, ui_store):
    response = client.get("/experiments/sweep & <b>co</b>", params=[
        ("filter", "metrics.rmse > 1"), ("order_by", "metrics.rmse DESC"), ("col", "metrics.loss:max"),
        ("col", "params.alpha")])
    body = response.text
    assert response.status_code == 200
    assert body.index(">child-2<") < body.index(">child-1<")
    assert ">child-0<" not in body and ">parent<" not in body
    assert "loss (max)" in body and "alpha" in body
    assert '<td class="num" title="3.0">3</td>' in body  # child-2's loss starts at 3.0: its max (every digit on hover)


def test_run_list_shows_parse_error_inline(client):
    response = client.get("/experiments/sweep & <b>co</b>", params={"filter": "metrics.rmse <<< 'x"})
    assert response.status_code == 200
    assert 'id="filter-error"' in response.text
    assert 'value="metrics.rmse &lt;&lt;&lt; &#39;x"' in response.text
    bad_order = client.get("/experiments/sweep & <b>co</b>", params={"order_by": "metrics.rmse SIDEWAYS"})
    assert 'id="filter-error"' in bad_order.text


def test_run_list_rejects_bad_columns_and_page_sizes(client):
    assert client.get("/experiments/sweep & <b>co</b>", params={"col": "runs.x"}).status_code == 400
    assert client.get("/experiments/sweep & <b>co</b>", params={"page_size": "7"}).status_code == 400
    assert client.get("/experiments/sweep & <b>co</b>", params={"page": "x"}).status_code == 400


def test_run_list_paginates(store):
    with store.write() as con:
        con.execute("INSERT INTO experiments VALUES ('e1', 'many', 'active', now(), now())")
        con.execute("""INSERT INTO runs SELECT 'r' || lpad(i::VARCHAR, 4, '0'), 'e1', 'run ' || i, 'FINISHED',
                       TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND, NULL, 'active', NULL FROM range(130) AS t(i)""")
    first = queries.run_page(store, "many", page=1, page_size=50)
    last = queries.run_page(store, "many", page=3, page_size=50)
    assert first["total"] == last["total"] == 130
    assert len(first["runs"]) == 50 and len(last["runs"]) == 30
    assert first["runs"][0]["run_name"] == "run 129"  # newest first
    assert last["runs"][-1]["run_name"] == "run 0"
    beyond = queries.run_page(store, "many", page=9, page_size=50)
    assert beyond["runs"] == [] and beyond["total"] == 130


def test_compare_puts_differing_params_first(shared_ui, client, ui_store):
    ids = ui_store["children"]
    data = queries.compare(shared_ui.store, ids)
    kinds = [(r["kind"], r["differs"]) for r in data["rows"]]
    assert kinds == sorted(kinds, key=lambda k: (k[0] != "param", not k[1]))
    assert data["rows"][0]["key"] == "alpha" and data["rows"][0]["differs"]
    body = client.get(f"/compare?run={ids[0]}&run={ids[1]}&run={ids[2]}").text
    assert body.index("params.alpha") < body.index("params.model")
    only = client.get(f"/compare?run={ids[0]}&run={ids[1]}&diff=1").text
    assert "params.alpha" in only and "params.model" not in only
    assert "show all rows" in only


def test_compare_needs_runs(client):
    assert client.get("/compare").status_code == 400


def test_model_page_versions_aliases_timeline_and_snippet(shared_ui, client):
    body = client.get("/models/reg").text
    assert "models:/reg@champion" in body
    assert "predict('models:/reg@champion', 'new_data.parquet')" in body
    assert body.count("@champion") >= 3  # the version's alias, the history rows
    data = queries.model_page(shared_ui.store, "reg")
    assert [(h["alias"], h["version"]) for h in data["history"]] == [("champion", 1), ("champion", 2)]
    assert data["history"][0]["valid_to"] == data["history"][1]["valid_from"]


def test_model_page_as_of(shared_ui, client):
    data = queries.model_page(shared_ui.store, "reg")
    first = data["history"][0]
    inside = first["valid_from"]
    assert queries.model_page(shared_ui.store, "reg", inside)["as_of"] == [("champion", 1)]
    assert queries.model_page(shared_ui.store, "reg", data["history"][1]["valid_from"])["as_of"] == [("champion", 2)]
    assert client.get("/models/reg", params={"as_of": inside.isoformat()}).status_code == 200
    assert client.get("/models/reg", params={"as_of": "yesterday"}).status_code == 400


def test_running_runs_ask_for_refresh(private_client, private_ui_store):
    run = duckml.start_run(run_name="live", experiment_name="live-exp")
    duckml.log_metric("loss", 1.0)
    try:
        body = private_client.get("/experiments/live-exp").text
        assert 'data-running="1"' in body
        assert 'data-running="1"' in private_client.get(f"/runs/{run.info.run_id}").text
    finally:
        duckml.end_run()
    assert 'data-running="0"' in private_client.get("/experiments/live-exp").text


def test_view_state_survives_in_links(client):
    body = client.get("/experiments/sweep & <b>co</b>", params=[
        ("filter", "params.alpha > 0"), ("col", "metrics.loss:min"), ("col", "metrics.rmse:last"),
        ("page_size", "25")]).text
    # sorting links keep the filter, the columns and the page size
    link = re.search(r'href="([^"]*order_by=metrics[^"]*)"', body).group(1)
    assert "filter=params.alpha" in link and "col=metrics.loss%3Amin" in link and "page_size=25" in link


def test_sql_console_runs_one_select(client, ui_store):
    response = client.get("/sql", params={"q": "SELECT run_name, params['alpha'] AS alpha FROM runs_overview "
                                               "WHERE params['alpha'] IS NOT NULL ORDER BY run_name"})
    assert response.status_code == 200
    assert_secure(response)
    assert "child-0" in response.text and "4 rows" in response.text  # the parent and its 3 children
    hostile = client.get("/sql", params={"q": "SELECT run_name FROM runs"}).text
    assert "<script>alert" not in hostile and "&lt;script&gt;alert(" in hostile
    assert client.get("/sql").status_code == 200


@pytest.mark.parametrize("query, message", [
    ("DELETE FROM runs", "exactly one SELECT"),
    ("SELECT 1; SELECT 2", "exactly one SELECT"),
    ("CREATE TABLE x AS SELECT 1", "exactly one SELECT"),
    ("SELECT * FROM read_text('/etc/passwd')", "disabled"),
    ("SELECT * FROM read_csv('/etc/passwd')", "disabled"),
    ("SELECT * FROM predict('models:/reg@champion', 'x.parquet')", "predict"),
    ("SELECT * FROM nope", "nope"),
    ("SELEC 1", "parse"),
])
def test_sql_console_refuses_writes_files_and_predict(client, query, message):
    response = client.get("/sql", params={"q": query})
    assert response.status_code == 200
    error = re.search(r'<p class="error">(.*?)</p>', response.text, re.S)
    assert error and message in error.group(1)


def test_sql_console_caps_rows_and_time(shared_ui):
    from duckml.errors import QueryError
    from duckml.ui import console

    store = shared_ui.store

    result = console.run_console_query(store, "SELECT * FROM range(5000)", row_cap=100)
    assert len(result["rows"]) == 100 and result["truncated"]
    with pytest.raises(QueryError, match="longer than"):
        console.run_console_query(store, "SELECT count(*) FROM range(100000000000)", timeout=0.3)
    # the configuration is locked: nothing run on the connection can turn file access back on
    import duckdb

    con = console._locked_down_connection(store.path)
    try:
        with pytest.raises(duckdb.Error, match="Cannot change configuration"):
            con.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error, match="read-only|read only"):
            con.execute("DELETE FROM runs")
    finally:
        con.close()


def test_sql_console_refuses_cross_site_requests(client):
    response = client.get("/sql", params={"q": "SELECT 1"}, headers={"sec-fetch-site": "cross-site"})
    assert response.status_code == 403
    assert client.get("/sql", params={"q": "SELECT 1"}, headers={"sec-fetch-site": "same-origin"}).status_code == 200


def test_sorted_column_shows_its_direction_and_flips(client):
    body = client.get("/experiments/sweep & <b>co</b>", params={"order_by": "metrics.`rmse` ASC",
                                                                 "col": "metrics.rmse:last"}).text
    assert "rmse ▲" in body
    assert re.search(r'href="[^"]*order_by=metrics.rmse\+DESC[^"]*">rmse ▲', body)
