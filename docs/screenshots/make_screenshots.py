"""Regenerate the README's screenshots from the demo store (needs chromium and Playwright for Python):

    python docs/screenshots/make_screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parents[1] / "tests" / "ui")]

import duckml  # noqa: E402
from browser import browser, serving, wait_for_charts  # noqa: E402
from duckml.demo import run_demo  # noqa: E402


def main() -> None:
    path = run_demo(tempfile.mkdtemp(prefix="duckml-shots-"), echo=lambda *a: None)
    runs = duckml.search_runs(order_by=["metrics.rmse"])
    compare = "&".join(f"run={i}" for i in runs["run_id"].to_list())
    best = runs["run_id"][0]
    # an edited run, as the UI's edit controls leave it (they call these same API functions)
    duckml.set_tag("mlflow.note.content", "Best rmse of the sweep.\nCandidate for @champion: check store 16 first.",
                   run_id=best)
    duckml.set_tag("reviewed", "yes", run_id=best)
    duckml.flush()
    version = duckml.get_model_version_by_alias("sales-forecast", "champion").version
    shots = {"run-list.png": ("/experiments/weekly-sales?order_by=metrics.rmse+ASC", 0, 700),
             "compare.png": (f"/compare?{compare}&pc=rmse", 1, 1250),
             "edited-run.png": (f"/runs/{best}", 0, 620),
             "model-version.png": (f"/models/sales-forecast/versions/{version}", 0, 900),
             "chart-view.png": ("/experiments/weekly-sales?view=charts", 1, 1100)}
    with serving(path) as base, browser() as chromium:
        for name, (url, charts, height) in shots.items():
            page = chromium.new_page(viewport={"width": 1280, "height": height}, color_scheme="light")
            page.goto(base + url)
            page.wait_for_load_state("networkidle")
            wait_for_charts(page, charts)
            time.sleep(0.3)
            page.screenshot(path=str(HERE / name))
            page.close()
            print(HERE / name)


if __name__ == "__main__":
    main()
