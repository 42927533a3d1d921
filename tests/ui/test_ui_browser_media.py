"""The run page's image slider and System metrics charts in a real headless Chromium (Debian's package)."""

from __future__ import annotations

import numpy as np
import pytest

import duckml

from browser import browser, chromium_path, serving, wait_until  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_path() is None, reason="no chromium here: apt-get install chromium"),
]
pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")


def test_the_slider_walks_the_steps_of_an_image_series(fresh_store, tmp_path):
    with duckml.start_run(run_name="media") as run:
        for step in (0, 5, 10):  # a different size per step tells the images apart once loaded
            duckml.log_image(np.full((10 + step, 20, 3), 200, dtype=np.uint8), key="val/sample", step=step)
        for step in range(3):
            duckml.log_metrics({"system/cpu_utilization_percentage": 10.0 + step, "loss": 1.0 / (step + 1)}, step=step)
    duckml.flush()
    with serving(fresh_store) as base, browser() as chromium:
        page = chromium.new_page(viewport={"width": 1200, "height": 900})
        problems = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.goto(f"{base}/runs/{run.run_id}")
        page.wait_for_load_state("networkidle")
        image = "document.querySelector('figure.image-series img')"
        assert wait_until(page, f"{image}.complete && {image}.naturalHeight === 20")  # the last step, 10
        slider = page.locator("figure.image-series input[type=range]")
        slider.focus()
        page.keyboard.press("ArrowLeft")
        assert wait_until(page, f"{image}.complete && {image}.naturalHeight === 15")  # step 5
        assert page.locator("figure.image-series output").inner_text().startswith("step 5 · ")
        assert "img_val%2Fsample=5" in page.url  # the view is a link, as everywhere in the UI
        page.keyboard.press("Home")
        assert wait_until(page, f"{image}.complete && {image}.naturalHeight === 10")  # step 0
        # the system metric is charted in its own section, the others where they always were
        assert wait_until(page, "document.querySelectorAll('#system-charts canvas').length >= 1")
        assert page.evaluate("document.querySelectorAll('#charts .chart').length") == 1
        page.screenshot(path=str(tmp_path / "run-media.png"), full_page=True)
        page.reload()
        page.wait_for_load_state("networkidle")
        assert wait_until(page, f"{image}.complete && {image}.naturalHeight === 10")  # restored from the URL
        assert problems == []
