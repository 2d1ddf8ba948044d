"""Text normalisation (ingest/normalise.py) and header matching (ingest/feeds.py)."""

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from ingest.feeds import PURCHASES, header_index, normalise_header
from ingest.normalise import install_macros, typed_expression


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    install_macros(connection)
    yield connection
    connection.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01", dt.datetime(2024, 5, 1)),
        ("2024/5/1", dt.datetime(2024, 5, 1)),
        ("2024年5月1日", dt.datetime(2024, 5, 1)),
        ("２０２４年５月１日", dt.datetime(2024, 5, 1)),
        ("2024.05.01", dt.datetime(2024, 5, 1)),
        ("20240501", dt.datetime(2024, 5, 1)),
        ("20240501134510", dt.datetime(2024, 5, 1, 13, 45, 10)),
        ("2024-05-01 13:45:10", dt.datetime(2024, 5, 1, 13, 45, 10)),
        ("2024-05-01T08:00", dt.datetime(2024, 5, 1, 8, 0)),
        ("45413", dt.datetime(2024, 5, 1)),  # Excel serial
        ("45413.5", dt.datetime(2024, 5, 1, 12, 0)),
        ("2024-02-30", None),  # not a calendar date: NULL, never rolled over
        ("2024-13-01", None),
        ("tomorrow", None),
        ("", None),
        (None, None),
    ],
)
def test_timestamps_in_chinese_export_formats(con, text, expected):
    assert con.execute("select yc_timestamp(?)", [text]).fetchone()[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234.50元", Decimal("1234.5")),
        ("￥12.3", Decimal("12.3")),
        ("¥ 7", Decimal("7")),
        ("１２３．４", Decimal("123.4")),
        ("1，000", Decimal("1000")),  # full-width thousands separator
        (" 7 ", Decimal("7")),
        ("-3", Decimal("-3")),
        ("1e3", Decimal("1000")),
        ("RMB 5.5", Decimal("5.5")),
        ("abc", None),
        ("12.3.4", None),
        ("", None),
    ],
)
def test_decimals_accept_currency_marks_and_full_width_digits(con, text, expected):
    assert con.execute("select yc_decimal(?)", [text]).fetchone()[0] == expected


def test_codes_are_trimmed_upper_cased_and_blank_is_null(con):
    assert con.execute("select yc_code(' xc10 aaa ')").fetchone()[0] == "XC10AAA"
    assert con.execute("select yc_code('　')").fetchone()[0] is None
    assert con.execute("select yc_text('  ')").fetchone()[0] is None


def test_enum_accepts_chinese_names(con):
    infno = typed_expression(PURCHASES.column("infno"), "x")
    gift = typed_expression(PURCHASES.column("prod_geay_flag"), "x")
    values = con.execute(f"select {infno} from (values ('采购'), ('3504'), ('退货'), ('9999')) t(x)").fetchall()
    assert [v[0] for v in values] == ["3503", "3504", "3504", None]
    # An empty gift flag takes the contract default 0.
    assert con.execute(f"select {gift} from (values (''), ('是'), ('1')) t(x)").fetchall() == [("0",), ("1",), ("1",)]


def test_headers_match_canonical_chinese_and_bracketed_forms():
    index = header_index(PURCHASES)
    assert index[normalise_header("平台订单号")] == "platform_order_no"
    assert index[normalise_header(" FINL_TRNS_PRIC ")] == "finl_trns_pric"
    assert index[normalise_header("purc_retn_stoin_time [入库时间]")] == "purc_retn_stoin_time"
    assert index[normalise_header("\ufeffinfno")] == "infno"
    assert index[normalise_header("*医保目录编码")] == "med_list_codg"
    assert normalise_header("未知列") not in index
