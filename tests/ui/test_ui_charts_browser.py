"""Charts that show the data, in a real headless Chromium: a one-point spike among a million points is
drawn at full view (read back from the canvas pixels), the hover gives a bucket's last, min and max, and
the experiment's chart view draws a panel per metric with its order, hiding and groups kept in the URL.
"""

from __future__ import annotations

import numpy as np
import pytest

import duckml

from browser import browser, chromium_path, serving, wait_for_charts, wait_until  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_path() is None, reason="no chromium here: apt-get install chromium"),
]
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")

SPIKE_STEP = 654_321
SPIKE = 5.25
POINTS = 1_000_000


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A 1M-point run with one spike, and a 5-run sweep with histories, single values and system metrics."""
    path = tmp_path_factory.mktemp("charts") / "s.duckdb"
    duckml.set_store(path)
    values = 0.1 + 0.001 * np.sin(np.arange(POINTS) / 5000.0)
    values[SPIKE_STEP] = SPIKE
    with duckml.start_run(run_name="long", experiment_name="long") as long_run:
        duckml.log_metric_series("loss", values)
    runs = []
    with duckml.start_run(run_name="setup", experiment_name="sweep"):
        pass
    for i in range(5):
        with duckml.start_run(run_name=f"run-{i}", experiment_name="sweep") as run:
            duckml.log_params({"model": "rf" if i % 2 else "gbm"})
            if i != 4:  # one run lacks lr: parallel coordinates place it apart
                duckml.log_param("lr", 0.1 * (i + 1) if i != 3 else 12)
            duckml.set_tag("team", "a" if i < 2 else "b")
            # each run logs at its own pace: on a time axis no two runs share an x
            duckml.log_metric_series("train_loss", np.linspace(1.0, 0.1, 200) * (i + 1),
                                     timestamps=1_800_000_000_000 + np.arange(200) * (1000 + 7 * i))
            duckml.log_metric_series("system/cpu", np.full(20, 10.0 * i))
            duckml.log_metric("rmse", 0.5 + 0.1 * ((i * 3) % 5))
            runs.append(run.info.run_id)
    duckml.flush()
    with serving(path) as base:
        yield {"base": base, "long": long_run.info.run_id, "runs": runs}
    duckml.set_store(None)


@pytest.fixture(scope="module")
def chromium():
    with browser() as launched:
        yield launched


def open_page(chromium, url):
    page = chromium.new_page(viewport={"width": 1400, "height": 900})
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page, problems


# The topmost canvas row, in the columns around the spike's step, whose pixel is the series' own colour
# (within a small distance): what a reader sees, not what the chart object holds.
SPIKE_TOP = """([step, rgb]) => {
  const u = window.duckmlCharts[0];
  const x = Math.round(u.valToPos(step, "x", true));
  const canvas = u.ctx.canvas;
  const pixels = u.ctx.getImageData(x - 2, 0, 5, canvas.height).data;
  let top = null;
  for (let y = 0; y < canvas.height && top === null; y++) {
    for (let dx = 0; dx < 5; dx++) {
      const i = (y * 5 + dx) * 4;
      const d = Math.abs(pixels[i] - rgb[0]) + Math.abs(pixels[i + 1] - rgb[1]) + Math.abs(pixels[i + 2] - rgb[2]);
      if (d < 90 && pixels[i + 3] > 200) { top = y; break; }
    }
  }
  return {top, expected: u.valToPos(%s, "y", true), baseline: u.valToPos(0.1, "y", true),
          buckets: u.data[0].length};
}""" % SPIKE


def test_one_point_spike_in_a_million_is_drawn_at_full_view(site, chromium, tmp_path):
    page, problems = open_page(chromium, f"{site['base']}/runs/{site['long']}")
    assert wait_for_charts(page, 1) == 1
    assert wait_until(page, "document.querySelector('.chart .note').textContent.includes('1,000,000 points')")
    found = page.evaluate(SPIKE_TOP, [SPIKE_STEP, [0x1F, 0x77, 0xD4]])  # duckml.color(0)
    page.screenshot(path=str(tmp_path / "spike.png"))
    assert found["buckets"] < 10_000  # full view: downsampled, not every point
    assert found["top"] is not None
    # the extent reaches the spike's value, far above the line of the other points
    assert abs(found["top"] - found["expected"]) <= 4, found
    assert found["baseline"] - found["top"] > 50, found
    assert problems == []


def test_hover_shows_the_buckets_last_min_and_max_at_full_precision(site, chromium):
    page, _ = open_page(chromium, f"{site['base']}/runs/{site['long']}")
    wait_for_charts(page, 1)
    # the x of the bucket holding the spike (a bucket sits at its last step)
    x = page.evaluate(f"""(() => {{ const u = window.duckmlCharts[0];
        const i = u.data[0].findIndex((x, i) => x >= {SPIKE_STEP} && u.data[2][i] !== null);
        return u.valToPos(u.data[0][i], 'x'); }})()""")
    box = page.locator(".u-over").first.bounding_box()
    page.mouse.move(box["x"] + x, box["y"] + box["height"] / 2)
    assert wait_until(page, "document.getElementById('hover-params').textContent.includes('max')")
    text = page.locator("#hover-params").inner_text()
    assert f"max {SPIKE}" in text, text
    bucket = page.evaluate(f"""(() => {{ const u = window.duckmlCharts[0]; const i = u.cursor.idx;
        return u.data[1][i]; }})()""")
    assert repr(bucket) in text  # the last value, every digit (JS and Python print doubles alike)


def test_charts_have_axis_titles_a_legend_and_the_page_width(site, chromium):
    ids = "&".join(f"run={r}" for r in site["runs"][:3])
    page, problems = open_page(chromium, f"{site['base']}/compare?{ids}")
    wait_for_charts(page, 2)
    # uPlot paints axis titles on the canvas: read what it was told to paint
    labels = page.evaluate("""window.duckmlCharts.find(u => u.root.closest('.chart').dataset.key === 'train_loss')
                              .axes.map(a => a.label)""")
    assert labels == ["step", "train_loss"]
    legend = page.locator(".chart .legend").first.inner_text()
    assert all(f"run-{i}" in legend for i in range(3))
    width = page.evaluate("document.querySelector('.chart').getBoundingClientRect().width")
    assert width > 1000  # one chart per row at 1400 px, not a 460 px tile
    assert problems == []


def test_chart_view_draws_a_panel_per_metric_and_keeps_order_and_hiding_in_the_url(site, chromium, tmp_path):
    page, problems = open_page(chromium, f"{site['base']}/experiments/sweep?view=charts")
    assert wait_for_charts(page, 2) == 2  # train_loss and system/cpu as lines
    keys = page.evaluate("[...document.querySelectorAll('#charts .chart')].map(b => b.dataset.key)")
    assert keys == ["rmse", "train_loss"]
    assert page.evaluate("[...document.querySelectorAll('#system-charts .chart')].map(b => b.dataset.key)") == ["system/cpu"]
    # a line per run that has the history; the single values as bars sorted by value
    lines = page.evaluate("""window.duckmlCharts.find(u => u.root.closest('.chart').dataset.key === 'train_loss')
                             .series.filter(s => s.label.startsWith('run-')).length""")
    assert lines == 5
    bars = page.evaluate("[...document.querySelectorAll('.chart[data-key=rmse] .bar-row')].map(r => +r.dataset.value)")
    assert len(bars) == 5 and bars == sorted(bars)
    page.screenshot(path=str(tmp_path / "chart-view.png"), full_page=True)
    # move train_loss first, hide rmse: kept in the URL, and the URL gives the same view back
    page.locator(".chart[data-key=train_loss] button[data-action=earlier]").click()
    assert "panel=train_loss" in page.url
    page.locator(".chart[data-key=rmse] button[data-action=hide]").click()
    assert "hide=rmse" in page.url
    again, _ = open_page(chromium, page.url)
    wait_for_charts(again, 2)
    assert again.evaluate("[...document.querySelectorAll('#charts .chart')].map(b => b.dataset.key)") == ["train_loss"]
    assert not again.locator("input[name=panel-shown][value=rmse]").is_checked()
    assert problems == []


def test_chart_view_fetches_its_histories_once_from_the_pages_preload(site, chromium):
    page, problems = open_page(chromium, f"{site['base']}/experiments/sweep?view=charts")
    wait_for_charts(page, 2)
    # one request for every history panel, started by the page's <link rel=preload> while the scripts load
    initiators = page.evaluate("""performance.getEntriesByType('resource')
                                  .filter(r => r.name.includes('/api/histories')).map(r => r.initiatorType)""")
    assert initiators == ["link"]
    assert problems == []


def test_chart_view_follows_the_filter(site, chromium):
    page, problems = open_page(chromium, f"{site['base']}/experiments/sweep?view=charts&filter=params.model%3D'rf'")
    wait_for_charts(page, 2)
    assert page.locator(".chart[data-key=rmse] .bar-row").count() == 2
    assert problems == []


def test_parallel_coordinates_place_missing_values_apart_brush_and_keep_labels_apart(site, chromium):
    ids = "&".join(f"run={r}" for r in site["runs"])
    page, problems = open_page(chromium, f"{site['base']}/compare?{ids}&pa=params.lr&pa=params.model&pa=metrics.rmse")
    assert page.locator("#parcoords polyline.pc-line").count() == 5  # every run a line, none a dot
    assert page.locator("#parcoords circle").count() == 0
    # lr: 0.1 0.2 0.3 12 and one missing; numbers by value (12 on top), the missing one below the axis
    ys = page.evaluate("""[...document.querySelectorAll('#parcoords polyline.pc-line')]
                          .map(l => +l.getAttribute('points').split(' ')[0].split(',')[1])""")
    axis = page.evaluate("""(() => { const l = document.querySelector('#parcoords line.axis');
                             return [+l.getAttribute('y1'), +l.getAttribute('y2')]; })()""")
    assert min(ys) == axis[0]  # 12 at the top: compared as a number, not as text
    assert sorted(ys)[-1] > axis[1]  # the run without lr, apart below the axis
    assert sum(1 for y in ys if y > axis[1]) == 1
    # a colour legend of the colouring column, with no run colour reused
    assert "metrics.rmse" in page.evaluate("document.querySelector('#parcoords .pc-legend').textContent")
    # axis titles and tick labels do not overlap
    boxes = page.evaluate("""[...document.querySelectorAll('#parcoords text')].map(t => { const b = t.getBBox();
                              return [b.x, b.y, b.x + b.width, b.y + b.height]; })""")
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    # brushing the top of the lr axis keeps only the run with lr = 12
    page.locator("#parcoords svg").scroll_into_view_if_needed()
    hit = page.locator("#parcoords rect.axis-hit").first.bounding_box()
    page.mouse.move(hit["x"] + 12, hit["y"] + 1)
    page.mouse.down()
    page.mouse.move(hit["x"] + 12, hit["y"] + 20, steps=4)
    page.mouse.up()
    assert page.evaluate("document.getElementById('parcoords').dataset.selected") == "1"
    # moving an axis is kept in the URL
    page.locator("#parcoords .axis-handle[data-axis='params.model'][data-step='-1']").click()
    assert page.url.index("pa=params.model") < page.url.index("pa=params.lr")
    assert problems == []


def test_scatter_offers_text_columns_and_keeps_its_labels_inside(site, chromium):
    ids = "&".join(f"run={r}" for r in site["runs"])
    page, problems = open_page(chromium, f"{site['base']}/compare?{ids}&sx=tags.team&sy=params.model")
    options = page.evaluate("[...document.querySelector('#scatter-form select[name=sx]').options].map(o => o.value)")
    assert {"tags.team", "params.model", "attributes.duration_s", "metrics.rmse"} <= set(options)
    assert page.locator("#scatter circle").count() == 5
    width = page.evaluate("document.querySelector('#scatter svg').getAttribute('width')")
    boxes = page.evaluate("""[...document.querySelectorAll('#scatter text')].map(t => {
        const b = t.getBoundingClientRect(), s = t.ownerSVGElement.getBoundingClientRect();
        return [b.left - s.left, b.top - s.top, b.right - s.left, b.bottom - s.top, s.width, s.height]; })""")
    for left, top, right, bottom, w, h in boxes:
        assert left >= -0.5 and top >= -0.5 and right <= w + 0.5 and bottom <= h + 0.5, (left, top, right, bottom, width)
    assert problems == []


def test_time_since_start_hover_lists_every_run(site, chromium):
    ids = "&".join(f"run={r}" for r in site["runs"])
    page, problems = open_page(chromium, f"{site['base']}/compare?{ids}&x=relative")
    wait_for_charts(page, 2)
    page.locator(".chart[data-key=train_loss] .u-over").scroll_into_view_if_needed()
    box = page.locator(".chart[data-key=train_loss] .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    assert wait_until(page, "document.getElementById('hover-params').style.display === 'block'"), problems
    text = page.locator("#hover-params").inner_text()
    assert all(f"run-{i}:" in text for i in range(5)), text
