"""The peer: the three indicators as an analyst would compute them without
yaocai, with pandas, straight from the landing files.

Written as reasonable analyst code, vectorised, no yaocai imports: read the
reference files, then go through the monthly purchase files one at a time
(a province's history does not fit in memory as Python strings), reduce each
to partial sums, and combine them at the end. The formulas are those of
docs/data-contract.md §2 (the same ones tests/reference/boring.py loops over):

* platform ratio per institution × month × category group: net amount with a
  platform order number ÷ net amount (3504 lines negative, gifts excluded, a
  missing price filled from the listed price of the day);
* PDI per institution × month × group: Σ paid ÷ Σ reference over 3503 lines
  with a delivered price, the reference per minimum unit being the lowest
  winning price of the day, else the listed price of the day, else the peer
  median (median over ≥ 3 public institutions of their quantity-weighted
  unit price of the product in the month);
* VBP completion per agreement: net minimum units of the designated product
  (or of the group's winners) bought in the agreement period ÷ agreed units,
  with the expected progress of the period at the as-of date.

Data quality is handled the way an analyst would: unparseable dates,
quantities and prices are dropped, lines of unknown products or institutions
drop out of the joins, repeated (institution, serial) keys are kept once.

    python benchmarks/peer.py LANDING --as-of 2026-10-31 [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

GROUPS = {"western": "drug", "chinese_patent": "drug", "formula_granules": "drug",
          "hvc": "hvc", "lvc": "lvc", "ivd": "ivd"}  # 中药饮片 in no group
COLUMNS = ["infno", "fixmedins_code", "fixmedins_bchno", "med_list_codg", "finl_trns_pric", "purc_retn_cnt",
           "purc_retn_stoin_time", "prod_geay_flag", "platform_order_no"]
# Chinese column headings some hospitals export (the GB18030 files).
CHINESE = {"交易编号": "infno", "定点医药机构编号": "fixmedins_code", "批次流水号": "fixmedins_bchno",
           "医保目录编码": "med_list_codg", "最终成交单价": "finl_trns_pric", "采购/退货数量": "purc_retn_cnt",
           "入库时间": "purc_retn_stoin_time", "赠送标志": "prod_geay_flag", "平台订单号": "platform_order_no"}
PEER_MIN_INSTITUTIONS = 3
LAGGING_GAP = 0.10


def read_reference(landing: Path) -> dict[str, pd.DataFrame]:
    inst = pd.read_excel(next((landing / "institutions").glob("*.xlsx")), header=1, dtype=str)
    inst = inst.rename(columns={"定点医药机构编号": "fixmedins_code", "医保区划": "admdvs", "经济类型": "ownership"})
    inst["ownership"] = inst["ownership"].map({"公立": "public", "民营": "private"}).fillna(inst["ownership"])
    products = pd.read_csv(landing / "products" / "products.csv", dtype={"med_list_codg": str, "category": str,
                                                                          "generic_name": str, "dosage_form": str})
    products["category_group"] = products["category"].map(GROUPS)
    listed = pd.read_csv(landing / "listed_prices" / "listed_prices.csv", parse_dates=["valid_from", "valid_to"])
    winning = pd.read_csv(landing / "vbp_results" / "vbp_results.csv", parse_dates=["cycle_start", "cycle_end"])
    agreed = pd.read_csv(landing / "vbp_agreed_volumes" / "vbp_agreed_volumes.csv",
                         parse_dates=["period_start", "period_end"])
    return {"institutions": inst[["fixmedins_code", "admdvs", "ownership"]], "products": products,
            "listed": listed, "winning": winning, "agreed": agreed}


def read_purchase_file(path: Path) -> pd.DataFrame:
    if path.suffix == ".jsonl":
        rows = []
        with path.open(encoding="utf-8") as handle:
            for text in handle:
                message = json.loads(text)
                row = {k: v for k, v in message.items() if k != "input"}
                row.update(message["input"]["purcinfo"])
                rows.append(row)
        frame = pd.DataFrame(rows)
        return frame.reindex(columns=COLUMNS).astype("string")
    try:
        frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except UnicodeDecodeError:
        frame = pd.read_csv(path, dtype=str, encoding="gb18030", keep_default_na=False)
    frame = frame.rename(columns=CHINESE)
    return frame.reindex(columns=COLUMNS)


def prepare(raw: pd.DataFrame, ref: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame:
    frame = pd.DataFrame({
        "fixmedins_code": raw["fixmedins_code"].astype(str),
        "fixmedins_bchno": raw["fixmedins_bchno"].astype(str),
        "med_list_codg": raw["med_list_codg"].astype(str),
        "infno": raw["infno"].astype(str),
        "price": pd.to_numeric(raw["finl_trns_pric"], errors="coerce"),
        "packs": pd.to_numeric(raw["purc_retn_cnt"], errors="coerce"),
        "time": pd.to_datetime(raw["purc_retn_stoin_time"], errors="coerce", format="%Y-%m-%d %H:%M:%S"),
        "gift": raw["prod_geay_flag"].fillna("").astype(str).str.strip() == "1",
        "platform": raw["platform_order_no"].fillna("").astype(str).str.strip() != "",
    })
    frame = frame[frame["time"].notna() & (frame["packs"] > 0) & frame["infno"].isin(["3503", "3504"])]
    frame = frame.drop_duplicates(["fixmedins_code", "fixmedins_bchno"])
    frame = frame[(frame["time"] < as_of + pd.Timedelta(days=1)) & ~frame["gift"]]
    frame = frame.merge(ref["products"][["med_list_codg", "category_group", "convrat", "generic_name", "dosage_form"]],
                        on="med_list_codg").merge(ref["institutions"], on="fixmedins_code")
    frame["day"] = frame["time"].dt.normalize()
    frame["month"] = frame["time"].dt.to_period("M").dt.to_timestamp()
    frame["sign"] = np.where(frame["infno"] == "3504", -1.0, 1.0)
    frame["qty"] = frame["packs"] * frame["convrat"]
    # Listed price of the day: the interval valid_from <= day < valid_to.
    listed = ref["listed"].sort_values("valid_from")
    frame = pd.merge_asof(frame.sort_values("day"), listed, left_on="day", right_on="valid_from",
                          by="med_list_codg", direction="backward")
    still_valid = frame["valid_to"].isna() | (frame["day"] < frame["valid_to"])
    frame["listed_price"] = frame["listed_price"].where(still_valid)
    # Lowest winning price of a cycle covering the day.
    win = frame[["med_list_codg", "day"]].reset_index().merge(
        ref["winning"][["med_list_codg", "winning_price", "cycle_start", "cycle_end"]], on="med_list_codg")
    win = win[(win["day"] >= win["cycle_start"]) & (win["day"] <= win["cycle_end"])]
    frame["winning_price"] = win.groupby("index")["winning_price"].min().reindex(frame.index)
    frame["amount"] = frame["price"].fillna(frame["listed_price"]) * frame["packs"] * frame["sign"]
    frame["eligible"] = (frame["infno"] == "3503") & frame["price"].notna()
    frame["upp"] = frame["price"] / frame["convrat"]
    return frame


def partials(frame: pd.DataFrame, ref: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    grouped = frame[frame["category_group"].notna()]
    out = {}
    counted = grouped[grouped["amount"].notna()].assign(platform_amount=lambda f: f["amount"].where(f["platform"], 0.0))
    out["platform"] = counted.groupby(["fixmedins_code", "month", "category_group"])[
        ["platform_amount", "amount"]].sum()
    eligible = grouped[grouped["eligible"]].assign(paid=lambda f: f["upp"] * f["qty"])
    reference = (eligible["winning_price"].fillna(eligible["listed_price"]) / eligible["convrat"])
    eligible = eligible.assign(ref_amount=reference * eligible["qty"], has_ref=reference.notna())
    key = ["fixmedins_code", "month", "category_group"]
    out["pdi_all"] = eligible.groupby(key)["paid"].sum()
    out["pdi_ref"] = eligible[eligible["has_ref"]].groupby(key)[["paid", "ref_amount"]].sum()
    out["pdi_peer"] = eligible[~eligible["has_ref"]].groupby(key + ["med_list_codg"])[["paid", "qty"]].sum()
    public = frame[frame["eligible"] & (frame["ownership"] == "public")].assign(paid=lambda f: f["upp"] * f["qty"])
    out["peer"] = public.groupby(["med_list_codg", "month", "fixmedins_code"])[["paid", "qty"]].sum()
    # VBP: lines of a group's products inside an agreement period of their institution.
    agreed, winning = ref["agreed"], ref["winning"]
    forms = winning[["batch_code", "group_code", "generic_name", "dosage_form"]].drop_duplicates()
    winners = winning[["batch_code", "group_code", "med_list_codg"]].assign(is_winner=True)
    group_lines = frame.merge(forms, on=["generic_name", "dosage_form"])
    group_lines = group_lines.merge(agreed, on=["batch_code", "group_code", "fixmedins_code"])
    group_lines = group_lines[(group_lines["day"] >= group_lines["period_start"])
                              & (group_lines["day"] <= group_lines["period_end"])]
    group_lines = group_lines.merge(winners, on=["batch_code", "group_code", "med_list_codg"], how="left")
    winner = group_lines["is_winner"].fillna(False).astype(bool)
    designated = group_lines["designated_med_list_codg"]
    counted_product = np.where(designated.notna(), group_lines["med_list_codg"] == designated, winner)
    net = group_lines["sign"] * group_lines["qty"]
    group_lines = group_lines.assign(purchased=np.where(counted_product, net, 0.0),
                                     nonwinning=np.where(~winner, net, 0.0))
    out["vbp"] = group_lines.groupby(["batch_code", "group_code", "fixmedins_code", "period_start"])[
        ["purchased", "nonwinning"]].sum()
    return out


def combine(parts: list[dict[str, pd.DataFrame]], ref: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    def total(name: str) -> pd.DataFrame:
        frames = [p[name] for p in parts if len(p[name])]
        return pd.concat(frames).groupby(level=list(range(frames[0].index.nlevels))).sum()

    platform = total("platform")
    platform["ratio"] = platform["platform_amount"] / platform["amount"].where(platform["amount"] != 0)

    peer = total("peer")
    means = (peer["paid"] / peer["qty"]).groupby(level=["med_list_codg", "month"])
    medians = means.median()[means.size() >= PEER_MIN_INSTITUTIONS].rename("peer_median")
    by_product = total("pdi_peer").join(medians, on=["med_list_codg", "month"])
    by_product = by_product[by_product["peer_median"].notna()]
    by_product["ref_amount"] = by_product["peer_median"] * by_product["qty"]
    peer_part = by_product.groupby(level=["fixmedins_code", "month", "category_group"])[["paid", "ref_amount"]].sum()
    pdi = pd.concat([total("pdi_ref"), peer_part]).groupby(level=[0, 1, 2]).sum()
    pdi = pdi.join(total("pdi_all").rename("all_paid"), how="right")
    pdi["pdi"] = pdi["paid"] / pdi["ref_amount"]
    pdi["coverage"] = (pdi["paid"] / pdi["all_paid"]).fillna(0.0)

    agreed = ref["agreed"].set_index(["batch_code", "group_code", "fixmedins_code", "period_start"])
    vbp = agreed.join(total("vbp")).fillna({"purchased": 0.0, "nonwinning": 0.0})
    vbp["completion_rate"] = vbp["purchased"] / vbp["agreed_qty"]
    start = vbp.index.get_level_values("period_start")
    elapsed = (np.minimum(as_of, vbp["period_end"]) - start).dt.days + 1
    vbp["expected_progress"] = elapsed.clip(lower=0) / ((vbp["period_end"] - start).dt.days + 1)
    vbp["is_lagging"] = vbp["completion_rate"] < vbp["expected_progress"] - LAGGING_GAP
    return {"platform_purchase_ratio": platform.reset_index(), "price_deviation_index": pdi.reset_index(),
            "vbp_completion": vbp.reset_index()}


def compute(landing: Path, as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    ref = read_reference(landing)
    parts = []
    for path in sorted((landing / "purchases").iterdir()):
        if path.suffix in (".csv", ".jsonl"):
            parts.append(partials(prepare(read_purchase_file(path), ref, as_of), ref))
    return combine(parts, ref, as_of)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--out", type=Path, help="write the three indicator tables here as parquet-free CSV")
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = compute(args.landing, pd.Timestamp(args.as_of))
    summary = {name: len(frame) for name, frame in result.items()}
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, frame in result.items():
            frame.to_csv(args.out / f"{name}.csv", index=False)
    print(json.dumps({"rows": summary, "seconds": round(time.monotonic() - started, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
