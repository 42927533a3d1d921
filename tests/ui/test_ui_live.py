"""The live pages' server side (run list, run page, chart view, compare): /api/live's token, and the
fragments the pages swap in (the browser side: tests/lake/test_lake_ui_live.py)."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import quote

import pytest

import duckml

EXPERIMENT = "sweep & <b>co</b>"


def _live(client, **query):
    answer = client.get("/api/live", params=query)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()


def test_the_token_stays_until_a_run_is_added_or_ends_or_is_retagged(private_client, private_ui_store):
    before = _live(private_client, experiment=EXPERIMENT)
    assert before == _live(private_client, experiment=EXPERIMENT)
    assert before["running"] == 0 and before["runs"] == 5
    page = private_client.get(f"/experiments/{quote(EXPERIMENT, safe='')}").text
    assert f'data-token="{before["token"]}"' in page  # the page's own, to compare the polls with
    run = duckml.start_run(run_name="new", experiment_name=EXPERIMENT)
    started = _live(private_client, experiment=EXPERIMENT)
    assert started["token"] != before["token"] and started["running"] == 1 and started["runs"] == 6
    on_run = _live(private_client, run=run.info.run_id)
    duckml.log_metric("loss", 1.0)
    assert _live(private_client, experiment=EXPERIMENT)["token"] != started["token"]
    assert _live(private_client, run=run.info.run_id)["token"] != on_run["token"]
    duckml.end_run()
    ended = _live(private_client, run=run.info.run_id)
    assert ended["running"] == 0
    duckml.set_tag("owner", "ada", run_id=run.info.run_id)
    assert _live(private_client, run=run.info.run_id)["token"] != ended["token"]


@pytest.mark.parametrize("query, status", [({}, 400), ({"experiment": EXPERIMENT, "run": "x"}, 400),
                                           ({"experiment": "nope"}, 404), ({"run": "nope"}, 404)])
def test_live_needs_one_existing_experiment_or_run(client, query, status):
    answer = client.get("/api/live", params=query)
    assert answer.status_code == status and "error" in answer.json()


def test_the_fragments_hold_only_the_parts_the_pages_swap(client, ui_store):
    name = quote(EXPERIMENT, safe="")
    rows = client.get(f"/experiments/{name}?filter=params.model+%3D+'ridge'&fragment=table").text
    assert rows.lstrip().startswith('<div id="run-list"') and "<html" not in rows
    assert rows.count('name="run" value=') == 4 and 'data-total="4"' in rows
    live = client.get(f"/runs/{ui_store['parent']}?fragment=live").text
    assert "<html" not in live
    for part in ('id="run-status"', 'id="run-ended"', 'id="run-metrics"', 'id="chart-data"'):
        assert part in live


def test_only_a_running_runs_page_carries_a_token(private_client, private_ui_store):
    # a finished run's page does not poll, so it does not pay for the token's read
    run = duckml.start_run(run_name="token", experiment_name=EXPERIMENT)
    duckml.log_metric("loss", 1.0)
    running = private_client.get(f"/runs/{run.info.run_id}").text
    assert f'data-token="{_live(private_client, run=run.info.run_id)["token"]}"' in running
    duckml.end_run()
    finished = private_client.get(f"/runs/{run.info.run_id}").text
    assert 'data-running="0"' in finished and 'data-token=""' in finished


def _page_token(html: str) -> str:
    marker = re.search(r'<div class="page-data" id="page-data"[^>]*>', html).group(0)
    return re.search(r'data-token="([^"]*)"', marker).group(1)


def test_compare_polls_the_token_of_its_runs_and_answers_its_live_fragment(private_client, private_ui_store):
    other = duckml.start_run(run_name="other", experiment_name=EXPERIMENT)
    duckml.log_metric("loss", 1.0)
    duckml.end_run()
    run = duckml.start_run(run_name="cmp", experiment_name=EXPERIMENT)
    duckml.log_param("lr", "0.1")
    duckml.log_metric("loss", 3.0, step=0)
    duckml.log_metric("loss", 2.0, step=1)
    ids = [run.info.run_id, other.info.run_id]
    query = "&".join(f"run={i}" for i in ids)
    page = private_client.get(f"/compare?{query}").text
    assert f'data-live="/api/live?run={ids[0]}&amp;run={ids[1]}"' in page
    state = _live(private_client, run=ids)
    assert _page_token(page) == state["token"] and state["runs"] == 2 and state["running"] == 1
    duckml.log_metric("loss", 1.5, step=2)
    assert _live(private_client, run=ids)["token"] != state["token"]
    live = private_client.get(f"/compare?{query}&fragment=live").text
    assert "<html" not in live
    for part in ('id="live-state"', 'id="compare-table"', 'id="no-histories"', 'id="chart-data"'):
        assert part in live
    assert 'data-running="1"' in live and ">1.5<" in live  # the new last value of loss
    data = json.loads(html.unescape(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>',
                                              live, re.S).group(1)))
    assert data["owners"] == {"loss": ids}  # a history (the running run's 3 points), drawn for both runs
    duckml.end_run()
    ended = private_client.get(f"/compare?{query}&fragment=live").text
    assert 'data-running="0"' in ended and "RUNNING" not in ended
    assert _page_token(private_client.get(f"/compare?{query}").text) == ""  # nothing runs: no poll, no token


def test_the_chart_views_token_counts_the_points_of_the_runs_it_shows_only(private_client, private_ui_store):
    name = quote(EXPERIMENT, safe="")
    shown = duckml.start_run(run_name="shown", experiment_name=EXPERIMENT)
    duckml.set_tag("pick", "yes")
    duckml.log_metric("loss", 3.0, step=0)
    duckml.log_metric("loss", 2.0, step=1)
    hidden = duckml.start_run(run_name="filtered out", experiment_name=EXPERIMENT, nested=True)
    duckml.log_metric("loss", 1.0)
    view = f"/experiments/{name}?view=charts&filter=tags.pick+%3D+'yes'"
    page = private_client.get(view).text
    live_url = html.unescape(re.search(r'data-live="([^"]*)"', page).group(1))
    assert live_url == f"/api/live?experiment={name.replace('%20', '+')}&shown={shown.info.run_id}"
    state = private_client.get(live_url).json()
    assert _page_token(page) == state["token"] and state["running"] == 2
    duckml.log_metric("loss", 0.5, step=1, run_id=hidden.info.run_id)  # a run the view does not show
    assert private_client.get(live_url).json()["token"] == state["token"]
    duckml.log_metric("loss", 1.0, step=2, run_id=shown.info.run_id)
    moved = private_client.get(live_url).json()["token"]
    assert moved != state["token"]
    live = private_client.get(f"{view}&fragment=live").text
    assert "<html" not in live and 'id="chart-total"' in live and 'data-running="1"' in live
    data = json.loads(html.unescape(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>',
                                              live, re.S).group(1)))
    assert [(r["name"], r["running"]) for r in data["runs"]] == [("shown", True)]
    assert data["owners"] == {"loss": [shown.info.run_id]}
    duckml.end_run()  # the nested run
    duckml.end_run()
    assert private_client.get(live_url).json()["token"] != moved
    assert 'data-running="0"' in private_client.get(f"{view}&fragment=live").text


@pytest.mark.parametrize("query, status", [({"shown": "x", "run": "x"}, 400), ({"run": ["nope", "x"]}, 404),
                                           ({"experiment": EXPERIMENT, "shown": ["x"] * 101}, 400)])
def test_live_refuses_shown_without_an_experiment_unknown_runs_and_too_many_shown(client, query, status):
    answer = client.get("/api/live", params=query)
    assert answer.status_code == status and "error" in answer.json()


def test_a_chart_view_of_a_run_without_metrics_yet_has_room_for_their_panels(private_client, private_ui_store):
    duckml.start_run(run_name="fresh", experiment_name="just started")
    try:
        page = private_client.get("/experiments/just%20started?view=charts").text
        # the panels' places are there for the live update to fill; the note says why they are empty
        assert 'id="charts"' in page and 'id="chart-controls"' in page
        assert '<p class="muted" id="no-metrics">' in page
        duckml.log_metric("loss", 1.0)
        duckml.log_metric("loss", 0.5)
        live = private_client.get("/experiments/just%20started?view=charts&fragment=live").text
        assert '<p class="muted" id="no-metrics" hidden>' in live and '"owners": {"loss"' in live
    finally:
        duckml.end_run()
    assert 'data-running="0" data-live' in private_client.get("/experiments/just%20started?view=charts").text
