"""duckml.sqlresult: exact Python values for DuckDB times, without pytz; text cut in SQL."""

from __future__ import annotations

import datetime as dt
import sys

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duckml.sqlresult import Cut, fetch_exact

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
# years 1900-9999, in microseconds since the epoch
MICROS = st.integers(min_value=-2_208_988_800_000_000, max_value=253_402_300_799_999_999)


@settings(max_examples=60, deadline=None)
@given(MICROS)
def test_timestamptz_is_the_same_instant_without_pytz(micros):
    saved = sys.modules.get("pytz", "absent")
    sys.modules["pytz"] = None  # blocks the import, as with the declared dependencies
    try:
        relation = duckdb.connect().sql(f"SELECT make_timestamptz({micros}::BIGINT) AS t, "
                                        f"make_timestamp({micros}::BIGINT) AS naive")
        _, [(zoned, naive)] = fetch_exact(relation)
    finally:
        if saved == "absent":
            del sys.modules["pytz"]
        else:
            sys.modules["pytz"] = saved
    assert zoned == EPOCH + dt.timedelta(microseconds=micros) and zoned.utcoffset() == dt.timedelta(0)
    assert naive == (EPOCH + dt.timedelta(microseconds=micros)).replace(tzinfo=None)


@pytest.mark.parametrize("kind", ["TIMESTAMP", "TIMESTAMPTZ", "DATE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"])
def test_infinite_times_are_duckdb_s_text(kind):
    relation = duckdb.connect().sql(f"SELECT 'infinity'::{kind} AS a, '-infinity'::{kind} AS b, NULL::{kind} AS c")
    assert fetch_exact(relation) == (["a", "b", "c"], [("infinity", "-infinity", None)])


def test_text_is_cut_in_sql_and_marked():
    relation = duckdb.connect().sql("SELECT repeat('é', 10) AS long, 'short' AS s, 7 AS n, [1, 2] AS l")
    _, [row] = fetch_exact(relation, text_limit=6, stringify=True)
    assert row == ("éééééé", "short", 7, "[1, 2]")
    assert isinstance(row[0], Cut) and not isinstance(row[1], Cut) and not isinstance(row[3], Cut)
    _, [plain] = fetch_exact(relation, text_limit=5)
    assert plain[3] == [1, 2]  # without stringify, nested values stay Python values
