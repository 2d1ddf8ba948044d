"""Traps of real published VBP data (docs/real-data.md), each on the real rows:
placeholder bids, text in price columns, a winner above its ceiling, a
ceiling per pack, volumes in 万片 and one volume given two ways; and the
regression checks the real data must pass."""

from __future__ import annotations

import csv
from collections import defaultdict

import pytest

from ingest.vbp_import import (Catalogue, CatalogueProduct, CompanyMapping, clean_name, import_results, parse_price,
                               read_table, reconcile_volumes, volume_in_units)
from tests.real_data_support import company_mapping_csv, real_catalogue_rows, real_data_dir

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def real():
    return real_data_dir()


@pytest.fixture(scope="module")
def catalogue(real):
    products = [CatalogueProduct(p["med_list_codg"], p["generic_name"], p["dosage_form"], p["spec"], p["convrat"],
                                 p["manufacturer"]) for p in real_catalogue_rows(real)]
    return Catalogue(products, CompanyMapping.from_csv(company_mapping_csv(real)))


def raw(real, sheet: str) -> list[dict[str, str]]:
    return read_table(real / "ccpic_datasite" / "raw" / sheet)


def imported(real, catalogue, sheet: str, batch: str, ceiling_basis: str = "per_unit"):
    return import_results(raw(real, sheet), catalogue, batch_code=batch, batch_name=None, batch_level="national",
                          cycle_start="2020-01-01", cycle_end="2021-12-31", source_file=sheet,
                          ceiling_basis=ceiling_basis)


def clean_csv(real, name: str) -> list[dict[str, str]]:
    with (real / "ccpic_datasite" / "clean" / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_placeholder_99999_bids_are_listed_never_read_as_prices(real, catalogue):
    rows = raw(real, "vbp__第四轮集采.csv")
    placeholders = {int(r["sheet_row"]) for r in rows if clean_name(r["unit_price"]) == "99999"}
    assert len(placeholders) == 7  # the source README's count for GJ04
    result = imported(real, catalogue, "vbp__第四轮集采.csv", "GJ04")
    listed = {m["source_row"]: m for m in result.matching if m["reason"] and "placeholder_99999" in m["reason"]}
    assert set(listed) == placeholders
    assert all(m["status"] == "not_awarded" and m["unit_price"] is None for m in listed.values())
    assert all(r["winning_price"] < 99999 for r in result.vbp_results)


def test_tender_failed_流标_and_dash_in_price_columns_are_reasons(real, catalogue):
    result = imported(real, catalogue, "vbp__第一轮集采4plus7.csv", "GJ01")
    failed = [m for m in result.matching if m["reason"] and "tender_failed_流标" in m["reason"]]
    assert len(failed) == 8 and all(m["status"] == "rejected" for m in failed)  # 8 failed tenders in 4+7
    assert {m["generic_name"] for m in failed} >= {"阿莫西林", "卡托普利", "阿法骨化醇"}
    # `-` in GJ04's pre-VBP median column: a missing price, not zero
    with (real / "ccpic_datasite" / "raw" / "vbp__第四轮集采.csv").open(encoding="utf-8") as handle:
        median = [v for row in csv.DictReader(handle) for k, v in row.items() if "中位价" in k]
    dashes = [v for v in median if v.strip() == "-"]
    assert len(dashes) >= 10 and {parse_price(v) for v in dashes} == {(None, "price_missing")}


def test_round_2_winner_above_its_ceiling_is_reported_not_passed(real, catalogue):
    result = imported(real, catalogue, "vbp__第二轮集采.csv", "GJ02")
    above = [m for m in result.matching if m["reason"] and m["reason"].startswith("above_ceiling")]
    assert [(m["generic_name"], m["spec"], m["status"]) for m in above] == [("特拉唑嗪", "2mg", "rejected")]
    assert above[0]["unit_price"] > above[0]["max_price"]
    assert not [r for r in result.vbp_results if r["generic_name"] == "特拉唑嗪"
                and r["manufacturer"].startswith("华润赛科")]


def test_expansion_round_ceiling_is_a_4plus7_pack_price_and_is_not_compared_per_unit(real, catalogue):
    pack_prices = {float(w["pack_price"]) for w in clean_csv(real, "vbp_GJ01_4plus7_winners.csv") if w["pack_price"]}
    ceilings = {float(b["max_price"]) for b in clean_csv(real, "vbp_bids_GJ01K_GJ02_GJ03_GJ04.csv")
                if b["batch_code"] == "GJ01K" and b["max_price"]}
    assert len(ceilings & pack_prices) >= len(ceilings) * 0.8  # the GJ01K ceilings are 4+7 pack prices
    result = imported(real, catalogue, "vbp__第一轮集采联盟地区.csv", "GJ01K", ceiling_basis="per_pack")
    awarded = [m for m in result.matching if m["status"] != "not_awarded"]
    assert awarded and all(m["ceiling_basis"] == "per_pack" for m in awarded)
    assert not [m for m in awarded if m["reason"] and "above_ceiling" in m["reason"]]


def test_4plus7_unit_price_is_pack_price_over_pack_count_for_every_awarded_row(real, catalogue):
    winners = [w for w in clean_csv(real, "vbp_GJ01_4plus7_winners.csv") if w["tender_status"] == "awarded"]
    assert len(winners) == 26
    for w in winners:
        # the clean file rounds to 6 decimals
        assert float(w["pack_price"]) / int(w["pack_count"]) == pytest.approx(float(w["unit_price_in_sheet"]),
                                                                              abs=5e-7), w
    result = imported(real, catalogue, "vbp__第一轮集采4plus7.csv", "GJ01")
    assert not [m for m in result.matching if m["reason"] and "unit_price_disagrees" in m["reason"]]
    # the importer's check fails a real row whose pack count is misread
    row = next(r for r in raw(real, "vbp__第一轮集采4plus7.csv") if clean_name(r["spec"]) == "20mg*7")
    wrong = import_results([{**row, "spec": "20mg*14"}], catalogue, batch_code="GJ01", batch_name=None,
                           batch_level="national", cycle_start="2019-03-01", cycle_end="2020-02-29", source_file="x")
    assert "unit_price_disagrees" in wrong.matching[0]["reason"]


def test_winners_are_at_or_below_the_per_unit_ceiling_except_the_one_round_2_row(real):
    above = [(b["batch_code"], b["variety"], b["strength"], b["company_short"])
             for b in clean_csv(real, "vbp_bids_GJ01K_GJ02_GJ03_GJ04.csv")
             if b["is_winner"] == "1" and b["max_price_basis"] == "per_unit"
             and float(b["bid_unit_price"]) > float(b["max_price"])]
    assert above == [("GJ02", "特拉唑嗪口服常释剂型", "2mg", "华润赛科")]


def test_volumes_in_wan_pian_and_city_volumes_sum_to_the_national_totals(real):
    national = {(r["seq"], r["strength"]): r for r in clean_csv(real, "vbp_GJ01_national_agreed_volumes.csv")}
    for r in national.values():  # 万片 → minimum units, exactly
        assert volume_in_units(r["agreed_qty_wan_units"], "采购数量（万片/万袋/万支）") == float(r["agreed_qty_units"])
    by_city: dict[tuple[str, str], float] = defaultdict(float)
    varieties = {(r["variety"], r["strength"]): key for key, r in national.items()}
    for r in clean_csv(real, "vbp_agreed_volumes_by_region.csv"):
        if r["batch_code"] == "GJ01" and r["agreed_qty_units"]:
            by_city[varieties[(r["variety"], r["strength"])]] += float(r["agreed_qty_units"])
    assert by_city
    for key, total in by_city.items():
        assert total == pytest.approx(float(national[key]["agreed_qty_units"]), rel=1e-9, abs=1), key


def test_one_volume_given_two_ways_imatinib_is_a_finding(real):
    """伊马替尼 100 mg: 25.66 万片 in the 4+7 results sheet, 253.66 万片 in the
    volume workbook (whose cities add up to 253.66): reported, not chosen."""
    header = "采购数量（万片/万袋/万支）"
    results_sheet, volume_sheet = {}, {}
    seq = None
    for r in clean_csv(real, "vbp_GJ01_4plus7_winners.csv"):
        seq = r["seq"] or seq
        if r["agreed_qty_wan_units"]:
            results_sheet[(seq, r["strength"])] = volume_in_units(r["agreed_qty_wan_units"], header)
    for r in clean_csv(real, "vbp_GJ01_national_agreed_volumes.csv"):
        volume_sheet[(r["seq"], r["strength"])] = volume_in_units(r["agreed_qty_wan_units"], header)
    assert len(results_sheet.keys() & volume_sheet.keys()) >= 30
    assert reconcile_volumes(results_sheet, volume_sheet) == [(("23", "100mg"), 256600.0, 2536600.0)]


def test_analyst_rescaled_price_cells_are_listed_and_the_workbook_reads_like_its_csv(real, catalogue):
    """The visible 第三轮集采 sheet, read from the original XLSX: its bid cell
    `=1.0571*2` is the compiler's rescaling (listed, not a price), its 11
    `99999` placeholders are listed; `=H3/7`-style conversions in 4+7 are kept."""
    workbook = real / "ccpic_datasite" / "source" / "vbp.xlsx"
    rows = read_table(workbook, "第三轮集采")
    assert len(rows) == len(raw(real, "vbp__第三轮集采.csv")) == 312
    result = import_results(rows, catalogue, batch_code="GJ03", batch_name=None, batch_level="national",
                            cycle_start="2020-11-01", cycle_end="2023-10-31", source_file=workbook.name)
    rescaled = [m for m in result.matching if m["reason"] and "analyst_rescaled" in m["reason"]]
    assert [(m["source_row"], m["status"]) for m in rescaled] == [(112, "not_awarded")]
    assert "=1.0571*2" in rescaled[0]["reason"]
    assert len([m for m in result.matching if m["reason"] and "placeholder_99999" in m["reason"]]) == 11
    four_plus_seven = imported(real, catalogue, "vbp__第一轮集采4plus7.csv", "GJ01")
    assert not [m for m in four_plus_seven.matching if m["reason"] and "analyst_rescaled" in m["reason"]]
