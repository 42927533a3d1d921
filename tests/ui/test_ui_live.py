"""The live run list and run page's server side: /api/live's token, and the fragments the pages swap in
(the browser side: tests/lake/test_lake_ui_live.py)."""

from __future__ import annotations

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
