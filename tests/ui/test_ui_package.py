"""The UI's templates, static files and vendored JS ship inside the package (and the wheel); the CLI verb."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import duckml
from duckml.cli import cli
from duckml.ui import command
from duckml.ui.app import STATIC_DIR, TEMPLATES_DIR

PACKAGE_FILES = ["templates/base.html", "templates/index.html", "templates/experiment.html", "templates/run.html",
                 "templates/compare.html", "templates/model.html", "templates/error.html",
                 "templates/chart_controls.html", "static/app.css", "static/app.js", "static/charts.js",
                 "static/svgplots.js", "static/vendor/uPlot.iife.min.js", "static/vendor/uPlot.min.css",
                 "static/vendor/uPlot.LICENSE", "static/edit.js", "static/edit.css", "templates/models.html",
                 "templates/model_version.html", "templates/predictions.html", "templates/artifacts.html",
                 "templates/run_edit.html", "templates/run_tags.html", "templates/run_register.html",
                 "templates/model_edit.html"]
UPLOT_SHA256 = "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f"  # uplot 1.6.32 dist/


def test_package_data_is_present():
    root = TEMPLATES_DIR.parent
    assert STATIC_DIR == root / "static"
    for name in PACKAGE_FILES:
        assert (root / name).is_file(), name
    vendored = (STATIC_DIR / "vendor" / "uPlot.iife.min.js").read_bytes()
    assert hashlib.sha256(vendored).hexdigest() == UPLOT_SHA256


def test_pages_load_nothing_from_elsewhere():
    for page in TEMPLATES_DIR.glob("*.html"):
        text = page.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, page.name
        assert " style=" not in text and "<style" not in text, page.name  # the CSP forbids inline styles
        assert "<script>" not in text and "onclick" not in text, page.name  # and inline scripts


@pytest.mark.slow
def test_wheel_contains_templates_and_static_files(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(repo)], check=True, capture_output=True, timeout=600)
    wheel = next(tmp_path.glob("duckml-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in PACKAGE_FILES:
        assert f"duckml/ui/{name}" in names, name
    assert "duckml/sql/macros/metric_buckets.sql" in names


def test_url_for():
    assert command.url_for("127.0.0.1", 5000) == "http://127.0.0.1:5000/"
    assert command.url_for("::", 5000) == "http://127.0.0.1:5000/"


def test_cli_ui_refuses_a_missing_store(tmp_path):
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "none.duckdb"), "ui", "--no-browser"])
    assert result.exit_code == 1
    assert "no store at" in result.output and "none.duckdb" in result.output
    assert not (tmp_path / "none.duckdb").exists()


def test_cli_ui_serves_loopback_and_needs_auth_for_other_hosts(store, monkeypatch, tmp_path):
    duckml.connect().sql("SELECT 1")  # create the store
    served = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.append(kw))
    result = CliRunner().invoke(cli, ["ui", "--no-browser", "--port", "5123"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5123/" in result.output and "Warning" not in result.output
    assert served[-1]["host"] == "127.0.0.1" and served[-1]["port"] == 5123
    assert served[-1]["proxy_headers"] is False  # X-Forwarded-* only with --forwarded-allow-ips
    result = CliRunner().invoke(cli, ["ui", "--no-browser", "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "--auth" in result.output
    assert len(served) == 1
    from duckml.ui.users import add_user
    add_user(tmp_path / "users.json", "ada", "long enough", "admin")
    result = CliRunner().invoke(cli, ["ui", "--no-browser", "--host", "0.0.0.0", "--auth",
                                      str(tmp_path / "users.json"), "--forwarded-allow-ips", "10.0.0.2"])
    assert result.exit_code == 0, result.output
    assert "sign-in with" in result.output
    assert served[-1]["host"] == "0.0.0.0" and served[-1]["port"] == 5000
    assert served[-1]["proxy_headers"] is True and served[-1]["forwarded_allow_ips"] == "10.0.0.2"


def test_cli_ui_help():
    result = CliRunner().invoke(cli, ["ui", "--help"])
    assert result.exit_code == 0 and "--no-browser" in result.output and "127.0.0.1" in result.output


def test_cli_ui_read_only_reaches_the_app(store, monkeypatch):
    duckml.connect().sql("SELECT 1")
    apps = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: apps.append(app))
    result = CliRunner().invoke(cli, ["ui", "--no-browser", "--read-only"])
    assert result.exit_code == 0, result.output
    assert "read-only" in result.output and apps[-1].state.read_only is True
    result = CliRunner().invoke(cli, ["ui", "--no-browser"])
    assert "--read-only turns writes off" in result.output and apps[-1].state.read_only is False
