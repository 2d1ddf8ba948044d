"""benchmarks/night_reach.py: rows of the rebuilt months that a night really
changed, counted against a publication pair built by hand."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from benchmarks.night_reach import changed_rows


def _publication(path, build_mode: str, lines: list[tuple], extra_column: bool = False) -> None:
    con = duckdb.connect(str(path))
    con.execute("create table build_info (build_mode varchar, rebuilt_months date[])")
    con.execute("insert into build_info values (?, ?)", [build_mode, [dt.date(2026, 10, 1)]])
    con.execute("create table purchase_lines (line varchar, month date, peer_median double)")
    con.execute("insert into purchase_lines values " + ", ".join("(?, ?, ?)" for _ in lines),
                [value for line in lines for value in line])
    con.execute("create schema incremental")
    con.execute("create table incremental.int_peer_median_prices (med_list_codg varchar, month date, "
                + ("peer_median double, peer_institutions integer)" if extra_column else "peer_median double)"))
    con.execute("create table institutions (fixmedins_code varchar)")  # no month column: not compared
    con.close()


SEPTEMBER, OCTOBER = dt.date(2026, 9, 1), dt.date(2026, 10, 1)


@pytest.fixture
def night(tmp_path):
    before, after = tmp_path / "before.duckdb", tmp_path / "after.duckdb"
    _publication(before, "full", [("a", SEPTEMBER, 1.0), ("b", OCTOBER, 2.0), ("c", OCTOBER, 2.0), ("d", OCTOBER, 3.0),
                                  ("d", OCTOBER, 3.0)])
    # September is not rebuilt: its changed row is not counted. October: b as it was, c's median
    # moved, one of the two identical d rows is gone (EXCEPT ALL counts copies), e is new.
    _publication(after, "incremental", [("a", SEPTEMBER, 9.0), ("b", OCTOBER, 2.0), ("c", OCTOBER, 2.5),
                                        ("d", OCTOBER, 3.0), ("e", OCTOBER, 4.0)], extra_column=True)
    return before, after


def test_counts_new_and_changed_rows_of_the_rebuilt_months_only(night):
    figures = changed_rows(*night)
    assert figures["months"] == ["2026-10-01"]
    # the peer-median table's columns differ between the two files: not compared row by row
    assert figures["tables"] == [{"table": "main.purchase_lines", "rows": 4, "changed": 2}]


def test_a_full_rebuild_has_no_rebuilt_months_to_compare(night):
    before, _ = night
    with pytest.raises(SystemExit, match="not built incrementally"):
        changed_rows(before, before)
