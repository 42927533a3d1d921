"""``duckml sql`` prints every DuckDB time exactly, with the declared dependencies only (issue 22, items 13
and 14): TIMESTAMPTZ without pytz (pandas 3 no longer brings it), and infinite times as DuckDB spells them."""

from __future__ import annotations

import json
import sys

import pytest

from tests.cli.test_cli import run_cli


@pytest.fixture
def no_pytz(monkeypatch):
    """pytz cannot be imported, as with the declared dependencies (None in sys.modules blocks the import)."""
    monkeypatch.setitem(sys.modules, "pytz", None)
    with pytest.raises(ImportError):
        import pytz  # noqa: F401


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_timestamptz_results_print_without_pytz(store, no_pytz, fmt):
    result = run_cli("sql", "SELECT now() AS now, TIMESTAMPTZ '2026-01-02 03:04:05.5+02' AS t, "
                            "[TIMESTAMPTZ '2026-01-02 00:00:00+00'] AS l", "--format", fmt)
    if fmt == "json":
        row = json.loads(result.output)[0]
        assert row["t"] == "2026-01-02T01:04:05.500000+00:00"
        assert row["now"].endswith("+00:00")
        assert row["l"] == ["2026-01-02 00:00:00+00"]
    elif fmt == "csv":
        assert "2026-01-02T01:04:05.500000+00:00" in result.output.splitlines()[1]
    else:
        assert "2026-01-02 01:04:05" in result.output


def test_infinite_times_print_as_infinity(store):
    query = ("SELECT 'infinity'::TIMESTAMP AS a, '-infinity'::TIMESTAMP AS b, 'infinity'::DATE AS d, "
             "'-infinity'::TIMESTAMPTZ AS z, 'infinity'::TIMESTAMP_NS AS ns, "
             "TIMESTAMP '9999-12-31 23:59:59.999999' AS latest, ['infinity'::TIMESTAMP, NULL] AS l, "
             "NULL::TIMESTAMP AS missing")
    row = json.loads(run_cli("sql", query, "--format", "json").output)[0]
    assert row == {"a": "infinity", "b": "-infinity", "d": "infinity", "z": "-infinity", "ns": "infinity",
                   "latest": "9999-12-31T23:59:59.999999", "l": ["infinity", None], "missing": None}
    lines = run_cli("sql", query, "--format", "csv").output.splitlines()
    assert lines[1] == 'infinity,-infinity,infinity,-infinity,infinity,9999-12-31T23:59:59.999999,"[""infinity"", null]",'
    assert "-infinity" in run_cli("sql", query).output


def test_a_table_never_fetches_huge_text_whole(store, monkeypatch):
    from duckml import sqlresult

    fetched = []
    real = sqlresult.exact_relation

    def spy(relation, **options):
        projected, row_of = real(relation, **options)
        return projected, lambda values: fetched.append(values) or row_of(values)

    monkeypatch.setattr(sqlresult, "exact_relation", spy)
    out = run_cli("sql", "SELECT repeat('<', 1000000) AS big, 1 AS n").output
    assert len(out) < 200 and "…" in out
    assert max(len(v) for row in fetched for v in row if isinstance(v, str)) < 100
