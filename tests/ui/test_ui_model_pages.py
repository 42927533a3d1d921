"""The registry and PREDICT pages: /models, /models/<name>/versions/<n>, /predictions (TestClient)."""

from __future__ import annotations

import hashlib
import re
import warnings

import pytest

import duckml

from tests.ui.conftest import BASE_URL, HOSTILE, fill_ui_store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def fill_models_store(tmp_path):
    """The UI store, plus a source of new rows scored into a table and a Parquet file, and a compiled macro."""
    import polars as pl

    ids = fill_ui_store(tmp_path)
    source = tmp_path / "new_rows.parquet"
    pl.DataFrame({"shop": ["north", HOSTILE, "south", "north"], "f0": [1.0, 2.0, 3.0, 5.0]}).write_parquet(source)
    duckml.predict("models:/reg@champion", str(source), output="forecasts")
    duckml.predict("models:/reg/1", str(source), output=str(tmp_path / "scored.parquet"))
    duckml.compile_model("models:/reg@champion")
    duckml.flush()
    jobs = duckml.connect().sql("SELECT output_kind, prediction_id FROM predictions").fetchall()
    return {**ids, "jobs": dict(jobs)}


@pytest.fixture(scope="module")
def models_ui(store_templates, tmp_path_factory):
    from duckml.ui import create_app

    folder = tmp_path_factory.mktemp("ui-models")
    ids = store_templates.copy_into("ui-models", fill_models_store, folder)
    path = store_templates.store_path(folder)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    app = create_app(path)
    try:
        with TestClient(app, base_url=BASE_URL) as client:
            yield client, ids
    finally:
        app.state.store.close()
        duckml.reset_state()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "a test wrote to the models UI store"


def test_models_list_is_searchable(models_ui):
    client, _ = models_ui
    page = client.get("/models").text
    row = re.search(r'<tr><td><a href="/models/reg">reg</a></td>(.*?)</tr>', page, re.S).group(1)
    assert '<a href="/models/reg/versions/2">v2</a>' in row
    assert "@champion → v2" in row
    assert '<td class="num">2</td>' in row  # two PREDICT jobs
    assert 'href="/models/reg"' in client.get("/models?q=REG").text
    none = client.get("/models?q=nothing-like-it").text
    assert 'href="/models/reg"' not in none and "No registered model" in none
    escaped = client.get("/models", params={"q": HOSTILE}).text
    assert "<script>alert" not in escaped


def test_models_breadcrumb_goes_to_the_list(models_ui):
    client, _ = models_ui
    for url in ("/models/reg", "/models/reg/versions/1"):
        assert '<a href="/models">models</a>' in client.get(url).text, url


def test_model_version_page(models_ui):
    client, ids = models_ui
    response = client.get("/models/reg/versions/1")
    assert response.status_code == 200
    page = response.text
    signature = re.search(r'<table class="grid" id="signature">(.*?)</table>', page, re.S).group(1)
    assert "<td>f0</td><td>double</td>" in signature
    assert f'<a href="/runs/{ids["hostile"]}">&lt;script&gt;' in page  # the source run, escaped
    assert 'id="datasets"' in page and "<td>train</td>" in page and "<td>training</td>" in page
    assert "Not compiled" in page  # the macro follows @champion, which is v2
    assert f'href="/predictions?id={ids["jobs"]["parquet"]}"' in page
    assert f'href="/predictions?id={ids["jobs"]["table"]}"' not in page  # that job used v2
    v2 = client.get("/models/reg/versions/2").text
    assert re.search(r'<ul id="compiled"><li><code>predict_reg_champion</code> \(follows @champion\)', v2)
    assert f'href="/predictions?id={ids["jobs"]["table"]}"' in v2
    assert "@champion" in v2


@pytest.mark.parametrize("url, status, message", [
    ("/models/reg/versions/9", 404, "no version 9"), ("/models/nope/versions/1", 404, "nope"),
    ("/models/reg/versions/x", 400, "positive integer"), ("/models/reg/versions/0", 400, "positive integer")])
def test_model_version_errors(models_ui, url, status, message):
    client, _ = models_ui
    response = client.get(url)
    assert response.status_code == status and message in response.text


def test_predictions_list_preview_and_chart(models_ui):
    client, ids = models_ui
    page = client.get("/predictions").text
    jobs = re.search(r'<table class="grid" id="prediction-jobs">(.*?)</table>', page, re.S).group(1)
    assert jobs.count("<tr") == 3  # the head and two jobs
    assert '<a href="/models/reg/versions/2">reg v2</a>' in jobs and '<a href="/models/reg/versions/1">reg v1</a>' in jobs
    table = client.get(f"/predictions?id={ids['jobs']['table']}").text
    preview = re.search(r'<table class="grid" id="prediction-preview">(.*?)</table>', table, re.S).group(1)
    assert "<th>shop</th>" in preview and "<th>prediction</th>" in preview
    assert "<script>alert" not in table and "&lt;script&gt;" in preview
    chart = re.search(r'<figure class="bar-chart" id="prediction-chart">(.*?)</figure>', table, re.S).group(1)
    assert "avg(prediction) by shop" in chart
    bars = re.findall(r"<title>shop (.*?): ", chart)
    assert sorted(bars) == sorted(["north", "south", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"])
    # the forecast is the model's own: a line through (1, 2), (2, 4), (3, 6) predicts 2 x; north = avg(2, 10)
    assert "<title>shop north: 6.0</title>" in chart
    summed = client.get(f"/predictions?id={ids['jobs']['table']}&agg=sum&value=f0&by=shop").text
    assert "<title>shop north: 6.0</title>" in summed and "sum(f0) by shop" in summed
    parquet = client.get(f"/predictions?id={ids['jobs']['parquet']}").text
    assert 'id="prediction-preview"' in parquet and "<th>prediction</th>" in parquet


@pytest.mark.parametrize("query, message", [
    ("by=nope", "by must be one of the output"), ("value=shop", "value must be a numeric column"),
    ("agg=median", "agg must be one of"), ("id=nope", "no PREDICT job")])
def test_prediction_chart_bad_choices_are_400(models_ui, query, message):
    client, ids = models_ui
    if not query.startswith("id="):
        query = f"id={ids['jobs']['table']}&{query}"
    response = client.get(f"/predictions?{query}")
    assert response.status_code == 400 and message in response.text


def test_predictions_page_without_jobs(client):
    page = client.get("/predictions").text
    assert "No PREDICT job has written an output yet" in page
