"""Matching published VBP results to the catalogue (ingest/vbp_import.py) and
the ``yaocai import-vbp-results`` command, on small hand-made tables."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from ingest.lake import ensure_lake
from ingest.vbp_import import (Catalogue, CatalogueProduct, CompanyMapping, import_results, parse_price,
                               split_variety)
from yaocai.cli import main as yaocai_main

CATALOGUE = [
    CatalogueProduct("P1", "枸橼酸西地那非片", "片剂", "50mg", 10, "广州白云山医药集团股份有限公司"),
    CatalogueProduct("P2", "阿托伐他汀钙片", "片剂", "20mg", 7, "北京嘉林药业股份有限公司"),
    CatalogueProduct("P3", "阿托伐他汀钙片", "片剂", "20mg", 14, "北京嘉林药业股份有限公司"),
    CatalogueProduct("P4", "氨溴索", "注射剂", "2ml:15mg", 10, "四川科伦药业股份有限公司"),
    CatalogueProduct("P5", "氨氯地平", "口服常释剂型", "5mg", 28, "浙江京新药业股份有限公司"),
]
MAPPING = CompanyMapping([("京新药业", "浙江京新"), ("浙江京新药业股份有限公司", "浙江京新")])


def match(generic, form, spec, manufacturer):
    return Catalogue(CATALOGUE, MAPPING).match(generic, form, spec, manufacturer)


def test_variant_full_width_and_line_broken_names_match_exactly():
    found = match("枸櫞酸西地那非片", None, "５０ｍｇ", "广州白云山医药集团股份有\n 限公司")
    assert (found.status, found.med_list_codg, found.method, found.confidence) == (
        "matched", "P1", "generic:exact;strength:content;manufacturer:exact", 1.0)


def test_strength_in_g_matches_mg_and_truncated_company_names_match_by_prefix():
    found = match("氨溴索注射剂", None, "2ml:0.015g", "四川科伦药业股份有")
    assert (found.status, found.med_list_codg, found.confidence) == ("matched", "P4", 0.9)
    assert found.method.endswith("manufacturer:truncated_name")


def test_company_mapping_matches_a_short_name_and_generic_contains_lowers_confidence():
    found = match("氨氯地平口服常释剂型", None, "5mg*28", "京新药业")
    assert (found.status, found.med_list_codg, found.confidence) == ("matched", "P5", 0.8)
    contains = match("阿托伐他汀", "口服常释剂型", "20mg", "北京嘉林药业股份有限公司")
    assert contains.status == "ambiguous" and contains.candidates == ("P2", "P3")  # two pack sizes
    assert contains.method.startswith("generic:contains") and contains.confidence == 0.9


@pytest.mark.parametrize(
    ("generic", "spec", "manufacturer", "reason_start"),
    [
        ("不存在的药口服常释剂型", "5mg", "x", "no product named 不存在的药"),
        ("氨氯地平口服常释剂型", "10mg", "浙江京新药业股份有限公司", "no 氨氯地平 at strength 10mg"),
        ("氨氯地平口服常释剂型", "5mg", "另一家药业有限公司", "no 氨氯地平 5mg made by 另一家药业有限公司"),
        ("氨氯地平口服常释剂型", "(5mg+10mg)*7", "浙江京新药业股份有限公司", "no 氨氯地平 at strength"),
    ],
)
def test_unmatched_rows_say_why(generic, spec, manufacturer, reason_start):
    found = match(generic, None, spec, manufacturer)
    assert found.status == "unmatched" and found.reason.startswith(reason_start), found.reason


def test_split_variety_and_prices():
    assert split_variety("阿托伐他汀口服常释剂型") == ("阿托伐他汀", "口服常释剂型")
    assert split_variety("非那雄胺口服常释剂型_1mg") == ("非那雄胺", "口服常释剂型")
    assert split_variety("玻璃酸钠滴眼剂 0.3%") == ("玻璃酸钠", "滴眼剂")
    assert [parse_price(t) for t in ("99999", "流标", "-", "", "１２.５元", "abc")] == [
        (None, "placeholder_99999"), (None, "tender_failed_流标"), (None, "price_missing"),
        (None, "price_missing"), (12.5, None), (None, "price_not_numeric")]


def test_awarded_rows_become_vbp_results_per_pack_and_others_are_listed():
    rows = [
        {"sheet_row": "2", "seq": "1", "generic_name": "氨氯地平口服常释剂型", "spec": "5mg", "is_winner": "是",
         "manufacturer": "浙江京新药业股份有限公司", "unit_price": "0.15", "max_price": "1.2"},
        {"sheet_row": "3", "seq": "1", "generic_name": "氨氯地平口服常释剂型", "spec": "5mg", "is_winner": "否",
         "manufacturer": "某公司", "unit_price": "99999", "max_price": "1.2"},
        {"sheet_row": "4", "seq": "2", "generic_name": "氨溴索注射剂", "spec": "2ml:15mg", "is_winner": "是",
         "manufacturer": "四川科伦药业股份有限公司", "unit_price": "3.5", "max_price": "3.44"},
        {"sheet_row": "5", "seq": "3", "generic_name": "某药", "spec": "1mg", "is_winner": "否",
         "manufacturer": "某公司", "unit_price": "0.5", "max_price": "1"},
    ]
    result = import_results(rows, Catalogue(CATALOGUE, MAPPING), batch_code="GJ99", batch_name=None,
                            batch_level="national", cycle_start="2024-01-01", cycle_end="2025-12-31",
                            source_file="t.csv")
    assert result.vbp_results == [{
        "batch_code": "GJ99", "batch_name": "GJ99", "batch_level": "national", "group_code": "GJ99-001",
        "generic_name": "氨氯地平", "dosage_form": "口服常释剂型", "med_list_codg": "P5",
        "manufacturer": "浙江京新药业股份有限公司", "winning_price": 4.2,  # 0.15 × 28 per pack
        "cycle_start": "2024-01-01", "cycle_end": "2025-12-31"}]
    assert [(m["source_row"], m["status"]) for m in result.matching] == [
        (2, "imported"), (3, "not_awarded"), (4, "rejected")]
    assert result.matching[2]["reason"].startswith("above_ceiling") and result.not_awarded == 2


def test_cli_imports_into_landing_and_lake_and_reimport_replaces(tmp_path: Path):
    warehouse, landing = tmp_path / "warehouse", tmp_path / "landing"
    table = tmp_path / "第九批.csv"
    with table.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["第九批国家组织药品集中采购中选结果"])  # a title row above the header
        writer.writerow(["序号", "药品通用名", "规格包装", "中选企业", "中选价格（最小规格）", "最高限价"])
        writer.writerow(["1", "氨氯地平口服常释剂型", "5mg*28", "京新药业", "0.15", "1.2"])
        writer.writerow(["2", "不存在的药注射剂", "1mg", "某公司", "2", "3"])
    args = ["import-vbp-results", str(table), "--batch", "GJ09", "--cycle-start", "2024-01-01",
            "--cycle-end", "2025-12-31", "--landing", str(landing), "--warehouse", str(warehouse)]
    assert yaocai_main(args) == 1  # no catalogue yet: nothing imported, said so
    (warehouse / "state").mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse / "state" / "lake.duckdb")) as con:
        ensure_lake(con)
        con.executemany("insert into products (med_list_codg, category, generic_name, dosage_form, spec, convrat, "
                        "manufacturer, platform_listed, _file_id, _source_file, _row_number) "
                        "values (?, 'western', ?, ?, ?, ?, ?, '1', 'f', 'p.csv', 1)",
                        [[p.med_list_codg, p.generic_name, p.dosage_form, p.spec, p.convrat, p.manufacturer]
                         for p in CATALOGUE])
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("生产企业-原始,生产企业\n京新药业,浙江京新\n浙江京新药业股份有限公司,浙江京新\n", encoding="utf-8")
    for _ in range(2):
        assert yaocai_main([*args, "--company-mapping", str(mapping)]) == 0
    delivered = list(csv.DictReader((landing / "vbp_results" / "imported-GJ09-第九批.csv").open(encoding="utf-8")))
    assert [(r["med_list_codg"], r["winning_price"]) for r in delivered] == [("P5", "4.2")]
    with duckdb.connect(str(warehouse / "state" / "lake.duckdb"), read_only=True) as con:
        rows = con.execute("select source_row, status, match_method from vbp_result_matching order by 1").fetchall()
    assert rows == [(3, "imported", "generic:exact;strength:content;manufacturer:company_mapping"),
                    (4, "unmatched", None)]


def test_gbk_csv_tables_are_read(tmp_path: Path):
    from ingest.vbp_import import read_table

    table = tmp_path / "gbk.csv"
    table.write_bytes("药品通用名,规格包装,中选企业,中选价格（最小规格）\n氨氯地平口服常释剂型,5mg*28,京新药业,0.15\n"
                      .encode("gb18030"))
    rows = read_table(table)
    assert [(r["generic_name"], r["spec"], r["unit_price"], r["sheet_row"]) for r in rows] == [
        ("氨氯地平口服常释剂型", "5mg*28", "0.15", "2")]
