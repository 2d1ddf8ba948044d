"""Truth bookkeeping: what was actually written (tally), and the truth about the planted
price and platform anomalies that `demo_truth.json` records."""

from __future__ import annotations

import numpy as np
import pandas as pd

from yaocai_demo.anomalies import _Plan
from yaocai_demo.basics import _SECONDS_PER_DAY, _Calendar, _Lines
from yaocai_demo.catalogue import _Catalogue
from yaocai_demo.institutions import _Institutions
from yaocai_demo.reference import CATEGORY_GROUP_NAMES


class _Tally:
    """What was actually written, accumulated per block: the ground truth for the truth file."""

    def __init__(self, inst: _Institutions, cat: _Catalogue, cal: _Calendar, plan: _Plan) -> None:
        self._inst, self._cat, self._cal = inst, cat, cal
        self._n_months = len(cal.months)
        size = len(inst.code) * self._n_months * len(CATEGORY_GROUP_NAMES)
        self.total_amount = np.zeros(size)
        self.platform_amount = np.zeros(size)
        self._vbp: list[pd.DataFrame] = []
        self._watch: list[pd.DataFrame] = []
        self._watched = np.array(sorted({p for _, p, _ in plan.above} | {plan.spike[1]}))
        self.summary = {"purchase_lines": 0, "return_lines": 0, "gift_lines": 0, "missing_price_lines": 0,
                        "off_platform_purchase_lines": 0, "lines_after_as_of": 0}

    def add(self, lines: _Lines) -> None:
        cat, cal = self._cat, self._cal
        kind, prod, who = lines["kind"], lines["prod"], lines["inst"]
        purchase = kind == 0
        in_window = lines["t"] <= cal.as_of_end
        self.summary["purchase_lines"] += int(purchase.sum())
        self.summary["return_lines"] += int((~purchase).sum())
        self.summary["gift_lines"] += int(lines["gift"].sum())
        self.summary["missing_price_lines"] += int(np.isnan(lines["price"]).sum())
        self.summary["off_platform_purchase_lines"] += int((purchase & ~lines["online"]).sum())
        self.summary["lines_after_as_of"] += int((~in_window).sum())

        # Contract §2: net amounts, gifts excluded, missing prices filled from the listed price.
        month = cal.month_of(lines["t"] // _SECONDS_PER_DAY)
        sign = np.where(purchase, 1.0, -1.0)
        amount = np.where(np.isnan(lines["price"]), lines["listed"], lines["price"]) * lines["qty"] * sign
        group = cat.group[prod]
        counted = in_window & ~lines["gift"] & (group >= 0)
        key = ((who.astype(np.int64) * self._n_months + month) * len(CATEGORY_GROUP_NAMES) + group)[counted]
        self.total_amount += np.bincount(key, weights=amount[counted], minlength=self.total_amount.size)
        online = lines["online"][counted]
        self.platform_amount += np.bincount(key[online], weights=amount[counted][online],
                                            minlength=self.platform_amount.size)

        # Net minimum units of every product of a VBP variety (winners and non-winners), public institutions.
        vbp = in_window & ~lines["gift"] & (cat.vbp_role[prod] > 0) & self._inst.public[who]
        if vbp.any():
            qty = (lines["qty"] * cat.convrat[prod] * sign)[vbp]
            part = pd.DataFrame({"inst": who[vbp], "prod": prod[vbp], "month": month[vbp], "qty": qty})
            self._vbp.append(part.groupby(["inst", "prod", "month"], as_index=False)["qty"].sum())

        watched = np.isin(prod, self._watched) & purchase
        if watched.any():
            self._watch.append(pd.DataFrame({k: lines[k][watched] for k in ("inst", "prod", "t", "qty", "price",
                                                                                "listed", "gift")})
                               .assign(month=month[watched]))

    def vbp_quantities(self) -> pd.DataFrame:
        frame = pd.concat(self._vbp, ignore_index=True)
        return frame.groupby(["inst", "prod", "month"], as_index=False)["qty"].sum()

    def watched_lines(self) -> pd.DataFrame:
        return pd.concat(self._watch, ignore_index=True)

    def ratio(self, inst: int, month: int, group: int) -> float | None:
        k = (inst * self._n_months + month) * len(CATEGORY_GROUP_NAMES) + group
        total = self.total_amount[k]
        return None if total == 0 else float(self.platform_amount[k] / total)


def _weighted_unit_price(lines: pd.DataFrame, convrat: float) -> float:
    return float((lines["price"] * lines["qty"]).sum() / lines["qty"].sum() / convrat)


def _price_truth(inst: _Institutions, cat: _Catalogue, cal: _Calendar, tally: _Tally,
                 plan: _Plan) -> tuple[list[dict], dict]:
    watched = tally.watched_lines()
    priced = watched[~watched["gift"] & watched["price"].notna()]
    above = []
    for i, p, m in plan.above:
        own = priced[(priced["inst"] == i) & (priced["prod"] == p) & (priced["month"] == m)]
        above.append({
            "fixmedins_code": inst.code[i], "med_list_codg": cat.code[p], "month": cal.months[m].isoformat(),
            "category": cat.frame.at[p, "category"], "lines": len(own),
            "ratio": round(float((own["price"] * own["qty"]).sum() / (own["listed"] * own["qty"]).sum()), 4),
            "min_line_ratio": round(float((own["price"] / own["listed"]).min()), 4),
        })

    spike_inst, p, m = plan.spike
    month = priced[(priced["prod"] == p) & (priced["month"] == m)]
    public_means = {int(i): _weighted_unit_price(g, cat.convrat[p])
                    for i, g in month.groupby("inst") if inst.public[i]}
    peer_median = float(np.median(list(public_means.values())))  # mean of the middle two when even
    before = priced[(priced["prod"] == p) & (priced["month"] == m - 1) & (priced["inst"] == spike_inst)]
    own_upp = public_means[spike_inst]
    spike = {
        "fixmedins_code": inst.code[spike_inst], "med_list_codg": cat.code[p], "month": cal.months[m].isoformat(),
        "unit_price": round(own_upp, 6), "peer_median_unit_price": round(peer_median, 6),
        "ratio_to_peer_median": round(own_upp / peer_median, 4),
        "previous_month_unit_price": round(_weighted_unit_price(before, cat.convrat[p]), 6),
        "ratio_to_previous_month": round(own_upp / _weighted_unit_price(before, cat.convrat[p]), 4),
        "public_institutions_buying": len(public_means),
    }
    return above, spike


def _platform_truth(inst: _Institutions, cal: _Calendar, tally: _Tally, plan: _Plan) -> list[dict]:
    drug = CATEGORY_GROUP_NAMES.index("drug")
    return [{
        "fixmedins_code": inst.code[i],
        "months": [cal.months[m].isoformat() for m in plan.low_months],
        "drug_ratio": {cal.months[m].isoformat(): round(tally.ratio(i, m, drug) or 0.0, 4) for m in plan.low_months},
    } for i in plan.low_platform]
