"""The run page shows what log_image, log_table and the system-metrics sampler logged: image series with a
step slider, JSON tables as escaped HTML tables, and the system/ metrics in a section of their own."""

from __future__ import annotations

import html
import json
import re
import warnings

import numpy as np
import pytest

import duckml

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tests.ui.conftest import BASE_URL, HOSTILE  # noqa: E402


@pytest.fixture
def page(fresh_store):
    """(run id, GET function) for a run holding an image series, a table and system metrics."""
    from duckml.ui import create_app

    with duckml.start_run(run_name="media") as run:
        for step in (0, 5, 10):
            duckml.log_image(np.full((6, 4, 3), step * 20, dtype=np.uint8), key="val/sample", step=step)
        duckml.log_image(np.zeros((4, 4), dtype=np.uint8), key="single")
        duckml.log_table({"input": [HOSTILE, "plain"], "score": [0.25, None]}, "eval/table.json")
        duckml.log_metrics({"system/cpu_utilization_percentage": 12.5, "system/disk_usage_percentage": 40.0}, step=0)
        duckml.log_metrics({"system/cpu_utilization_percentage": 30.0, "system/disk_usage_percentage": 41.0}, step=1)
        duckml.log_metric("accuracy", 0.9)
    duckml.flush()
    with TestClient(create_app(fresh_store), base_url=BASE_URL) as client:
        yield run.run_id, client


def _section(text: str, name: str) -> str:
    found = re.search(rf'<section id="{name}">(.*?)</section>', text, re.S)
    assert found, f"no section {name}"
    return found.group(1)


def test_image_series_are_shown_at_their_last_step_with_a_slider_over_every_step(page):
    run_id, client = page
    text = client.get(f"/runs/{run_id}").text
    images = _section(text, "images")
    assert images.count('<figure class="image-series"') == 2
    assert 'max="2" value="2" aria-label="step of val/sample"' in images
    assert 'aria-label="step of single"' not in images  # one point: nothing to slide
    series = json.loads(html.unescape(re.search(r'id="image-series-data">(.*?)</script>', text, re.S).group(1)))
    sample = next(s for s in series if s["key"] == "val/sample")
    assert [p["step"] for p in sample["points"]] == [0, 5, 10]
    shown = re.search(r'<img src="([^"]+)" alt="val/sample at step 10">', images).group(1)
    assert html.unescape(shown) == sample["points"][-1]["url"]
    for point in sample["points"]:  # every step's image is served, and is the PNG logged at that step
        response = client.get(point["url"])
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        from io import BytesIO
        from PIL import Image
        pixels = np.asarray(Image.open(BytesIO(response.content)))
        assert pixels.shape == (6, 4, 3) and (pixels == point["step"] * 20).all()
        assert client.get(point["thumbnail"]).headers["content-type"] == "image/webp"
    assert '<script src="/static/images.js" defer></script>' in text
    assert client.get("/static/images.js").status_code == 200


def test_tables_are_rendered_as_escaped_html_tables(page):
    run_id, client = page
    tables = _section(client.get(f"/runs/{run_id}").text, "tables")
    assert "<th>input</th><th>score</th>" in tables
    assert HOSTILE not in tables and html.escape(HOSTILE, quote=False).replace("'", "&#39;") in tables
    assert "<td>plain</td><td></td>" in tables and "<td>0.25</td>" in tables
    assert "2 rows" in tables


def test_system_metrics_have_their_own_section_and_leave_the_metrics_table(page):
    run_id, client = page
    text = client.get(f"/runs/{run_id}").text
    system = _section(text, "system-metrics")
    assert 'title="system/cpu_utilization_percentage">cpu_utilization_percentage</th>' in system
    assert 'id="system-charts"' in system
    metrics_table = text.split("<h2>Metrics</h2>", 1)[1].split("</table>", 1)[0]
    assert "accuracy" in metrics_table and "system/" not in metrics_table
    chart_keys = json.loads(html.unescape(re.search(r'id="chart-data">(.*?)</script>', text, re.S).group(1)))["keys"]
    assert set(chart_keys) == {"system/cpu_utilization_percentage", "system/disk_usage_percentage"}


def test_a_run_without_media_has_none_of_these_sections(fresh_store):
    from duckml.ui import create_app

    with duckml.start_run() as run:
        duckml.log_metric("loss", 1.0)
    duckml.flush()
    with TestClient(create_app(fresh_store), base_url=BASE_URL) as client:
        text = client.get(f"/runs/{run.run_id}").text
    assert 'id="images"' not in text and 'id="tables"' not in text and 'id="system-metrics"' not in text


def test_a_table_that_is_not_one_says_why_instead_of_failing(fresh_store):
    from duckml.ui import create_app

    with duckml.start_run() as run:
        duckml.log_table({"a": [1]}, "t.json")
        duckml.log_text("not json", "t.json")  # the file was replaced after log_table listed it
    duckml.flush()
    with TestClient(create_app(fresh_store), base_url=BASE_URL) as client:
        response = client.get(f"/runs/{run.run_id}")
    assert response.status_code == 200
    assert "Cannot show this table" in _section(response.text, "tables")
