"""The UI in a real headless Chromium (Debian's package): every page loads, charts draw, nothing errors.

Screenshots go to the test's temp folder. Skipped, saying why, only where no chromium or no Playwright exists.
"""

from __future__ import annotations

import numpy as np
import pytest

import duckml

from browser import browser, canvas_sizes, chromium_path, serving, wait_for_charts, wait_until  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_path() is None, reason="no chromium here: apt-get install chromium"),
]
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    """The demo's store, plus a run with a 300,000-point history holding one spike; served by uvicorn."""
    from duckml.demo import run_demo

    folder = tmp_path_factory.mktemp("demo")
    path = run_demo(str(folder), echo=lambda *a: None)
    values = np.sin(np.arange(300_000) / 5000.0)
    values[123_456] = 40.0
    with duckml.start_run(run_name="long", experiment_name="weekly-sales") as run:
        duckml.log_param("model", "long")
        duckml.log_metric_series("train_loss", values)
    duckml.flush()
    runs = duckml.search_runs(order_by=["metrics.rmse"])
    with serving(path) as base:
        yield {"base": base, "runs": runs, "long": run.info.run_id}
    duckml.set_store(None)


@pytest.fixture(scope="module")
def chromium():
    with browser() as launched:
        yield launched


def open_page(chromium, url, scheme="light"):
    page = chromium.new_page(viewport={"width": 1400, "height": 900}, color_scheme=scheme)
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page, problems


def test_every_page_loads_without_errors(demo_site, chromium, tmp_path):
    boosting = demo_site["runs"].filter(demo_site["runs"]["params.model"] == "gradient_boosting")["run_id"][0]
    urls = {"home": "/", "run-list": "/experiments/weekly-sales", "run": f"/runs/{boosting}?artifact=report.txt",
            "model": "/models/sales-forecast"}
    for name, url in urls.items():
        page, problems = open_page(chromium, demo_site["base"] + url)
        assert page.title().endswith("duckml"), name
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        assert problems == [], (name, problems)
        page.close()
    assert (tmp_path / "run-list.png").stat().st_size > 10_000


def test_run_page_draws_a_chart_per_history(demo_site, chromium, tmp_path):
    page, problems = open_page(chromium, f"{demo_site['base']}/runs/{demo_site['long']}")
    assert wait_for_charts(page, 1) == 1
    assert all(w > 200 and h > 100 for w, h in canvas_sizes(page))
    note = page.locator(".chart .note").first.inner_text()
    assert "300,000 points" in note and "buckets drawn" in note
    # the spike is in the data the chart holds (buckets' max), not averaged away
    assert page.evaluate("Math.max(...window.duckmlCharts[0].data.slice(1).flat().filter(v => v !== null))") == 40.0
    page.screenshot(path=str(tmp_path / "run-long.png"), full_page=True)
    assert problems == []


def test_zoom_refetches_the_range(demo_site, chromium):
    page, problems = open_page(chromium, f"{demo_site['base']}/runs/{demo_site['long']}")
    wait_for_charts(page, 1)
    box = page.locator(".u-over").first.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.up()
    assert wait_until(page, "document.querySelector('.chart .note').textContent.includes('steps')")
    assert "zoom_train_loss=" in page.url  # the zoom is view state, kept in the URL
    low, high = page.evaluate("[window.duckmlCharts[0].data[0][0], window.duckmlCharts[0].data[0].at(-1)]")
    assert 100_000 < low < high < 150_000
    assert problems == []


def test_compare_overlays_histories_and_draws_svg_plots(demo_site, chromium, tmp_path):
    ids = demo_site["runs"]["run_id"].to_list()
    query = "&".join(f"run={i}" for i in ids)
    page, problems = open_page(chromium, f"{demo_site['base']}/compare?{query}")
    assert wait_for_charts(page, 1) == 1
    assert page.evaluate("window.duckmlCharts[0].series.filter(s => s.label.includes('@')).length") >= 2
    assert page.locator("#parcoords svg polyline").count() >= len(ids) - 1
    assert page.locator("#scatter svg circle").count() >= 2
    rows = page.locator("table.compare tbody tr").all_inner_texts()
    assert rows[0].split("\t")[1].startswith("params.")  # differing params first
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    assert problems == []


def test_dark_mode_follows_the_os(demo_site, chromium, tmp_path):
    light, _ = open_page(chromium, demo_site["base"] + "/", "light")
    dark, _ = open_page(chromium, demo_site["base"] + "/", "dark")
    background = "getComputedStyle(document.body).backgroundColor"
    assert light.evaluate(background) != dark.evaluate(background)
    dark.screenshot(path=str(tmp_path / "home-dark.png"))


def test_alias_timeline_draws(demo_site, chromium):
    page, problems = open_page(chromium, demo_site["base"] + "/models/sales-forecast")
    assert page.locator("#timeline svg rect").count() >= 1
    assert "@champion" in page.locator("#timeline svg").inner_html()
    assert problems == []


def test_foreign_host_refused_by_the_real_server(demo_site):
    import httpx

    response = httpx.get(demo_site["base"] + "/", headers={"host": "rebind.example:80"})
    assert response.status_code == 400
