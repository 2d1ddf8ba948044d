"""Demo deliveries of the payment_standards feed (医保支付标准; issue 16
part 4), made from the demo's own catalogue so the money tables have cases.

Called once by ``yaocai_demo.landing.generate_demo_landing`` after the other feeds are
written; reads the products, listed prices and VBP results it wrote and
the institutions' divisions, and writes
``payment_standards/payment_standards.csv``:

- every VBP group (generic name + dosage form): one province-wide row per
  province with the standard left empty, i.e. the winning price (the
  default, docs/money-and-enforcement.md), over the group's cycles;
- up to three non-VBP western drugs sold by at least two makers: one row
  per city with the standard = the lowest listed price per minimum unit of
  the generic at the as-of date, so purchases of the dearer makers are
  above the standard.

Deterministic: the same landing directory gives byte-identical output.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd

FEED = "payment_standards"
FILE = f"{FEED}/{FEED}.csv"
COLUMNS = ["standard_group", "generic_name", "dosage_form", "admdvs", "payment_standard", "valid_from", "valid_to"]
NON_VBP_GENERICS = 3


def add_payment_standards(landing: Path, truth: dict, admdvs: pd.Series, as_of: date, data_start: date) -> None:
    """Write the feed and record it in the demo's truth dict (counts, formats, its own entry)."""
    landing = Path(landing)
    folder = landing / FEED
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty")
    folder.mkdir(parents=True, exist_ok=True)
    products = pd.read_csv(landing / "products/products.csv", dtype=str)
    listed = pd.read_csv(landing / "listed_prices/listed_prices.csv", dtype=str)
    vbp = pd.read_csv(landing / "vbp_results/vbp_results.csv", dtype=str)
    divisions = sorted({str(a) for a in admdvs})
    provinces = sorted({a[:2] + "0000" for a in divisions})
    cities = sorted({a[:4] + "00" for a in divisions})

    rows: list[list] = []
    groups = (vbp.assign(dosage_form=vbp["dosage_form"].fillna(""))
              .groupby(["generic_name", "dosage_form"], sort=True)
              .agg(cycle_start=("cycle_start", "min"), cycle_end=("cycle_end", "max")).reset_index())
    for number, g in enumerate(groups.itertuples(index=False), 1):
        valid_to = (date.fromisoformat(g.cycle_end) + timedelta(days=1)).isoformat()
        for province in provinces:
            rows.append([f"ZFBZ-V{number:03d}", g.generic_name, g.dosage_form, province, "", g.cycle_start, valid_to])

    # Non-VBP western drugs with several makers: the cheapest listed price
    # per minimum unit in force at the as-of date is the standard.
    listed["listed_price"] = listed["listed_price"].astype(float)
    in_force = listed[(listed["valid_from"] <= as_of.isoformat())
                      & (listed["valid_to"].isna() | (listed["valid_to"] > as_of.isoformat()))]
    drugs = products[(products["category"] == "western") & ~products["generic_name"].isin(vbp["generic_name"])]
    priced = drugs.merge(in_force, on="med_list_codg")
    priced["unit_price"] = priced["listed_price"] / priced["convrat"].astype(float)
    candidates = (priced.assign(dosage_form=priced["dosage_form"].fillna(""))
                  .groupby(["generic_name", "dosage_form"], sort=True)
                  .agg(makers=("manufacturer", "nunique"), standard=("unit_price", "min")).reset_index())
    chosen = candidates[candidates["makers"] >= 2].head(NON_VBP_GENERICS)
    for number, g in enumerate(chosen.itertuples(index=False), 1):
        for city in cities:
            rows.append([f"ZFBZ-N{number:03d}", g.generic_name, g.dosage_form, city, f"{g.standard:.4f}",
                         data_start.isoformat(), ""])

    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.to_csv(landing / FILE, index=False, encoding="utf-8", lineterminator="\n")
    truth["counts"][FILE] = len(frame)
    truth["formats"][FILE] = "csv-utf-8"
    truth[FEED] = {"file": FILE, "rows": len(frame), "vbp_groups": len(groups),
                   "non_vbp_generics": chosen["generic_name"].tolist()}
