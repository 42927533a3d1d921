"""The experiment's chart view and the compare page in Chromium while a writer process logs to a RUNNING run
next to the UI (one store file): the new points go into the charts drawn, and the run ends, without a reload
of the page (a marker on ``window`` survives), with the zoom the user dragged to and the scroll kept.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import duckml

from browser import browser, chromium_path, serving, wait_for_charts, wait_until  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_path() is None, reason="no chromium here: apt-get install chromium"),
]
pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")

WRITER = """
import os, sys, time
import duckml
with duckml.start_run(run_name="writer", experiment_name="live") as run:
    duckml.log_param("lr", "0.1")
    for step in range(10):
        duckml.log_metric("loss", 1.0 / (step + 1), step=step)
    duckml.flush()  # the UI shows the run RUNNING with 10 points
    print(run.info.run_id, flush=True)
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.01)
    for step in range(10, 40):
        duckml.log_metric("loss", 1.0 / (step + 1), step=step)
        duckml.log_metric("acc", step / 40, step=step)  # a metric the pages have no chart of yet
        time.sleep(0.01)
duckml.flush()
"""

# the uPlot chart of the loss panel
LOSS = "window.duckmlCharts.find((u) => u.root.closest('.chart').dataset.key === 'loss')"
LOSS_NOTE = "document.querySelector('.chart[data-key=loss] .note').textContent"


def _open(chromium, url, problems, height=900):
    page = chromium.new_page(viewport={"width": 1400, "height": height})
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.evaluate("window.liveMarker = 'before the update'")  # a reload would wipe it
    return page


def _wait_in_place(page, expression: str, timeout: float):
    """wait_until, where a reload of the page (its script context destroyed under the poll) fails the test
    as what it is."""
    try:
        return wait_until(page, expression, timeout=timeout)
    except Exception as error:  # playwright's Error: the page navigated while being asked
        if "context was destroyed" in str(error):
            pytest.fail(f"the page was reloaded: {error}")
        raise


def _drag_zoom(page) -> list[float]:
    """Drag across the middle of the loss panel (on a time axis uPlot zooms in place: not in the URL)."""
    page.locator(".chart[data-key=loss] .u-over").scroll_into_view_if_needed()
    box = page.locator(".chart[data-key=loss] .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.55, y, steps=5)
    page.mouse.up()
    zoom = page.evaluate(f"(() => {{ const u = {LOSS}; u.liveMarker = 'same chart';"
                         f" return [u.scales.x.min, u.scales.x.max, u.data[0][0], u.data[0].at(-1)]; }})()")
    assert zoom[2] < zoom[0] < zoom[1] < zoom[3], zoom  # zoomed in
    return zoom[:2]


@pytest.fixture
def running(tmp_path):
    """A store with a finished run "seed" (5 points of loss) served on a free port, and a writer process
    whose run "writer" is RUNNING with 10 points of loss; ``finish()`` lets it log 30 more and end."""
    store = tmp_path / "store.duckdb"
    duckml.set_store(store)
    try:
        with duckml.start_run(run_name="seed", experiment_name="live") as seed:
            duckml.log_param("lr", "0.2")
            duckml.log_metric("score", 0.5)  # a single value: a bar panel in the chart view
            # five points a second apart: a time axis of 0-4 s to zoom into
            duckml.log_metric_series("loss", [0.9, 0.7, 0.5, 0.4, 0.35],
                                     timestamps=[1_800_000_000_000 + 1000 * i for i in range(5)])
        duckml.flush()
        go = tmp_path / "go"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUCKML_")}
        env.update(DUCKML_STORE=str(store), HOME=str(tmp_path / "writer"), XDG_CACHE_HOME=str(tmp_path / "writer"))
        with serving(store) as base, browser() as chromium:
            writer = subprocess.Popen([sys.executable, "-c", WRITER, str(go)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                run_id = writer.stdout.readline().strip()
                assert run_id, writer.stderr.read()

                def finish():
                    go.touch()
                    _, err = writer.communicate(timeout=120)
                    assert writer.returncode == 0, err

                yield {"base": base, "chromium": chromium, "seed": seed.info.run_id, "run": run_id,
                       "finish": finish}
            finally:
                if writer.poll() is None:
                    go.touch()
                    writer.wait(timeout=120)
    finally:
        duckml.set_store(None)


def test_chart_view_follows_a_running_run_in_place_keeping_the_zoom(running):
    problems: list[str] = []
    charts = _open(running["chromium"], f"{running['base']}/experiments/live?view=charts&x=relative", problems)
    wait_for_charts(charts, 1)
    assert charts.evaluate(LOSS_NOTE).startswith("15 points")
    legend_running = charts.evaluate("document.querySelector('.chart[data-key=loss] .legend').textContent")
    status_running = charts.inner_text("#live-status")
    zoom = _drag_zoom(charts)
    # what else the user chose: the score panel hidden (kept in the URL), the seed's line switched off
    charts.locator(".chart[data-key=score] button[data-action=hide]").click()
    assert "hide=score" in charts.url
    charts.evaluate(f"{LOSS}.setSeries({LOSS}.series.findIndex((s) => s.label === 'seed'), {{ show: false }})")
    running["finish"]()
    # the panel gets every point and the run ends; the same chart keeps the zoom the user dragged to
    assert _wait_in_place(charts, f"{LOSS_NOTE}.startsWith('45 points')", timeout=60), charts.evaluate(LOSS_NOTE)
    assert charts.evaluate("window.liveMarker") == "before the update", "the chart view was reloaded"
    assert charts.evaluate(f"{LOSS}.liveMarker") == "same chart"  # new data, not a new chart
    assert charts.evaluate(f"[{LOSS}.scales.x.min, {LOSS}.scales.x.max]") == zoom
    assert charts.evaluate(f"{LOSS}.series.find((s) => s.label === 'seed').show") is False
    # the new metric got its panel, in order; the hidden one stays hidden
    assert _wait_in_place(charts, "document.querySelectorAll('#charts .chart').length === 2", timeout=30)
    assert charts.evaluate("[...document.querySelectorAll('#charts .chart')].map((b) => b.dataset.key)") == \
        ["acc", "loss"]
    assert wait_until(charts, "window.duckmlCharts.length === 2") and "hide=score" in charts.url
    assert not charts.is_checked("input[name=panel-shown][value=score]")
    assert charts.is_checked("input[name=panel-shown][value=acc]")
    assert status_running.startswith("live")
    assert wait_until(charts, "document.getElementById('live-status').textContent.includes('no run')",
                      timeout=30), charts.inner_text("#live-status")
    # polling stopped: no pause button any more
    assert charts.evaluate("getComputedStyle(document.getElementById('refresh-pause')).visibility") == "hidden"
    # the legend marks the running run, until it ends
    assert "writer (running)" in legend_running
    assert "(running)" not in charts.inner_text(".chart[data-key=loss] .legend")
    assert problems == []


def test_compare_follows_a_running_run_in_place_keeping_the_scroll(running):
    problems: list[str] = []
    compare = _open(running["chromium"], f"{running['base']}/compare?run={running['seed']}&run={running['run']}"
                    "&sx=params.lr", problems, height=500)
    wait_for_charts(compare, 1)
    assert compare.evaluate(LOSS_NOTE).startswith("15 points")
    compare.evaluate("window.scrollTo(0, 150)")  # scrolled down a little
    assert compare.evaluate("window.scrollY") == 150
    writer_loss = ("[...document.querySelectorAll('table.compare tbody tr')]"
                   ".find((r) => r.querySelector('th').textContent === 'metrics.loss')"
                   ".querySelectorAll('td')[2].title")
    writer_status = "document.querySelectorAll('table.compare thead th')[3].querySelector('.status').textContent"
    assert compare.evaluate(writer_loss) == "0.1" and compare.evaluate(writer_status) == "RUNNING"
    running["finish"]()
    # the values, the status and the charts follow (a chart for the new metric too), at the same scroll
    assert _wait_in_place(compare, f"{writer_status} === 'FINISHED' && {LOSS_NOTE}.startsWith('45 points')",
                      timeout=60), compare.evaluate(LOSS_NOTE)
    assert compare.evaluate("window.liveMarker") == "before the update", "the compare page was reloaded"
    assert compare.evaluate(writer_loss) == repr(1 / 40)
    assert _wait_in_place(compare, "document.querySelectorAll('#charts .chart').length === 2", timeout=30)
    assert compare.evaluate("window.scrollY") == 150
    assert "sx=params.lr" in compare.url
    assert compare.evaluate("document.querySelector('#scatter-form select[name=sx]').value") == "params.lr"
    assert wait_until(compare, "document.getElementById('live-status').textContent.includes('no run')", timeout=30)
    assert problems == []
