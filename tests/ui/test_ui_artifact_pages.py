"""The artifact browser: /runs/<id>/artifacts/<path> (tree, table/JSON/image/text previews) and the sandboxed
frame for HTML and SVG (TestClient)."""

from __future__ import annotations

import hashlib
import re
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

import duckml

from tests.ui.conftest import BASE_URL, HOSTILE, fill_ui_store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def fill_artifacts_store(tmp_path):
    """The UI store, plus a CSV of 1,500 rows, a Parquet file, a JSON file, a large log, all with hostile text."""
    import polars as pl

    ids = fill_ui_store(tmp_path)
    with duckml.start_run(run_id=ids["hostile"]):
        rows = "\n".join(f"{i},{HOSTILE if i == 0 else 'row'},{i / 2}" for i in range(1500))
        duckml.log_text("id,label,score\n" + rows + "\n", "data/scores.csv")
        table = tmp_path / "frame.parquet"
        pl.DataFrame({"store": ["a", "<b>b</b>"], "sales": [1.5, 2.5]}).write_parquet(table)
        duckml.log_artifact(str(table), "data")
        duckml.log_dict({"name": HOSTILE, "nested": {"k": [1, 2]}}, "config/params.json")
        duckml.log_text("line of a long log\n" * 20_000, "logs/train.log")
        broken = tmp_path / "broken.csv"
        broken.write_bytes(b"a,b\n1,\xff\xfe\n")  # not UTF-8: DuckDB refuses it
        duckml.log_artifact(str(broken), "data")
    duckml.flush()
    return ids


@pytest.fixture(scope="module")
def artifacts_ui(store_templates, tmp_path_factory):
    from duckml.ui import create_app

    folder = tmp_path_factory.mktemp("ui-artifacts")
    ids = store_templates.copy_into("ui-artifacts", fill_artifacts_store, folder)
    path = store_templates.store_path(folder)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    app = create_app(path)
    try:
        with TestClient(app, base_url=BASE_URL) as client:
            yield client, ids["hostile"]
    finally:
        app.state.store.close()
        duckml.reset_state()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "a test wrote to the artifacts UI store"


def test_tree_lists_folders_then_files(artifacts_ui):
    client, run = artifacts_ui
    for url in (f"/runs/{run}/artifacts", f"/runs/{run}/artifacts/"):
        page = client.get(url)
        assert page.status_code == 200, url
    tree = re.search(r'<nav class="tree" id="artifact-tree" aria-label="artifacts">(.*?)</nav>', page.text, re.S).group(1)
    names = re.findall(r'<a href="[^"]+">([^<]+)</a>', tree)
    assert names.index("data/") < names.index("scores.csv") < names.index("page.html")
    assert f'href="/runs/{run}/artifacts/data/scores.csv"' in tree
    assert f'href="/runs/{run}/artifacts/data/"' in tree
    folder = client.get(f"/runs/{run}/artifacts/data/")
    assert folder.status_code == 200 and "Choose a file in data/" in folder.text


def test_csv_shows_the_first_thousand_rows_escaped(artifacts_ui):
    client, run = artifacts_ui
    page = client.get(f"/runs/{run}/artifacts/data/scores.csv").text
    table = re.search(r'<table class="grid" id="artifact-table">(.*?)</table>', page, re.S).group(1)
    assert re.findall(r"<th>(.*?)</th>", table) == ["id", "label", "score"]
    assert table.count("<tr>") == 1 + 1000
    assert "the first 1000 rows shown" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert" in table


def test_parquet_is_a_table_with_its_row_count(artifacts_ui):
    client, run = artifacts_ui
    page = client.get(f"/runs/{run}/artifacts/data/frame.parquet").text
    table = re.search(r'<table class="grid" id="artifact-table">(.*?)</table>', page, re.S).group(1)
    assert "<td>&lt;b&gt;b&lt;/b&gt;</td>" in table and '<td class="num">2.5</td>' in table
    assert "2 rows" in page


def test_unreadable_csv_says_why(artifacts_ui):
    client, run = artifacts_ui
    page = client.get(f"/runs/{run}/artifacts/data/broken.csv")
    assert page.status_code == 200 and "DuckDB cannot read it as a table" in page.text


def test_json_is_pretty_and_escaped(artifacts_ui):
    client, run = artifacts_ui
    page = client.get(f"/runs/{run}/artifacts/config/params.json").text
    text = re.search(r'<pre id="artifact-text">(.*?)</pre>', page, re.S).group(1)
    assert '\n  &#34;nested&#34;: {\n    &#34;k&#34;: [\n      1,' in text
    assert "<script>" not in text


def test_large_text_is_cut_with_a_download_link(artifacts_ui):
    client, run = artifacts_ui
    page = client.get(f"/runs/{run}/artifacts/logs/train.log").text
    text = re.search(r'<pre id="artifact-text">(.*?)</pre>', page, re.S).group(1)
    assert len(text) == 200_000
    cut = re.search(r'<p class="muted" id="artifact-cut">(.*?)</p>', page, re.S).group(1)
    assert f'href="/runs/{run}/artifact?path=logs%2Ftrain.log" download' in cut


def test_images_inline(artifacts_ui):
    client, run = artifacts_ui
    page = client.get(f"/runs/{run}/artifacts/plots/chart.png").text
    assert f'<img src="/runs/{run}/artifact?path=plots%2Fchart.png"' in page
    image = client.get(f"/runs/{run}/artifact?path=plots%2Fchart.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"


@pytest.mark.parametrize("path, media_type", [("page.html", "text/html"), ("plot.svg", "image/svg+xml")])
def test_html_and_svg_only_in_a_sandboxed_frame(artifacts_ui, path, media_type):
    client, run = artifacts_ui
    page = client.get(f"/runs/{run}/artifacts/{path}").text
    frame = re.search(r"<iframe [^>]*>", page).group(0)
    assert 'sandbox=""' in frame and f'src="/runs/{run}/artifact-frame?path={path}"' in frame
    assert "<script>alert" not in page
    document = client.get(f"/runs/{run}/artifact-frame?path={path}")
    assert document.status_code == 200
    assert document.headers["content-type"].startswith(media_type)
    csp = document.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    assert "sandbox" in csp.split("; ") and "script-src" not in csp
    assert document.headers["content-disposition"].startswith("inline")
    assert document.headers["x-content-type-options"] == "nosniff"


def test_frame_serves_only_html_and_svg(artifacts_ui):
    client, run = artifacts_ui
    assert client.get(f"/runs/{run}/artifact-frame?path=notes/readme.txt").status_code == 404
    assert client.get(f"/runs/{run}/artifact-frame?path=../../etc/passwd").status_code == 404


@pytest.mark.parametrize("path", ["nope.txt", "../page.html", "%2e%2e/page.html", "/etc/passwd", "data/scores"])
def test_only_recorded_artifacts_are_found(artifacts_ui, path):
    client, run = artifacts_ui
    response = client.get(f"/runs/{run}/artifacts/{path}")
    assert response.status_code == 404, path


def test_unknown_run_is_404(artifacts_ui):
    client, _ = artifacts_ui
    assert client.get("/runs/nope/artifacts/").status_code == 404


def test_run_page_links_to_the_tree(artifacts_ui):
    client, run = artifacts_ui
    assert f'href="/runs/{run}/artifacts/"' in client.get(f"/runs/{run}").text


segments = st.text("ab.-_ é", min_size=1, max_size=3).filter(lambda s: s not in (".", ".."))


@given(st.lists(st.lists(segments, min_size=1, max_size=4).map("/".join), max_size=30, unique=True))
def test_tree_holds_every_artifact_once_under_its_folders(paths):
    from duckml.ui.artifact_queries import tree

    leaves = []

    def walk(items, prefix):
        names = [(i["children"] is None, i["name"]) for i in items]
        assert names == sorted(names)  # folders first, then files, each by name
        for item in items:
            if item["children"] is None:
                assert item["path"] == prefix + item["name"]
                leaves.append(item["path"])
            else:
                assert item["path"] == prefix + item["name"] and item["children"]
                walk(item["children"], item["path"] + "/")

    walk(tree([{"path": p, "size": 1, "media_type": "text/plain"} for p in paths]), "")
    assert sorted(leaves) == sorted(paths)
