"""A search's work is bounded by what it names (issue 22, item 8): the SQL of a filter holds at most one
join per table however many keys it names, and filters and order_by have stated limits."""

from __future__ import annotations

import pytest

import duckml
from duckml.errors import FilterSyntaxError
from duckml.search import KeyJoins, compile_filter, compile_order_by, parse_filter, parse_order_by
from duckml.search.grammar import MAX_FILTER_KEYS, MAX_FILTER_TERMS, MAX_ORDER_BY


def _many_keys(n: int) -> str:
    kinds = ("params.p{} = 'x'", "metrics.m{} < 1", "tags.t{} IS NULL")
    return " OR ".join(kinds[i % 3].format(i) for i in range(n))


@pytest.mark.parametrize("keys", [3, 30, 150])
def test_the_sql_reads_each_table_once_however_many_keys(keys):
    joins = KeyJoins("r")
    sql, params = compile_filter(parse_filter(_many_keys(keys)), source="joins", joins=joins)
    terms, order_params = compile_order_by(parse_order_by(["params.p0 DESC", "metrics.zz"]), source="joins",
                                           joins=joins)
    join_sql, join_params = joins.sql()
    assert join_sql.count(" JOIN ") == 3  # params, latest_metrics, tags: one each
    assert len(join_params) == 3
    # the filter's text grows by a bounded amount per comparison, not with the keys named before it
    assert len(sql) < 100 * keys
    assert len(params) <= 3 * keys


def test_a_search_naming_150_keys_finds_the_right_runs(store):
    with duckml.start_run(run_name="has-p3") as hit:
        duckml.log_params({"p3": "x", "other": "y"})
    with duckml.start_run(run_name="has-none"):
        duckml.log_param("other", "y")
    with duckml.start_run(run_name="has-m4") as low:
        duckml.log_metric("m4", 0.5)
        duckml.set_tag("t2", "present")
        duckml.set_tag("t5", "present")
    filter_string = _many_keys(150).replace("tags.t{} IS NULL".format(2), "tags.t2 = 'nope'")
    # every tags.tN IS NULL term (but t2's) matches every run; without them only the two hits remain
    without_null_tests = " OR ".join(t for t in filter_string.split(" OR ") if "IS NULL" not in t)
    found = duckml.search_runs(filter_string=without_null_tests, order_by=["params.p3 DESC", "metrics.m4"])
    assert found["run_id"].to_list() == [hit.info.run_id, low.info.run_id]
    assert duckml.search_runs(filter_string=filter_string).height == 3
    assert duckml.search_runs(filter_string="tags.t2 IS NOT NULL AND tags.t5 IS NOT NULL AND tags.t8 IS NULL"
                              )["run_id"].to_list() == [low.info.run_id]


def test_a_filter_naming_too_many_keys_is_refused_with_the_limit():
    parse_filter(_many_keys(MAX_FILTER_KEYS))
    with pytest.raises(FilterSyntaxError, match=f"more than {MAX_FILTER_KEYS} keys"):
        parse_filter(_many_keys(MAX_FILTER_KEYS + 1))


def test_a_filter_with_too_many_comparisons_is_refused_with_the_limit():
    one_key = " OR ".join(["params.a = 'x'"] * MAX_FILTER_TERMS)
    parse_filter(one_key)
    with pytest.raises(FilterSyntaxError, match=f"more than {MAX_FILTER_TERMS} comparisons"):
        parse_filter(one_key + " OR params.a = 'y'")
    with pytest.raises(FilterSyntaxError, match="comparisons"):
        duckml.search_runs(filter_string=" AND ".join(["metrics.m < 1"] * 1000))


def test_order_by_has_a_limit():
    clauses = [f"params.p{i}" for i in range(MAX_ORDER_BY)]
    assert len(parse_order_by(clauses)) == MAX_ORDER_BY
    with pytest.raises(FilterSyntaxError, match=f"limit is {MAX_ORDER_BY}"):
        parse_order_by(clauses + ["params.one_more"])
