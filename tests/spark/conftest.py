"""One Spark ``local-cluster[2,1,1024]`` for the whole test session: two executor JVMs, each with its own
Python workers, so the tests cross the process boundaries a real cluster has. Starting it takes ~20 s,
hence once per session; every Spark test is slow and skips with its reason without Java or PySpark."""

from __future__ import annotations

import shutil

import pytest


def _why_not() -> str | None:
    if shutil.which("java") is None:
        return "Java is not installed (Debian's openjdk-17-jre-headless; .ci/run installs it)"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[spark]')"
    return None


@pytest.fixture(scope="session")
def spark():
    why = _why_not()
    if why:
        pytest.skip(why)
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local-cluster[2,1,1024]").appName("duckml-tests")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2").config("spark.driver.memory", "1g")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
