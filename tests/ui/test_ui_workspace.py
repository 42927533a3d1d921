"""The UI as a workspace, through TestClient: many runs' histories in one request, the experiment's chart
view, and the run list's columns, numbers, filter errors and paging."""

from __future__ import annotations

from duckml.ui import queries

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


def test_chart_view_preloads_one_request_for_every_history_panel(client, ui_store):
    import html

    body = client.get(EXPERIMENT + "?view=charts").text
    data = chart_data(body)
    url = data["histories_url"]
    assert f'<link rel="preload" as="fetch" crossorigin href="{html.escape(url)}">' in body
    answer = client.get(url)
    assert answer.status_code == 200
    assert {key: sorted(runs) for key, runs in answer.json()["keys"].items()} == \
        {key: sorted(owners) for key, owners in data["owners"].items()}


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


def test_the_run_page_reads_min_and_max_from_the_ingests_summary(private_client, private_ui_store, fresh_store):
    import duckdb

    run_id = private_ui_store["children"][0]
    private_client.app.state.store.store.release()
    con = duckdb.connect(str(fresh_store))
    try:  # a summary that disagrees with the history shows which one the page read
        con.execute("UPDATE _duckml_metric_summary SET max = 4242, count = 777 WHERE key = 'loss' AND run_id = ?", [run_id])
    finally:
        con.close()
    body = private_client.get(f"/runs/{run_id}").text
    assert '<td class="num">4242</td><td class="num">777</td>' in body  # max (4 digits on this page), points


def test_the_run_page_summary_of_a_running_run_includes_its_pending_points(private_client, private_ui_store):
    import duckml

    run = duckml.start_run(run_name="live-summary", experiment_name="live-summary")
    try:
        duckml.log_metric_series("loss", [5.0, -3.0, 2.0])  # still in the journal: not flushed
        details = queries.run_detail(private_client.app.state.store, run.info.run_id)
        assert [(m["last"], m["min"], m["max"], m["count"]) for m in details["metrics"]] == [(2.0, -3.0, 5.0, 3)]
        duckml.flush()
        duckml.log_metric("loss", 9.5, step=7)  # the stored summary and a pending point, merged
        details = queries.run_detail(private_client.app.state.store, run.info.run_id)
        assert [(m["last"], m["min"], m["max"], m["count"]) for m in details["metrics"]] == [(9.5, -3.0, 9.5, 4)]
    finally:
        duckml.end_run()


def test_default_columns_are_the_params_that_differ_then_the_metrics(client):
    body = client.get(EXPERIMENT, params={"filter": "metrics.rmse > 0"}).text  # the three children
    head = body[body.index("<thead>"):body.index("</thead>")]
    assert 'title="params.alpha"' in head and 'title="metrics.rmse"' in head
    assert 'title="params.model"' not in head  # every child has model=ridge: it tells nothing
    assert head.index('title="params.alpha"') < head.index('title="metrics.rmse"')


def test_numbers_keep_their_differences_in_the_run_list_and_the_console(private_client, private_ui_store):
    import duckml

    for value in (0.957834, 0.957754):
        with duckml.start_run(experiment_name="close"):
            duckml.log_metric("acc", value)
    duckml.flush()
    body = private_client.get("/experiments/close").text
    assert ">0.95783<" in body and ">0.95775<" in body and ">0.9578<" not in body
    assert 'title="0.957834"' in body  # every digit on hover
    console = private_client.get("/sql", params={"q": "SELECT * FROM (VALUES (0.957834::DOUBLE), (0.957754)) t(x)"}).text
    assert ">0.95783<" in console and ">0.95775<" in console


def test_a_filter_error_keeps_the_count_and_marks_the_text_without_changing_it(client):
    body = client.get(EXPERIMENT, params={"filter": "metrics.rmse < and"}).text
    assert "5 runs" in body and "0 runs" not in body
    assert ">>>" not in body
    assert '<pre class="error caret" id="filter-caret">metrics.rmse &lt; and\n' + " " * 15 + "^</pre>" in body


def test_an_unknown_key_gets_the_nearest_known_ones(client):
    body = client.get(EXPERIMENT, params={"filter": "params.modle = 'ridge'"}).text
    assert "no run has params.modle: did you mean params.model?" in body


def test_the_page_number_is_clamped(client):
    body = client.get(EXPERIMENT, params={"page": "999"}).text
    assert "page 1 of 1" in body and "page 999" not in body
    assert ">child-0<" in body


def test_run_name_search_group_by_and_csv(client, ui_store):
    body = client.get(EXPERIMENT, params={"q": "CHILD-1"}).text
    assert ">child-1<" in body and ">child-0<" not in body and "1 run<" in body
    grouped = client.get(EXPERIMENT, params={"group": "params.alpha", "filter": "metrics.rmse > 0"}).text
    assert grouped.count('class="group-head"') == 3 and "params.alpha = <b>0.1</b>" in grouped
    assert client.get(EXPERIMENT, params={"group": "metrics.rmse"}).status_code == 400
    response = client.get(EXPERIMENT, params={"filter": "metrics.rmse > 0", "order_by": "metrics.rmse",
                                                "format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.strip().splitlines()
    assert lines[0].startswith("run_id,run_name,status,start_time,end_time,")
    assert [line.split(",")[1] for line in lines[1:]] == ["child-0", "child-1", "child-2"]
    assert "select-all" in client.get(EXPERIMENT).text


def test_csv_exports_the_whole_view_not_only_the_page(private_client, private_ui_store):
    import csv
    import io

    import duckml

    for i in range(60):  # more than two pages of 25
        with duckml.start_run(run_name=f"r{i:02d}" + ("-odd" if i % 2 else ""), experiment_name="many"):
            duckml.log_params({"i": i, "parity": i % 2})
            duckml.log_metric_series("loss", [100.0 - i, float(i), 50.0])
    duckml.flush()
    view = {"filter": "params.parity = '1'", "order_by": "metrics.loss ASC", "q": "odd", "page_size": "25",
            "page": "2", "col": ["params.i", "metrics.loss:min", "metrics.loss:max"]}
    response = private_client.get("/experiments/many", params={**view, "format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "content-length" not in response.headers  # streamed
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["run_id", "run_name", "status", "start_time", "end_time", "params.i",
                             "metrics.loss:min", "metrics.loss:max"]
    odd = [i for i in range(60) if i % 2]  # every odd run, on every page; loss ends at 50 in each (a tie),
    assert sorted(int(r["params.i"]) for r in rows) == odd  # so the order is the list's: newest first
    assert [r["run_name"] for r in rows] == [f"r{i:02d}-odd" for i in reversed(odd)]
    assert {(r["metrics.loss:min"], r["metrics.loss:max"]) for r in rows if r["params.i"] == "59"} == {("41.0", "59.0")}
    bad = private_client.get("/experiments/many", params={"filter": "params.i <", "format": "csv"})
    assert bad.status_code == 400 and "filter" in bad.text


def test_responses_are_gzip_compressed(client, ui_store):
    for url in (EXPERIMENT, f"/api/histories?key=loss&points=100&run={ui_store['children'][0]}"):
        response = client.get(url, headers={"accept-encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip", url
        assert response.headers["x-content-type-options"] == "nosniff"  # the guard's headers stay


def test_compare_has_tag_start_and_duration_rows(client, ui_store):
    runs = [ui_store["hostile"], ui_store["children"][0]]
    body = client.get(f"/compare?run={runs[0]}&run={runs[1]}").text
    data = chart_data(body)
    kinds = {(r["kind"], r["key"]) for r in data["rows"]}
    assert {("tag", "owner"), ("attribute", "start_time"), ("attribute", "duration_s")} <= kinds
    assert not any(k.startswith("mlflow.") for kind, k in kinds if kind == "tag")
    duration = next(r for r in data["rows"] if r["key"] == "duration_s")
    assert all(isinstance(v, float) and v >= 0 for v in duration["values"])
    assert "tags.owner" in body and "attributes.start_time" in body


def test_histories_of_several_metrics_come_from_one_request(client, ui_store):
    runs = [*ui_store["children"], ui_store["hostile"]]
    query = "&".join(f"run={r}" for r in runs)
    body = client.get(f"/api/histories?key=loss&key=spiky&points=10&{query}").json()
    assert set(body["keys"]) == {"loss", "spiky"}
    assert set(body["keys"]["spiky"]) == {ui_store["hostile"]}
    alone = client.get(f"/api/histories?key=loss&points=10&{query}").json()["runs"]
    assert body["keys"]["loss"] == alone
    too_many = "&".join(f"key=k{i}" for i in range(51))
    assert client.get(f"/api/histories?{too_many}&run={runs[0]}").status_code == 400
