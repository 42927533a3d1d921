"""The UI as a workspace, through TestClient: many runs' histories in one request, the experiment's chart
view, and the run list's columns, numbers, filter errors and paging."""

from __future__ import annotations

EXPERIMENT = "/experiments/sweep & <b>co</b>"


def test_histories_of_many_runs_come_in_one_request(client, ui_store):
    children = ui_store["children"]
    query = "&".join(f"run={r}" for r in [*children, ui_store["hostile"]])
    response = client.get(f"/api/histories?key=loss&points=10&{query}")
    assert response.status_code == 200
    runs = response.json()["runs"]
    assert set(runs) == set(children)  # the run without "loss" is left out
    for run_id in children:
        alone = client.get(f"/api/runs/{run_id}/metrics/loss?points=10").json()
        assert runs[run_id] == alone


def test_histories_keep_a_spike_and_refuse_bad_input(client, ui_store):
    hostile = ui_store["hostile"]
    data = client.get(f"/api/histories?key=spiky&points=20&run={hostile}").json()["runs"][hostile]
    assert max(data["max"]) == 1000.0 and data["points"] == 20_000
    assert client.get(f"/api/histories?run={hostile}").status_code == 400  # no key
    too_many = "&".join(f"run=r{i}" for i in range(101))
    response = client.get(f"/api/histories?key=loss&{too_many}")
    assert response.status_code == 400 and "100" in response.json()["error"]


def chart_data(html: str) -> dict:
    import json
    import re

    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def test_chart_view_lists_histories_and_single_values(client, ui_store):
    response = client.get(EXPERIMENT + "?view=charts")
    assert response.status_code == 200
    data = chart_data(response.text)
    assert data["view"] == "charts"
    assert sorted(data["owners"]["loss"]) == sorted(ui_store["children"])  # a history in each child
    assert "spiky" in data["owners"]
    rmse = data["singles"]["rmse"]  # a single value per child: bars, sorted by value
    assert [v for _, v in rmse] == [0.5, 1.5, 2.5]
    assert {r["run_id"] for r in data["runs"]} >= set(ui_store["children"])


def test_chart_view_filters_and_shows_a_filter_error(client, ui_store):
    data = chart_data(client.get(EXPERIMENT + "?view=charts&filter=metrics.rmse < 1").text)
    assert [r["run_id"] for r in data["runs"]] == [ui_store["children"][0]]
    response = client.get(EXPERIMENT + "?view=charts&filter=metrics.rmse <")
    assert response.status_code == 200 and 'id="filter-error"' in response.text
    assert "charts" in client.get(EXPERIMENT).text  # the run list links to it


def test_min_and_max_columns_read_the_ingests_summary_not_the_history(private_client, private_ui_store, fresh_store):
    import duckdb

    app_store = private_client.app.state.store
    app_store.store.release()
    con = duckdb.connect(str(fresh_store))
    try:  # a summary that disagrees with the history shows which one the page read
        con.execute("UPDATE _duckml_metric_summary SET max = 4242.5 WHERE key = 'loss' AND run_id = ?",
                    [private_ui_store["children"][0]])
    finally:
        con.close()
    body = private_client.get(EXPERIMENT + "?col=metrics.loss:max&col=metrics.loss:min").text
    assert "4242.5" in body or "4242" in body
    assert "loss (min)" in body
