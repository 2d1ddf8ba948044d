"""Loading deliveries: formats, encodings, quarantine reasons, accounting,
re-runs, restatements (ingest/loader.py)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
from openpyxl import Workbook

from ingest.loader import ingest_landing

PRODUCT = "XC10AAA131A001010100483"
PRODUCT_2 = "XC10AAA131A001010100484"
HOSPITAL = "H44080200017"

PURCHASE_HEADER = ["infno", "fixmedins_code", "fixmedins_bchno", "med_list_codg", "finl_trns_pric",
                   "purc_retn_cnt", "purc_retn_stoin_time", "platform_order_no", "medins_prod_purc_no", "prod_geay_flag"]


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    write_csv(root / "institutions" / "inst.csv",
              ["fixmedins_code", "fixmedins_name", "admdvs", "hosp_lv", "ownership"],
              [[HOSPITAL, "湛江市第一人民医院", "440802", "3", "public"]])
    write_csv(root / "products" / "products.csv",
              ["med_list_codg", "category", "generic_name", "dosage_form", "spec", "convrat", "manufacturer", "platform_listed"],
              [[PRODUCT, "western", "阿托伐他汀钙片", "片剂", "20mg", "7", "甲药业", "1"],
               [PRODUCT_2, "western", "阿托伐他汀钙片", "片剂", "10mg", "14", "乙药业", "1"]])
    return root


@pytest.fixture
def lake(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "lake.duckdb"))
    yield con
    con.close()


def quarantine(con) -> list[tuple]:
    return con.execute("select source_file, row_number, reason from quarantine order by source_file, row_number").fetchall()


def purchases(con) -> list[tuple]:
    return con.execute("select fixmedins_bchno, infno, finl_trns_pric, purc_retn_cnt, purc_retn_stoin_time, "
                       "platform_order_no from purchases order by fixmedins_bchno").fetchall()


def test_gb18030_chinese_headers_and_value_formats(landing, lake):
    header = ["交易编号", "定点医药机构编号", "批次流水号", "医保目录编码", "最终成交单价", "采购/退货数量", "入库时间", "平台订单号"]
    write_csv(landing / "purchases" / "may.csv", header, [
        ["采购", HOSPITAL, "B1", PRODUCT, "1,234.50元", "２", "2024年5月1日", "PO-1"],
        ["3503", HOSPITAL, "B2", PRODUCT, "￥3.5", "10", "2024/5/2 08:30", ""],
    ], encoding="gb18030")
    report = ingest_landing(landing, lake, "run-1")
    file = next(f for f in report.files if f.feed == "purchases")
    assert (file.status, file.rows_in, file.rows_loaded, file.rows_quarantined) == ("loaded", 2, 2, 0)
    assert "gb18030" in file.message
    rows = purchases(lake)
    assert rows[0][2:] == (pytest.approx(1234.5), pytest.approx(2), dt.datetime(2024, 5, 1), "PO-1")
    assert rows[1][2:] == (pytest.approx(3.5), pytest.approx(10), dt.datetime(2024, 5, 2, 8, 30), None)


def test_utf8_with_bom_is_read_without_a_stray_header_character(landing, lake):
    write_csv(landing / "purchases" / "bom.csv", PURCHASE_HEADER,
              [["3503", HOSPITAL, "B1", PRODUCT, "3", "1", "2024-05-01", "PO", "", "0"]], encoding="utf-8-sig")
    report = ingest_landing(landing, lake, "run-1")
    assert report.rows_quarantined == 0 and len(purchases(lake)) == 1


def test_every_bad_value_is_quarantined_with_its_reason_and_good_rows_load(landing, lake):
    rows = [
        ["3503", HOSPITAL, "OK1", PRODUCT, "3", "1", "2024-05-01", "PO", "", ""],
        ["3503", HOSPITAL, "NEG", PRODUCT, "3", "-1", "2024-05-01", "", "", ""],
        ["3503", HOSPITAL, "ZERO", PRODUCT, "3", "0", "2024-05-01", "", "", ""],
        ["3503", HOSPITAL, "NEGPRICE", PRODUCT, "-3", "1", "2024-05-01", "", "", ""],
        ["3503", HOSPITAL, "BADDATE", PRODUCT, "3", "1", "2024-02-30", "", "", ""],
        ["3503", HOSPITAL, "OLD", PRODUCT, "3", "1", "1999-05-01", "", "", ""],
        ["3503", "", "NOINST", PRODUCT, "3", "1", "2024-05-01", "", "", ""],
        ["3503", "H99999999999", "UNKINST", PRODUCT, "3", "1", "2024-05-01", "", "", ""],
        ["3503", HOSPITAL, "UNKPROD", "XC10AAA131A001010199999", "3", "1", "2024-05-01", "", "", ""],
        ["3503", HOSPITAL, "TEXTQTY", PRODUCT, "3", "abc", "2024-05-01", "", "", ""],
        ["9999", HOSPITAL, "INFNO", PRODUCT, "3", "1", "2024-05-01", "", "", ""],
        ["3504", HOSPITAL, "RET-UNKNOWN", PRODUCT, "3", "1", "2024-05-03", "", "NOPE", ""],
        ["3504", HOSPITAL, "RET-NOREF", PRODUCT, "3", "1", "2024-05-03", "", "", ""],
        ["3504", HOSPITAL, "RET-OK", PRODUCT, "3", "1", "2024-05-03", "", "OK1", ""],
    ]
    write_csv(landing / "purchases" / "bad.csv", PURCHASE_HEADER, rows)
    report = ingest_landing(landing, lake, "run-1")
    file = next(f for f in report.files if f.feed == "purchases")
    assert file.rows_in == len(rows) == file.rows_loaded + file.rows_quarantined
    assert {r[0] for r in purchases(lake)} == {"OK1", "RET-OK"}
    reasons = {row: reason for _, row, reason in quarantine(lake)}
    assert "purc_retn_cnt: must be > 0" in reasons[2]
    assert "purc_retn_cnt: must be > 0" in reasons[3]
    assert "finl_trns_pric: negative price" in reasons[4]
    assert "purc_retn_stoin_time: cannot read “2024-02-30”" in reasons[5]
    assert "outside the plausible range" in reasons[6]
    assert "fixmedins_code: required value missing" in reasons[7]
    assert "unknown institution" in reasons[8]
    assert "unknown product code" in reasons[9]
    assert "purc_retn_cnt: cannot read “abc” as a number" in reasons[10]
    assert "infno: cannot read “9999”" in reasons[11]
    assert "returned purchase NOPE is unknown" in reasons[12]
    assert "must name the purchase it returns" in reasons[13]
    raw = json.loads(lake.execute("select raw_content from quarantine where row_number = 10").fetchone()[0])
    assert raw["purc_retn_cnt"] == "abc"  # the row as delivered, for the provider


def test_duplicates_exact_counted_once_conflicting_quarantined(landing, lake):
    line = ["3503", HOSPITAL, "B1", PRODUCT, "3", "1", "2024-05-01", "PO", "", ""]
    conflict_a = ["3503", HOSPITAL, "B2", PRODUCT, "3", "1", "2024-05-01", "PO", "", ""]
    conflict_b = ["3503", HOSPITAL, "B2", PRODUCT, "4", "1", "2024-05-01", "PO", "", ""]
    write_csv(landing / "purchases" / "a.csv", PURCHASE_HEADER, [line, line, conflict_a, conflict_b])
    ingest_landing(landing, lake, "run-1")
    assert [r[0] for r in purchases(lake)] == ["B1"]
    reasons = {row: reason for _, row, reason in quarantine(lake)}
    assert "exact duplicate of row 1" in reasons[2]
    assert "conflicting content" in reasons[3] and "conflicting content" in reasons[4]
    # Across files: the same line again elsewhere is counted once; another
    # version of it is quarantined and the loaded one stays.
    write_csv(landing / "purchases" / "b.csv", PURCHASE_HEADER, [line])
    write_csv(landing / "purchases" / "c.csv", PURCHASE_HEADER,
              [["3503", HOSPITAL, "B1", PRODUCT, "9", "1", "2024-05-01", "PO", "", ""]])
    ingest_landing(landing, lake, "run-2")
    assert [r[0] for r in purchases(lake)] == ["B1"]
    later = {source: reason for source, _, reason in quarantine(lake) if source != "purchases/a.csv"}
    assert "exact duplicate of a line already loaded from purchases/a.csv row 1" in later["purchases/b.csv"]
    assert "conflicts with the line already loaded" in later["purchases/c.csv"]


def test_rerun_is_a_no_op_and_same_content_under_another_name_too(landing, lake):
    write_csv(landing / "purchases" / "a.csv", PURCHASE_HEADER,
              [["3503", HOSPITAL, "B1", PRODUCT, "3", "1", "2024-05-01", "PO", "", ""]])
    first = ingest_landing(landing, lake, "run-1")
    assert first.rows_loaded == 4
    (landing / "purchases" / "copy-of-a.csv").write_bytes((landing / "purchases" / "a.csv").read_bytes())
    second = ingest_landing(landing, lake, "run-2")
    assert {f.status for f in second.files} == {"duplicate_delivery"}
    assert second.rows_in == 0
    assert len(purchases(lake)) == 1
    assert lake.execute("select count(*) from institutions").fetchone()[0] == 1


def test_corrected_file_under_the_same_name_restates_the_old_rows(landing, lake):
    path = write_csv(landing / "purchases" / "a.csv", PURCHASE_HEADER,
                     [["3503", HOSPITAL, "B1", PRODUCT, "3", "1", "2024-05-01", "PO", "", ""],
                      ["3503", HOSPITAL, "B2", PRODUCT, "oops", "1", "2024-05-01", "PO", "", ""]])
    ingest_landing(landing, lake, "run-1")
    assert len(quarantine(lake)) == 1
    write_csv(path.parent / "a.csv", PURCHASE_HEADER,
              [["3503", HOSPITAL, "B1", PRODUCT, "3", "1", "2024-05-01", "PO", "", ""],
               ["3503", HOSPITAL, "B2", PRODUCT, "4", "1", "2024-05-01", "PO", "", ""]])
    report = ingest_landing(landing, lake, "run-2")
    restated = next(f for f in report.files if f.feed == "purchases")
    assert restated.status == "loaded" and "restates" in restated.message
    assert [r[0] for r in purchases(lake)] == ["B1", "B2"]  # replaced, not added
    assert quarantine(lake) == []  # the old file's quarantine rows went with it
    statuses = lake.execute("select status from ingest_manifest where feed = 'purchases' order by loaded_at").fetchall()
    assert [s[0] for s in statuses] == ["superseded", "loaded"]


def test_xlsx_with_title_rows_chinese_headers_totals_and_excel_dates(landing, lake):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["湛江市医疗机构采购明细表"])
    sheet.append(["填报单位：某医院", None, None])
    sheet.append(["交易编号", "定点医药机构编号", "批次流水号", "医保目录编码", "最终成交单价", "采购/退货数量", "入库时间", "平台订单号"])
    sheet.append(["3503", HOSPITAL, "X1", PRODUCT, 3.5, 2, dt.datetime(2024, 5, 1, 9, 0), "PO-9"])
    sheet.append(["3503", HOSPITAL, "X2", PRODUCT, "4", "1", 45413, None])  # numbers as text, Excel serial
    sheet.append(["合计", None, None, None, None, 3, None, None])
    (landing / "purchases").mkdir(parents=True, exist_ok=True)
    workbook.save(landing / "purchases" / "may.xlsx")
    report = ingest_landing(landing, lake, "run-1")
    file = next(f for f in report.files if f.feed == "purchases")
    assert (file.rows_in, file.rows_loaded, file.rows_quarantined) == (3, 2, 1)
    rows = purchases(lake)
    assert rows[0][4] == dt.datetime(2024, 5, 1, 9, 0) and rows[0][5] == "PO-9"
    assert rows[1][4] == dt.datetime(2024, 5, 1)
    assert "summary row" in quarantine(lake)[0][2]


def test_nhsa_message_envelopes_in_json_lines(landing, lake):
    path = landing / "purchases" / "msgs.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    messages = [
        {"infno": "3503", "fixmedins_code": HOSPITAL, "input": {"purcinfo": {
            "fixmedins_bchno": "J1", "med_list_codg": PRODUCT, "finl_trns_pric": 3, "purc_retn_cnt": 2,
            "purc_retn_stoin_time": "2024-05-01 10:00:00", "platform_order_no": "PO", "memo": "备注"}}},
        {"infno": "3504", "fixmedins_code": HOSPITAL, "input": {"purcinfo": {
            "fixmedins_bchno": "J2", "med_list_codg": PRODUCT, "finl_trns_pric": 3, "purc_retn_cnt": 1,
            "purc_retn_stoin_time": "2024-05-02 10:00:00", "medins_prod_purc_no": "J1", "purc_invo_no": "INV"}}},
    ]
    path.write_text("\n".join(json.dumps(m, ensure_ascii=False) for m in messages) + "\n{not json\n", encoding="utf-8")
    report = ingest_landing(landing, lake, "run-1")
    file = next(f for f in report.files if f.feed == "purchases")
    assert (file.rows_in, file.rows_loaded, file.rows_quarantined) == (3, 2, 1)
    assert [r[:2] for r in purchases(lake)] == [("J1", "3503"), ("J2", "3504")]
    # Unknown extra fields are kept, not fatal.
    assert json.loads(lake.execute("select _extra from purchases where fixmedins_bchno = 'J1'").fetchone()[0]) == {"memo": "备注"}
    assert "not valid JSON" in quarantine(lake)[0][2]


def test_file_level_problems_are_rejected_with_a_clear_reason(landing, lake):
    folder = landing / "purchases"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.csv").write_bytes(b"")
    (folder / "latin1.csv").write_bytes("nom,prénom\nà,é\n".encode("latin-1"))
    (folder / "missing-column.csv").write_text("infno,fixmedins_code,fixmedins_bchno\n3503,H,B\n")
    report = ingest_landing(landing, lake, "run-1")
    status = {f.source_file: (f.status, f.message) for f in report.files if f.feed == "purchases"}
    assert status["purchases/empty.csv"] == ("rejected", "empty file (0 bytes)")
    assert status["purchases/latin1.csv"][0] == "rejected"
    assert "unreadable text encoding" in status["purchases/latin1.csv"][1]  # detected, no mojibake loaded
    assert "required column(s) missing" in status["purchases/missing-column.csv"][1]
    reasons = [r[2] for r in quarantine(lake)]
    assert all(reason.startswith("file rejected:") for reason in reasons) and len(reasons) == 3


def test_truncated_last_row_is_quarantined_and_the_rest_loads(landing, lake):
    path = landing / "purchases" / "cut.csv"
    write_csv(path, PURCHASE_HEADER, [["3503", HOSPITAL, "B1", PRODUCT, "3", "1", "2024-05-01", "PO", "", ""]])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("3503,H44080200017,B2,XC10AAA1")  # the writer died here
    report = ingest_landing(landing, lake, "run-1")
    file = next(f for f in report.files if f.feed == "purchases")
    assert (file.rows_in, file.rows_loaded, file.rows_quarantined) == (2, 1, 1)
    assert "truncated" in quarantine(lake)[0][2]


def test_files_still_being_written_are_not_read(landing, lake):
    folder = landing / "purchases"
    write_csv(folder / "a.csv.part", PURCHASE_HEADER, [["3503", HOSPITAL, "B1", PRODUCT, "3", "1", "2024-05-01", "PO", "", ""]])
    report = ingest_landing(landing, lake, "run-1")
    assert [f.status for f in report.files if f.feed == "purchases"] == ["skipped_incomplete"]
    # Once a feed uses .done markers, only files with their marker are read.
    write_csv(folder / "b.csv", PURCHASE_HEADER, [["3503", HOSPITAL, "B2", PRODUCT, "3", "1", "2024-05-01", "PO", "", ""]])
    write_csv(folder / "c.csv", PURCHASE_HEADER, [["3503", HOSPITAL, "B3", PRODUCT, "3", "1", "2024-05-01", "PO", "", ""]])
    (folder / "c.csv.done").write_text("")
    report = ingest_landing(landing, lake, "run-2")
    assert [r[0] for r in purchases(lake)] == ["B3"]
    assert {f.source_file: f.status for f in report.files if f.feed == "purchases"}["purchases/b.csv"] == "skipped_incomplete"


def test_listed_price_intervals_must_not_overlap(landing, lake):
    write_csv(landing / "listed_prices" / "p.csv", ["med_list_codg", "listed_price", "valid_from", "valid_to"], [
        [PRODUCT, "3.5", "2024-01-01", "2024-07-01"],
        [PRODUCT, "3.2", "2024-07-01", ""],
        [PRODUCT_2, "2.0", "2024-01-01", "2024-12-31"],
        [PRODUCT_2, "2.1", "2024-06-01", ""],
    ])
    ingest_landing(landing, lake, "run-1")
    loaded = lake.execute("select med_list_codg, listed_price from listed_prices order by all").fetchall()
    assert [(c[-3:], float(p)) for c, p in loaded] == [("483", 3.2), ("483", 3.5)]
    assert len(quarantine(lake)) == 2 and all("overlaps" in r[2] for r in quarantine(lake))


def test_symbolic_links_are_not_followed(landing, lake, tmp_path):
    outside = write_csv(tmp_path / "outside" / "secret.csv", PURCHASE_HEADER,
                        [["3503", HOSPITAL, "B1", PRODUCT, "3", "1", "2024-05-01", "PO", "", ""]])
    (landing / "purchases").mkdir(parents=True, exist_ok=True)
    (landing / "purchases" / "link.csv").symlink_to(outside)
    report = ingest_landing(landing, lake, "run-1")
    assert [f.status for f in report.files if f.feed == "purchases"] == ["rejected"]
    assert "symbolic link" in report.files[-1].message
    assert purchases(lake) == []


def test_product_rules_convrat_and_code_shape_by_category(landing, lake):
    write_csv(landing / "products" / "more.csv",
              ["med_list_codg", "category", "generic_name", "convrat", "manufacturer", "platform_listed"], [
                  ["ZA12EB00460100120494", "中成药", "丹红注射液", "10", "丙药业", "是"],
                  ["XSHORT", "western", "某药", "10", "丙药业", "1"],
                  ["C0201020650100140588", "高值医用耗材", "冠脉球囊", "0", "丁器械", "1"],
                  ["C02010206501001405881234567", "hvc", "冠脉支架", "1", "丁器械", "1"],
                  ["ZA12EB00460100120495", "chinese_patent", "丹参", "-2", "丙药业", "1"],
              ])
    ingest_landing(landing, lake, "run-1")
    codes = {r[0] for r in lake.execute("select med_list_codg from products").fetchall()}
    assert {"ZA12EB00460100120494", "C02010206501001405881234567"} <= codes
    reasons = {row: reason for source, row, reason in quarantine(lake) if source == "products/more.csv"}
    assert reasons[2] == "med_list_codg: code shape does not match category western"
    assert reasons[3] == "convrat: must be > 0"
    assert reasons[5] == "convrat: must be > 0"


def test_xlsx_merged_header_cells_keep_their_data(landing, lake):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["定点医药机构编号", "定点医药机构名称", "医保区划", "医院等级", "经济类型", "备注", None])
    sheet.merge_cells("F1:G1")  # a merged "备注" header spanning two columns
    sheet.append(["H44080300001", "霞山区人民医院", "440803", "二级", "公立", "甲", "乙"])
    workbook.save(landing / "institutions" / "more.xlsx")
    ingest_landing(landing, lake, "run-1")
    extra = lake.execute("select _extra from institutions where fixmedins_code = 'H44080300001'").fetchone()[0]
    assert json.loads(extra) == {"备注": "甲", "column_7": "乙"}


def test_landing_files_are_hashed_once_unless_rewritten(tmp_path, monkeypatch):
    """A nightly run must not re-read years of landing files to find the new
    ones (issue 6), but a rewritten file is always hashed again, even when
    its size and modification time were put back."""
    import os
    import time

    from ingest import loader
    from ingest.lake import ensure_lake

    con = duckdb.connect()
    ensure_lake(con)
    delivery = tmp_path / "2026-10_a.csv"
    delivery.write_text("infno,fixmedins_code\n3503,H1\n")
    hashed: list[Path] = []
    real_sha256 = loader.sha256_of
    monkeypatch.setattr(loader, "sha256_of", lambda path: hashed.append(path) or real_sha256(path))
    first = loader.landing_file_id(con, delivery)
    assert loader.landing_file_id(con, delivery) == first == real_sha256(delivery)
    assert len(hashed) == 1
    before = delivery.stat()
    time.sleep(0.01)
    delivery.write_text("infno,fixmedins_code\n3503,H2\n")  # same size
    os.utime(delivery, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime
    assert loader.landing_file_id(con, delivery) == real_sha256(delivery) != first
    assert len(hashed) == 2
