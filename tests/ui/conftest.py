"""Fixtures of the UI tests: a small store with hostile names, nested runs, a spiky history, artifacts of
every kind and a registered model whose alias moved; a TestClient that speaks as localhost."""

from __future__ import annotations

import hashlib
import struct
import zlib

import warnings

import numpy as np
import pytest

with warnings.catch_warnings():  # Starlette 1.0 nudges towards httpx2; httpx is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import duckml

HOSTILE = "<script>alert('x')</script>"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: browser, server, wheel-building or benchmark-ish tests")


def tiny_png() -> bytes:
    """A valid 1x1 PNG."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


BASE_URL = "http://localhost:5000"


class SharedUI:
    """One copy of the UI store and one TestClient over it, for a module's tests that only read."""

    def __init__(self, ids: dict, client: TestClient):
        self.ids = ids
        self.client = client
        self.store = client.app.state.store  # the app's connection (duckml.connect) to the shared copy


@pytest.fixture(scope="module")
def shared_ui(store_templates, tmp_path_factory):
    """The UI store copied once per module, and one app and TestClient serving it.

    Building a client and copying the store for each test cost more than most route tests themselves. The
    app holds its own store object: the autouse ``fresh_store`` resets duckml's process state around each
    test (this store object is then closed and forgotten by the selection, and reopens for the app's next
    read), so nothing of it reaches a test that does not ask for it. Tests that write get
    ``private_ui_store`` / ``private_client`` instead.
    """
    from duckml.ui import create_app

    folder = tmp_path_factory.mktemp("ui-shared")
    ids = store_templates.copy_into("ui", fill_ui_store, folder)
    path = store_templates.store_path(folder)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    app = create_app(path)
    try:
        with TestClient(app, base_url=BASE_URL) as test_client:
            yield SharedUI(ids, test_client)
    finally:
        app.state.store.close()
        duckml.reset_state()
    # a test that wrote to the shared store would have changed what the tests after it saw
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "a test wrote to the shared UI store"
    assert not any(path.with_name(path.stem + ".artifacts").joinpath(".journal").glob("*.events"))


@pytest.fixture
def ui_store(shared_ui):
    """The ids of the shared, read-only UI store (see ``shared_ui``)."""
    return shared_ui.ids


@pytest.fixture
def private_ui_store(store_from_template):
    """This test's own copy of the UI store (built once per session), selected as its store: for tests that
    write to it; returns the ids the tests need."""
    return store_from_template("ui", fill_ui_store)


def fill_ui_store(tmp_path):
    from sklearn.linear_model import LinearRegression

    duckml.set_experiment("sweep & <b>co</b>")
    ids = {}
    with duckml.start_run(run_name="parent") as parent:
        duckml.log_params({"model": "ridge", "alpha": 1.0})
        for i, alpha in enumerate((0.1, 1.0, 10.0)):
            with duckml.start_run(run_name=f"child-{i}", nested=True) as child:
                duckml.log_params({"model": "ridge", "alpha": alpha})
                duckml.log_metric_series("loss", np.linspace(1.0, 0.1, 50) * (i + 1))
                duckml.log_metric("rmse", 0.5 + i)
                ids.setdefault("children", []).append(child.info.run_id)
    ids["parent"] = parent.info.run_id
    with duckml.start_run(run_name=HOSTILE) as hostile:
        duckml.log_param("note", HOSTILE)
        duckml.set_tag("owner", "\"><img src=x onerror=alert(1)>")
        values = np.zeros(20_000)
        values[12_345] = 1000.0
        duckml.log_metric_series("spiky", values)
        duckml.log_text("<b>bold</b> & <script>alert(1)</script>", "notes/readme.txt")
        duckml.log_text("<html><script>alert(1)</script></html>", "page.html")
        duckml.log_text("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "plot.svg")
        png = tmp_path / "chart.png"
        png.write_bytes(tiny_png())
        duckml.log_artifact(str(png), "plots")
        data = tmp_path / "train.parquet"
        import polars as pl
        pl.DataFrame({"x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 6.0]}).write_parquet(data)
        duckml.log_input(str(data), name="train", context="training")
        model = LinearRegression().fit(np.array([[1.0], [2.0], [3.0]]), np.array([2.0, 4.0, 6.0]))
        duckml.log_model(model, name="model", registered_model_name="reg")
        duckml.log_model(model, name="model2", registered_model_name="reg")
    ids["hostile"] = hostile.info.run_id
    duckml.set_registered_model_alias("reg", "champion", 1)
    duckml.set_registered_model_alias("reg", "champion", 2)
    duckml.flush()
    return ids


@pytest.fixture
def client(shared_ui):
    """A TestClient over the shared, read-only UI store (see ``shared_ui``)."""
    return shared_ui.client


@pytest.fixture
def private_client(private_ui_store, fresh_store):
    """A TestClient of its own over this test's own copy of the UI store."""
    from duckml.ui import create_app

    with TestClient(create_app(fresh_store), base_url=BASE_URL) as test_client:
        yield test_client
