"""The UI in Chromium while other processes log: their runs appear without a reload of the page.

On a lake two writer machines (each its own HOME and journal) log into the experiment a page shows; on a
single file one writer process logs beside the UI. The page keeps a marker on ``window`` set before the
writers start: a full reload would lose it. The user's selection, filter and typed text stay too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import duckml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
from browser import browser, chromium_path, serving, wait_until  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_path() is None, reason="no chromium here: apt-get install chromium"),
]
pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")

MACHINE = str(Path(__file__).with_name("machine.py"))
FILTER = "tags.team = 'lake'"

# status of each run row by name, as the page shows it now
ROWS = """[...document.querySelectorAll('table.runs tbody tr')].filter((r) => r.querySelector('td.name a'))
  .map((r) => [r.querySelector('td.name a:last-of-type').textContent, r.querySelector('.status').textContent])"""


def _seed(experiment: str) -> str:
    with duckml.start_run(run_name="seed", experiment_name=experiment) as run:
        duckml.set_tag("team", "lake")
        duckml.log_metric("loss", 1.0)
    duckml.flush()
    return run.info.run_id


def _open_run_list(chromium, base: str, experiment: str, seed_id: str):
    page = chromium.new_page(viewport={"width": 1400, "height": 300})  # short: the page scrolls
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.goto(f"{base}/experiments/{experiment}?filter={FILTER.replace(' ', '+')}&col=tags.team")
    page.wait_for_load_state("networkidle")
    # what the user did on the page: a marker a reload would wipe, a run selected, text typed in the
    # filter, the page scrolled down a little
    page.evaluate("window.liveMarker = 'before the writers'")
    page.evaluate("window.scrollTo(0, 120); window.scrolledTo = window.scrollY")
    assert page.evaluate("window.scrolledTo") > 0
    page.check(f"input[name=run][value='{seed_id}']")
    page.fill("input[name=q]", "typed, not applied")
    return page, problems


def _assert_kept(page, seed_id: str, problems: list) -> None:
    assert page.evaluate("window.liveMarker") == "before the writers", "the page was reloaded"
    assert page.is_checked(f"input[name=run][value='{seed_id}']"), "the selection was lost"
    assert page.input_value("input[name=q]") == "typed, not applied"
    assert page.input_value("input[name=filter]") == FILTER
    assert page.evaluate("window.scrollY") == page.evaluate("window.scrolledTo")
    # the chosen column, for the new rows too
    assert page.evaluate("[...document.querySelectorAll('table.runs thead th')].map((h) => h.title)")[-1] == "tags.team"
    assert set(page.evaluate("[...document.querySelectorAll('table.runs tbody tr td:last-child')].map((c) => c.textContent)")) == {"lake"}
    assert "new run" in page.inner_text("#live-status")
    assert problems == []


def test_runs_of_two_lake_machines_appear_without_a_reload(lake, tmp_path):
    seed_id = _seed("team")
    start = tmp_path / "start"
    with serving(lake.spec) as base, browser() as chromium:
        page, problems = _open_run_list(chromium, base, "team", seed_id)
        writers = [subprocess.Popen(
            [sys.executable, MACHINE, json.dumps({"kind": "log", "machine": name, "runs": 1, "points": 50,
                                                  "start_file": str(start)})],
            env=lake.machine_env(name), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in ("alpha", "beta")]
        start.touch()
        for writer in writers:
            _, err = writer.communicate(timeout=300)
            assert writer.returncode == 0, err
        shown = wait_until(page, f"""(() => {{ const rows = Object.fromEntries({ROWS});
            return rows['alpha-r0'] === 'FINISHED' && rows['beta-r0'] === 'FINISHED' ? rows : null; }})()""",
                           timeout=60)
        assert shown == {"seed": "FINISHED", "alpha-r0": "FINISHED", "beta-r0": "FINISHED"}, page.evaluate(ROWS)
        _assert_kept(page, seed_id, problems)


FILE_WRITER = """
import os, sys, time
import duckml
with duckml.start_run(run_name="next-door", experiment_name="team") as run:
    duckml.set_tag("team", "lake")
    for step in range(10):
        duckml.log_metric("loss", 1.0 / (step + 1), step=step)
    duckml.flush()  # the UI shows the run RUNNING with 10 points
    print(run.info.run_id, flush=True)
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.01)
    for step in range(10, 25):
        duckml.log_metric("loss", 1.0 / (step + 1), step=step)
duckml.flush()
"""


def test_a_writer_next_to_the_ui_on_one_file_updates_the_list_and_the_run_page(tmp_path):
    store = tmp_path / "store.duckdb"
    duckml.set_store(store)
    try:
        seed_id = _seed("team")
        go = tmp_path / "go"
        env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("DUCKML_")}
        env.update(DUCKML_STORE=str(store), HOME=str(tmp_path / "writer"), XDG_CACHE_HOME=str(tmp_path / "writer"))
        with serving(store) as base, browser() as chromium:
            page, problems = _open_run_list(chromium, base, "team", seed_id)
            writer = subprocess.Popen([sys.executable, "-c", FILE_WRITER, str(go)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            run_id = writer.stdout.readline().strip()
            assert run_id, writer.stderr.read()
            assert wait_until(page, f"Object.fromEntries({ROWS})['next-door'] === 'RUNNING'", timeout=60), \
                page.evaluate(ROWS)
            # the run's own page, while it runs: its metrics and status follow without a reload too
            run_page = chromium.new_page(viewport={"width": 1400, "height": 900})
            run_page.goto(f"{base}/runs/{run_id}")
            run_page.wait_for_load_state("networkidle")
            run_page.evaluate("window.liveMarker = 'running'")
            assert "10" in run_page.inner_text("#run-metrics tbody tr td:nth-child(5)")
            go.touch()
            _, err = writer.communicate(timeout=120)
            assert writer.returncode == 0, err
            assert wait_until(page, f"Object.fromEntries({ROWS})['next-door'] === 'FINISHED'", timeout=60), \
                page.evaluate(ROWS)
            _assert_kept(page, seed_id, problems)
            page.check("#select-all")  # the list's controls work on rows a live update put in
            assert page.evaluate("[...document.querySelectorAll('input[name=run]')].every((b) => b.checked)")
            assert page.inner_text("#selected-count") == "2 selected"
            assert wait_until(run_page, "document.querySelector('h1 .status').textContent === 'FINISHED'",
                              timeout=60)
            assert run_page.inner_text("#run-metrics tbody tr td:nth-child(5)") == "25"
            assert run_page.evaluate("window.liveMarker") == "running", "the run page was reloaded"
    finally:
        duckml.set_store(None)
