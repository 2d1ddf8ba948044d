"""The money sheets of the officers' workbook (reports/money.py): each lists
the rows an officer acts on, first the ones to act on soonest, and says in
the guide sheet which rows of its published table it leaves out and where
they are. Nothing is cut without a word (issue 18 made the 20 M workbook
list open prepayments and decided retentions only)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

import reports.money as money

PREPAYMENT_STATUSES = ["covered"] * 5 + ["ahead"] * 3 + ["to_recover"] + ["in_progress"] * 2


@pytest.fixture
def publication():
    con = duckdb.connect()
    rows = pd.DataFrame({
        "fixmedins_code": [f"H{k:03d}" for k in range(len(PREPAYMENT_STATUSES))],
        "batch_code": "b1", "group_code": "g1",
        "prepayment_status": PREPAYMENT_STATUSES,
        "unrecovered_amount": [float(k) for k in range(len(PREPAYMENT_STATUSES))],
    })
    con.register("rows", rows)
    con.execute("create table settlement_prepayment as select * from rows")
    yield con
    con.close()


def test_prepayment_sheet_lists_open_prepayments_and_says_what_it_leaves_out(publication):
    data = money.load_money(publication)
    sheet = data.get("prepayment")
    expected_open = sum(status != "covered" for status in PREPAYMENT_STATUSES)
    assert len(sheet) == expected_open and "covered" not in set(sheet["prepayment_status"])
    assert sheet["prepayment_status"].iloc[0] == "to_recover"  # the one to recover comes first
    note = data.left_out("prepayment")
    assert note is not None
    assert "已冲抵的不列" in note and f"本表列 {expected_open} 行" in note
    assert f"settlement_prepayment 表中有全部 {len(PREPAYMENT_STATUSES)} 行" in note


def test_a_sheet_past_its_bound_says_how_many_rows_it_cut(publication, monkeypatch):
    monkeypatch.setattr(money, "MAX_SHEET_ROWS", 4)
    data = money.load_money(publication)
    assert len(data.get("prepayment")) == 4
    note = data.left_out("prepayment")
    assert note is not None and "只列前 4 行（共 6 行）" in note


def test_a_table_the_publication_lacks_gives_an_empty_sheet_and_no_note(publication):
    data = money.load_money(publication)
    assert data.get("retention").empty and data.left_out("retention") is None
