"""Tests for yaocai_demo (the demo generator): shapes of the landing feeds and that the truth file tells the truth.

The checks recompute every planted anomaly from the files alone, the simple way
(contract §2 formulas in pandas), rather than trusting the generator's own tally.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from yaocai_demo import (
    FEEDS,
    HOSP_LV_ZH,
    INSTITUTION_LABELS_ZH,
    OWNERSHIP_ZH,
    PURCHASE_COLUMNS,
    PURCHASE_LABELS_ZH,
    TRUTH_FILE,
    generate_demo_landing,
)
from yaocai_demo.landing import _default_counts

LINES = 3_000
AS_OF = date(2026, 10, 31)
CSV_ENCODINGS = {"csv-utf-8": "utf-8", "csv-utf-8-sig": "utf-8-sig", "csv-gb18030-chinese-headers": "gb18030"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[tuple[str, int, int]]]:
    landing = tmp_path_factory.mktemp("landing")
    calls: list[tuple[str, int, int]] = []
    truth = generate_demo_landing(landing, purchase_lines=LINES, progress=lambda *a: calls.append(a))
    return landing, truth, calls


@pytest.fixture(scope="module")
def landing(generated: tuple[Path, dict, list]) -> Path:
    return generated[0]


@pytest.fixture(scope="module")
def truth(generated: tuple[Path, dict, list]) -> dict:
    return generated[1]


@pytest.fixture(scope="module")
def products(landing: Path) -> pd.DataFrame:
    return pd.read_csv(landing / "products/products.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def institutions(landing: Path) -> pd.DataFrame:
    ws = openpyxl.load_workbook(landing / "institutions/institutions.xlsx", read_only=True).worksheets[0]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    frame = pd.DataFrame(rows[1:], columns=rows[0]).rename(columns={v: k for k, v in INSTITUTION_LABELS_ZH.items()})
    frame["hosp_lv"] = frame["hosp_lv"].map({v: k for k, v in HOSP_LV_ZH.items()})
    frame["ownership"] = frame["ownership"].map({v: k for k, v in OWNERSHIP_ZH.items()})
    return frame


@pytest.fixture(scope="module")
def listed(landing: Path) -> pd.DataFrame:
    frame = pd.read_csv(landing / "listed_prices/listed_prices.csv", dtype={"med_list_codg": str})
    frame["valid_from"] = pd.to_datetime(frame["valid_from"])
    frame["valid_to"] = pd.to_datetime(frame["valid_to"])
    return frame


def read_purchases(landing: Path, formats: dict[str, str]) -> pd.DataFrame:
    """Every purchases file back into canonical columns, with its file and 1-based data row number."""
    frames = []
    for rel, fmt in sorted(formats.items()):
        if not rel.startswith("purchases/"):
            continue
        if fmt == "jsonl-nhsa":
            records = []
            for line in (landing / rel).read_text(encoding="utf-8").splitlines():
                message = json.loads(line)
                records.append({"infno": message["infno"], "fixmedins_code": message["fixmedins_code"],
                                **message["input"]["purcinfo"]})
            frame = pd.DataFrame(records).astype(str).replace({"None": "", "nan": ""})
        else:
            frame = pd.read_csv(landing / rel, dtype=str, keep_default_na=False, encoding=CSV_ENCODINGS[fmt])
            frame = frame.rename(columns={v: k for k, v in PURCHASE_LABELS_ZH.items()})
        frame["file"] = rel
        frame["row_number"] = np.arange(1, len(frame) + 1)
        frames.append(frame)
    lines = pd.concat(frames, ignore_index=True).fillna("")
    lines["price"] = pd.to_numeric(lines["finl_trns_pric"].replace("", np.nan), errors="coerce")
    lines["qty"] = pd.to_numeric(lines["purc_retn_cnt"], errors="coerce")
    lines["time"] = pd.to_datetime(lines["purc_retn_stoin_time"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    return lines


@pytest.fixture(scope="module")
def all_purchases(landing: Path, truth: dict) -> pd.DataFrame:
    return read_purchases(landing, truth["formats"])


@pytest.fixture(scope="module")
def purchases(all_purchases: pd.DataFrame, truth: dict, products: pd.DataFrame, listed: pd.DataFrame) -> pd.DataFrame:
    """Valid lines up to as_of, with product attributes and the listed price valid on the receipt day."""
    invalid = {(r["file"], r["row_number"]) for r in truth["invalid_rows"]}
    keep = [(f, r) not in invalid for f, r in zip(all_purchases["file"], all_purchases["row_number"], strict=True)]
    lines = all_purchases[keep]
    lines = lines[lines["time"] < pd.Timestamp(AS_OF) + pd.Timedelta(days=1)].copy()
    lines = lines.merge(products[["med_list_codg", "category", "generic_name", "dosage_form", "convrat"]],
                        on="med_list_codg", how="left", validate="many_to_one")
    lines["convrat"] = lines["convrat"].astype(float)
    lines["day"] = lines["time"].dt.normalize()
    lines = pd.merge_asof(lines.sort_values("day"), listed.sort_values("valid_from"), left_on="day",
                          right_on="valid_from", by="med_list_codg", direction="backward")
    stale = lines["valid_to"].notna() & (lines["day"] >= lines["valid_to"])
    lines.loc[stale, "listed_price"] = np.nan
    lines["month"] = lines["time"].dt.to_period("M").dt.to_timestamp()
    lines["gift"] = lines["prod_geay_flag"] == "1"
    lines["sign"] = np.where(lines["infno"] == "3503", 1.0, -1.0)
    return lines


def test_same_arguments_give_identical_bytes(landing: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_demo_landing(again, purchase_lines=LINES)
    first = sorted(p.relative_to(landing) for p in landing.rglob("*") if p.is_file())
    second = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert first == second
    for rel in first:
        assert (landing / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_every_feed_has_files_and_truth_sits_at_the_root(generated: tuple[Path, dict, list]) -> None:
    landing, truth, calls = generated
    for feed in FEEDS:
        assert any((landing / feed).iterdir()), feed
    assert json.loads((landing / TRUTH_FILE).read_text(encoding="utf-8")) == truth
    assert not list(landing.glob(f"*/{TRUTH_FILE}"))
    assert {c[0] for c in calls} >= {"reference", "purchases", "agreed_volumes"}
    with pytest.raises(FileExistsError):
        generate_demo_landing(landing, purchase_lines=LINES)


def test_counts_match_the_files(landing: Path, truth: dict, all_purchases: pd.DataFrame) -> None:
    for rel, rows in truth["counts"].items():
        if rel.endswith(".xlsx"):
            continue
        if rel.endswith(".jsonl"):
            assert len((landing / rel).read_text(encoding="utf-8").splitlines()) == rows
        else:
            assert (all_purchases["file"] == rel).sum() == rows if rel.startswith("purchases/") else \
                len(pd.read_csv(landing / rel, dtype=str)) == rows
    assert sum(v for k, v in truth["counts"].items() if k.startswith("purchases/")) == pytest.approx(LINES, rel=0.15)


def test_purchase_file_formats(landing: Path, truth: dict) -> None:
    formats = {rel: fmt for rel, fmt in truth["formats"].items() if rel.startswith("purchases/")}
    assert set(formats.values()) == {"csv-utf-8", "csv-utf-8-sig", "csv-gb18030-chinese-headers", "jsonl-nhsa"}
    for rel, fmt in formats.items():
        assert re.fullmatch(r"purchases/\d{4}-\d{2}_[a-z]\.(csv|jsonl)", rel)
        raw = (landing / rel).read_bytes()
        if fmt == "csv-gb18030-chinese-headers":
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
            header = raw.decode("gb18030").splitlines()[0].split(",")
            assert header == [PURCHASE_LABELS_ZH.get(c, c) for c in PURCHASE_COLUMNS]
        elif fmt == "csv-utf-8-sig":
            assert raw.startswith(b"\xef\xbb\xbf")
            assert raw.decode("utf-8-sig").splitlines()[0].split(",") == list(PURCHASE_COLUMNS)
        elif fmt == "csv-utf-8":
            assert not raw.startswith(b"\xef\xbb\xbf")
            assert raw.decode("utf-8").splitlines()[0].split(",") == list(PURCHASE_COLUMNS)
        else:
            for line in raw.decode("utf-8").splitlines():
                message = json.loads(line)
                assert message["infno"] in ("3503", "3504")
                assert re.fullmatch(r"H\d{11}", message["fixmedins_code"])
                assert "fixmedins_bchno" in message["input"]["purcinfo"]


def test_institutions_xlsx_has_a_title_row_and_chinese_headers_and_values(landing: Path,
                                                                         institutions: pd.DataFrame) -> None:
    ws = openpyxl.load_workbook(landing / "institutions/institutions.xlsx").worksheets[0]
    assert "定点医疗机构名单" in ws.cell(1, 1).value
    assert [c.value for c in ws[2]] == list(INSTITUTION_LABELS_ZH.values())
    assert {c.value for c in ws["D"][2:]} <= set(HOSP_LV_ZH.values())
    assert {c.value for c in ws["E"][2:]} == set(OWNERSHIP_ZH.values())
    assert institutions["fixmedins_code"].is_unique
    assert institutions["fixmedins_name"].is_unique
    assert institutions.notna().all().all()


def test_codes_have_the_contract_shapes(institutions: pd.DataFrame, products: pd.DataFrame) -> None:
    cities = {"440800", "141100", "371000", "420200"}
    for code, admdvs in zip(institutions["fixmedins_code"], institutions["admdvs"], strict=True):
        assert re.fullmatch(r"H\d{11}", code) and code[1:7] == admdvs
        assert admdvs[:4] + "00" in cities
    shapes = {"western": r"X[0-9A-Z]{22}", "chinese_patent": r"Z[0-9A-Z]{19}", "herbal_pieces": r"T[0-9A-Z]{19}",
              "formula_granules": r"T[0-9A-Z]{19}", "hvc": r"C\d{19}(\d{7})?", "lvc": r"C\d{19}(\d{7})?",
              "ivd": r"C\d{19}(\d{7})?"}
    assert set(products["category"]) == set(shapes)
    for code, category in zip(products["med_list_codg"], products["category"], strict=True):
        assert re.fullmatch(shapes[category], code), (code, category)
    assert products["med_list_codg"].is_unique
    assert (products["convrat"].astype(int) > 0).all()
    assert set(products["platform_listed"]) == {"0", "1"}
    assert products.groupby("generic_name")["manufacturer"].nunique().min() >= 2
    consumables = products["category"].isin(["hvc", "lvc", "ivd"])
    assert (products.loc[consumables, "dosage_form"] == "").all()


def test_listed_price_intervals_do_not_overlap(listed: pd.DataFrame, products: pd.DataFrame) -> None:
    assert (listed["listed_price"] > 0).all()
    assert set(listed["med_list_codg"]) == set(products.loc[products["platform_listed"] == "1", "med_list_codg"])
    for _, history in listed.sort_values("valid_from").groupby("med_list_codg"):
        assert history["valid_to"].iloc[-1] is pd.NaT
        assert history["valid_to"].iloc[:-1].notna().all()
        assert (history["valid_from"].iloc[1:].to_numpy() >= history["valid_to"].iloc[:-1].to_numpy()).all()
        closed = history["valid_to"].notna()
        assert (history.loc[closed, "valid_from"] < history.loc[closed, "valid_to"]).all()
        assert 1 <= len(history) <= 3


def test_vbp_results(landing: Path, products: pd.DataFrame, listed: pd.DataFrame) -> None:
    vbp = pd.read_csv(landing / "vbp_results/vbp_results.csv", dtype=str)
    assert set(vbp["batch_code"]) == {"GJ07", "GJ09", "SLM03"}
    assert vbp["group_code"].str.fullmatch(r"(GJ07|GJ09|SLM03)-\d{3}").all()
    assert vbp.groupby("group_code").size().between(1, 3).all()
    assert set(vbp["med_list_codg"]) <= set(products["med_list_codg"])
    for row in vbp.itertuples():
        history = listed[listed["med_list_codg"] == row.med_list_codg]
        before = history[history["valid_from"] < pd.Timestamp(row.cycle_start)]["listed_price"].iloc[-1]
        assert float(row.winning_price) <= 0.5 * before  # well below the pre-VBP listed price


def test_returns_reference_an_earlier_purchase_of_the_same_institution(purchases: pd.DataFrame) -> None:
    bought = purchases[purchases["infno"] == "3503"]
    returns = purchases[purchases["infno"] == "3504"]
    assert 0.005 < len(returns) / len(purchases) < 0.03
    joined = returns.merge(bought, left_on=["fixmedins_code", "medins_prod_purc_no"],
                           right_on=["fixmedins_code", "fixmedins_bchno"], suffixes=("", "_orig"), how="left")
    assert joined["time_orig"].notna().all()
    assert (joined["med_list_codg"] == joined["med_list_codg_orig"]).all()
    assert (joined["time"] > joined["time_orig"]).all()
    assert ((joined["qty"] > 0) & (joined["qty"] <= joined["qty_orig"])).all()


def test_batch_numbers_are_unique_per_institution_except_the_planted_duplicate(all_purchases: pd.DataFrame,
                                                                               truth: dict) -> None:
    keys = all_purchases[all_purchases["fixmedins_code"] != ""]
    duplicated = keys[keys.duplicated(["fixmedins_code", "fixmedins_bchno"], keep=False)]
    planted = [r for r in truth["invalid_rows"] if r["problem"] == "duplicate_key_conflict"]
    assert sorted(duplicated["row_number"]) == sorted([planted[0]["duplicate_of_row_number"],
                                                       planted[0]["row_number"]])


def test_line_level_shares_are_plausible(purchases: pd.DataFrame, products: pd.DataFrame, truth: dict) -> None:
    bought = purchases[purchases["infno"] == "3503"]
    assert bought["gift"].mean() < 0.015
    assert (bought["price"].isna()).mean() < 0.01
    # Products not listed on the platform (many 饮片) are always bought off it; listed ones ~5% of the time.
    listed = bought["med_list_codg"].isin(products.loc[products["platform_listed"] == "1", "med_list_codg"])
    assert (bought.loc[listed & ~bought["gift"], "platform_order_no"] == "").mean() < 0.1
    assert (bought.loc[~listed, "platform_order_no"] == "").all()
    assert bought["time"].min() >= pd.Timestamp("2025-07-01")
    assert truth["summary"]["lines_after_as_of"] == len(truth["after_as_of"]["row_numbers"]) > 0


def test_ordinary_prices_never_exceed_the_listed_price(purchases: pd.DataFrame, truth: dict) -> None:
    priced = purchases[(purchases["infno"] == "3503") & ~purchases["gift"] & purchases["price"].notna()
                       & purchases["listed_price"].notna()]
    above = priced[priced["price"] >= 1.25 * priced["listed_price"]]
    planted = {(a["fixmedins_code"], a["med_list_codg"], a["month"]) for a in truth["above_listed"]}
    found = set(zip(above["fixmedins_code"], above["med_list_codg"], above["month"].dt.strftime("%Y-%m-%d"),
                    strict=True))
    assert found == planted
    others = priced[priced["price"] > priced["listed_price"]]
    assert set(zip(others["fixmedins_code"], others["med_list_codg"], others["month"].dt.strftime("%Y-%m-%d"),
                   strict=True)) == planted


def test_above_listed_truth(purchases: pd.DataFrame, truth: dict) -> None:
    assert len(truth["above_listed"]) == 3
    for entry in truth["above_listed"]:
        own = purchases[(purchases["fixmedins_code"] == entry["fixmedins_code"])
                        & (purchases["med_list_codg"] == entry["med_list_codg"])
                        & (purchases["month"] == pd.Timestamp(entry["month"])) & (purchases["infno"] == "3503")]
        assert len(own) >= 2
        assert (own["price"] >= 1.25 * own["listed_price"]).all()
        ratio = (own["price"] * own["qty"]).sum() / (own["listed_price"] * own["qty"]).sum()
        assert ratio == pytest.approx(entry["ratio"], abs=1e-3)


def test_price_spike_truth(purchases: pd.DataFrame, institutions: pd.DataFrame, truth: dict) -> None:
    spike = truth["price_spike"]
    public = set(institutions.loc[institutions["ownership"] == "public", "fixmedins_code"])
    product = purchases[(purchases["med_list_codg"] == spike["med_list_codg"]) & (purchases["infno"] == "3503")
                        & ~purchases["gift"] & purchases["price"].notna()].copy()
    product["upp"] = product["price"] / product["convrat"]
    product["upp_qty"] = product["upp"] * product["qty"]

    def mean_upp(lines: pd.DataFrame) -> pd.Series:
        sums = lines.groupby("fixmedins_code")[["upp_qty", "qty"]].sum()
        return sums["upp_qty"] / sums["qty"]

    month = product[product["month"] == pd.Timestamp(spike["month"])]
    peers = mean_upp(month[month["fixmedins_code"].isin(public)])
    assert len(peers) >= 3
    own = peers[spike["fixmedins_code"]]
    assert own / peers.median() >= 1.6
    assert own / peers.median() == pytest.approx(spike["ratio_to_peer_median"], abs=1e-3)
    previous = pd.Timestamp(spike["month"]) - pd.DateOffset(months=1)
    before = mean_upp(product[(product["month"] == previous)
                              & (product["fixmedins_code"] == spike["fixmedins_code"])])
    assert own / before.iloc[0] >= 1.6
    assert (month["price"] <= month["listed_price"]).all()  # a peer outlier, not an above-listed case


def test_vbp_completion_truth(landing: Path, purchases: pd.DataFrame, products: pd.DataFrame,
                              institutions: pd.DataFrame, truth: dict) -> None:
    agreed = pd.read_csv(landing / "vbp_agreed_volumes/vbp_agreed_volumes.csv", dtype=str, keep_default_na=False)
    vbp = pd.read_csv(landing / "vbp_results/vbp_results.csv", dtype=str)
    public = set(institutions.loc[institutions["ownership"] == "public", "fixmedins_code"])
    assert set(agreed["fixmedins_code"]) <= public
    assert 0.1 < (agreed["designated_med_list_codg"] != "").mean() < 0.35
    counted = purchases[~purchases["gift"]].copy()
    counted["net_units"] = counted["qty"] * counted["convrat"] * counted["sign"]
    lagging = set()
    for row in agreed.itertuples():
        winners = set(vbp.loc[vbp["group_code"] == row.group_code, "med_list_codg"])
        if row.designated_med_list_codg:
            assert row.designated_med_list_codg in winners
            winners = {row.designated_med_list_codg}
        start, end = pd.Timestamp(row.period_start), pd.Timestamp(row.period_end)
        own = counted[(counted["fixmedins_code"] == row.fixmedins_code) & counted["med_list_codg"].isin(winners)
                      & (counted["day"] >= start) & (counted["day"] <= end)]
        completion = own["net_units"].sum() / float(row.agreed_qty)
        expected = ((min(pd.Timestamp(AS_OF), end) - start).days + 1) / ((end - start).days + 1)
        if completion < expected - 0.10:
            lagging.add((row.batch_code, row.group_code, row.fixmedins_code, row.period_start))
            assert completion <= 0.3
    assert lagging == {(t["batch_code"], t["group_code"], t["fixmedins_code"], t["period_start"])
                       for t in truth["vbp_lagging"]}
    assert len(lagging) == 3
    assert all(t["expected_progress"] > 0.7 for t in truth["vbp_lagging"])


AGREEMENT_KEY = ["batch_code", "group_code", "fixmedins_code", "period_start"]


@pytest.fixture(scope="module")
def vbp_quantities(landing: Path, purchases: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """Per agreement (contract §2): net winning quantity (of the designated product when set) and net
    non-winning quantity (same generic_name and dosage_form as the group, not a winner of it) received
    in the period, in minimum units, gifts excluded."""
    agreed = pd.read_csv(landing / "vbp_agreed_volumes/vbp_agreed_volumes.csv", dtype=str, keep_default_na=False)
    vbp = pd.read_csv(landing / "vbp_results/vbp_results.csv", dtype=str, keep_default_na=False)
    groups = vbp.groupby(["batch_code", "group_code"], as_index=False)[["generic_name", "dosage_form"]].first()
    members = groups.merge(products[["generic_name", "dosage_form", "med_list_codg"]],
                           on=["generic_name", "dosage_form"])
    winners = set(zip(vbp["batch_code"], vbp["group_code"], vbp["med_list_codg"], strict=True))
    members["is_winning"] = [key in winners for key in zip(members["batch_code"], members["group_code"],
                                                           members["med_list_codg"], strict=True)]
    counted = purchases[~purchases["gift"]].assign(
        net_units=lambda f: f["qty"] * f["convrat"] * f["sign"])[["fixmedins_code", "med_list_codg", "day",
                                                                  "net_units"]]
    lines = agreed.merge(members[["batch_code", "group_code", "med_list_codg", "is_winning"]],
                         on=["batch_code", "group_code"]).merge(counted, on=["fixmedins_code", "med_list_codg"])
    lines = lines[(lines["day"] >= pd.to_datetime(lines["period_start"]))
                  & (lines["day"] <= pd.to_datetime(lines["period_end"]))]
    designated = lines["designated_med_list_codg"] != ""
    counts = np.where(designated, lines["med_list_codg"] == lines["designated_med_list_codg"], lines["is_winning"])
    lines = lines.assign(winning_qty=lines["net_units"].where(counts, 0.0),
                         nonwinning_qty=lines["net_units"].where(~lines["is_winning"], 0.0))
    sums = lines.groupby(AGREEMENT_KEY, as_index=False)[["winning_qty", "nonwinning_qty"]].sum()
    out = agreed.merge(sums, on=AGREEMENT_KEY, how="left", validate="one_to_one")
    return out.fillna({"winning_qty": 0.0, "nonwinning_qty": 0.0})


def test_nonwinning_volume_stays_a_small_share_except_planted(vbp_quantities: pd.DataFrame, truth: dict) -> None:
    keys = list(zip(*(vbp_quantities[k] for k in AGREEMENT_KEY), strict=True))
    planted = {tuple(t[k] for k in AGREEMENT_KEY) for t in truth["vbp_nonwinning_substitution"]}
    over = vbp_quantities["nonwinning_qty"] > vbp_quantities["winning_qty"]
    # Shanghai rule (docs/domain-notes.md §3): only the planted agreements break it.
    assert {k for k, hit in zip(keys, over, strict=True) if hit} == planted
    ordinary = vbp_quantities[[k not in planted for k in keys]]
    assert (ordinary["winning_qty"] > 0).all()
    share = ordinary["nonwinning_qty"] / (ordinary["nonwinning_qty"] + ordinary["winning_qty"])
    assert (share >= 0).all()
    # At most 20% of the group's volume where every winner counts (a designated brand leaves the others out).
    assert share[ordinary["designated_med_list_codg"] == ""].max() <= 0.20 + 1e-9
    # Non-winners are still bought now and then, in shares that vary.
    assert (share > 0).mean() > 0.15 and share.max() > 0.05


def test_nonwinning_substitution_truth(landing: Path, vbp_quantities: pd.DataFrame, institutions: pd.DataFrame,
                                      products: pd.DataFrame, truth: dict) -> None:
    vbp = pd.read_csv(landing / "vbp_results/vbp_results.csv", dtype=str, keep_default_na=False)
    entries = truth["vbp_nonwinning_substitution"]
    assert len(entries) == 2
    public = set(institutions.loc[institutions["ownership"] == "public", "fixmedins_code"])
    codes = {e["fixmedins_code"] for e in entries}
    assert len(codes) == 2 and codes <= public
    lagging = truth["vbp_lagging"]
    assert not codes & {t["fixmedins_code"] for t in lagging}
    assert not {e["group_code"] for e in entries} & {t["group_code"] for t in lagging}
    indexed = vbp_quantities.set_index(AGREEMENT_KEY)
    for entry in entries:
        row = indexed.loc[tuple(entry[k] for k in AGREEMENT_KEY)]
        assert row["designated_med_list_codg"] == ""
        assert row["nonwinning_qty"] >= 1.5 * row["winning_qty"] > 0
        assert row["nonwinning_qty"] == pytest.approx(entry["nonwinning_qty"])
        assert row["winning_qty"] == pytest.approx(entry["winning_qty"])
        # The current agreement year, with completion still on track (not a lagging case).
        start, end = pd.Timestamp(entry["period_start"]), pd.Timestamp(row["period_end"])
        assert start <= pd.Timestamp(AS_OF) <= end
        completion = row["winning_qty"] / float(row["agreed_qty"])
        assert completion == pytest.approx(entry["completion"], abs=1e-3)
        assert completion >= entry["expected_progress"] - 0.10
        # The product bought instead is of the group's variety but not one of its winners.
        group = vbp[vbp["group_code"] == entry["group_code"]]
        nonwinner = products[products["med_list_codg"] == entry["nonwinning_med_list_codg"]].iloc[0]
        assert (nonwinner["generic_name"], nonwinner["dosage_form"]) == (group["generic_name"].iloc[0],
                                                                         group["dosage_form"].iloc[0])
        assert entry["nonwinning_med_list_codg"] not in set(group["med_list_codg"])


def test_low_platform_ratio_truth(purchases: pd.DataFrame, institutions: pd.DataFrame, truth: dict) -> None:
    public = set(institutions.loc[institutions["ownership"] == "public", "fixmedins_code"])
    drug = purchases[purchases["category"].isin(["western", "chinese_patent", "formula_granules"])
                     & ~purchases["gift"] & purchases["fixmedins_code"].isin(public)].copy()
    drug["amount"] = drug["price"].fillna(drug["listed_price"]) * drug["qty"] * drug["sign"]
    drug["platform_amount"] = np.where(drug["platform_order_no"] != "", drug["amount"], 0.0)
    sums = drug.groupby(["fixmedins_code", "month"])[["platform_amount", "amount"]].sum()
    ratio = sums["platform_amount"] / sums["amount"]
    planted = set()
    for entry in truth["low_platform_ratio"]:
        for month in entry["months"]:
            value = ratio[(entry["fixmedins_code"], pd.Timestamp(month))]
            assert 0.45 <= value <= 0.65
            assert value == pytest.approx(entry["drug_ratio"][month], abs=1e-3)
            planted.add((entry["fixmedins_code"], pd.Timestamp(month)))
    others = ratio[[key not in planted for key in ratio.index]]
    assert others.median() > 0.85


def test_invalid_rows_truth(all_purchases: pd.DataFrame, products: pd.DataFrame, truth: dict) -> None:
    rows = {r["problem"]: r for r in truth["invalid_rows"]}
    assert set(rows) == {"unknown_product", "negative_quantity", "unparseable_date", "missing_fixmedins_code",
                         "duplicate_key_conflict"}

    def line(record: dict) -> pd.Series:
        hit = all_purchases[(all_purchases["file"] == record["file"])
                            & (all_purchases["row_number"] == record["row_number"])]
        assert len(hit) == 1
        return hit.iloc[0]

    assert line(rows["unknown_product"])["med_list_codg"] not in set(products["med_list_codg"])
    assert line(rows["negative_quantity"])["qty"] < 0
    assert pd.isna(line(rows["unparseable_date"])["time"])
    assert line(rows["missing_fixmedins_code"])["fixmedins_code"] == ""
    duplicate = rows["duplicate_key_conflict"]
    copy = line(duplicate)
    original = line({**duplicate, "row_number": duplicate["duplicate_of_row_number"]})
    assert (copy["fixmedins_code"], copy["fixmedins_bchno"]) == (original["fixmedins_code"],
                                                                 original["fixmedins_bchno"])
    assert copy["purc_retn_cnt"] != original["purc_retn_cnt"]


def test_after_as_of_lines_truth(all_purchases: pd.DataFrame, truth: dict) -> None:
    late = truth["after_as_of"]
    lines = all_purchases[(all_purchases["file"] == late["file"])
                          & all_purchases["row_number"].isin(late["row_numbers"])]
    assert len(lines) == len(late["row_numbers"]) >= 5
    assert (lines["time"] > pd.Timestamp(AS_OF) + pd.Timedelta(days=1)).all()
    assert (all_purchases["time"] > pd.Timestamp(AS_OF) + pd.Timedelta(days=1)).sum() == len(lines)


def test_default_scale_grows_with_volume() -> None:
    assert _default_counts(40_000) == (120, 400)
    institutions, products = _default_counts(20_000_000)
    assert institutions >= 3_000 and products >= 20_000


def test_arguments_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_demo_landing(tmp_path / "a", as_of=date(2025, 12, 31))
    with pytest.raises(ValueError):
        generate_demo_landing(tmp_path / "b", institutions=10)
