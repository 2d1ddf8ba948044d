"""The gate's bounded samples (expectations/gate.py, issue 18): drawn from
the rows that meet the condition only, at most the bound, the same rows on
every run, and every row when fewer qualify."""

from __future__ import annotations

import datetime as dt

import duckdb

from expectations.gate import _sample_sql


def _table() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create table t as select i, cast(date '2026-01-01' + to_months(cast(i % 12 as integer)) as date) as month "
                "from range(120000) r(i)")
    return con


def test_a_sample_holds_only_qualifying_rows_up_to_the_bound_and_repeats():
    con = _table()
    sql = _sample_sql("t", "month = date '2026-10-01'", 5_000)
    first = con.execute(sql).fetchall()
    assert len(first) == 5_000
    assert {month for _, month in first} == {dt.date(2026, 10, 1)}
    assert sorted(first) == sorted(con.execute(sql).fetchall())  # reproducible
    # spread over the qualifying rows, not their first rows
    values = sorted(i for i, _ in first)
    assert values[0] < 12_000 and values[-1] > 108_000


def test_fewer_qualifying_rows_than_the_bound_are_all_kept():
    con = _table()
    rows = con.execute(_sample_sql("t", "i < 700", 5_000)).fetchall()
    assert sorted(i for i, _ in rows) == list(range(700))
