"""A real uvicorn server over a store while another process logs to it: the UI never blocks the writer,
and shows what it logged."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import httpx
import pytest

import duckml

from browser import serving  # noqa: E402

pytestmark = pytest.mark.slow

WRITER = textwrap.dedent("""
    import sys, time, duckml
    duckml.set_store(sys.argv[1])
    for i in range(20):
        with duckml.start_run(run_name=f"w{i}", experiment_name="live"):
            duckml.log_metric_series("loss", [1.0 / (s + 1) for s in range(200)])
        duckml.flush()  # the file itself, read-write: must not fail while the UI reads
    print("done", flush=True)
""")


def test_a_writer_is_never_blocked_by_a_polling_ui(store, tmp_path):
    with duckml.start_run(run_name="first", experiment_name="live"):
        duckml.log_metric("loss", 1.0)
    duckml.flush()
    with serving(store.path) as base:
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store.path)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        polls, seen = 0, 0
        with httpx.Client(base_url=base) as http:
            while writer.poll() is None:
                page = http.get("/experiments/live")
                assert page.status_code == 200
                seen = max(seen, page.text.count('name="run" value='))
                polls += 1
                time.sleep(0.01)
            out, err = writer.communicate(timeout=120)
            assert writer.returncode == 0, err
            assert "done" in out
            final = http.get("/experiments/live").text
    assert polls > 5
    assert final.count('name="run" value=') == 21
