"""Agreed volumes (约定采购量), set from what was bought, so only the planted agreements lag."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from yaocai_demo.anomalies import _Plan
from yaocai_demo.basics import _Calendar, _day
from yaocai_demo.catalogue import _Catalogue
from yaocai_demo.institutions import _Institutions
from yaocai_demo.truth import _Tally

_LAGGING_COMPLETION = 0.3  # planted completion as a share of the expected progress
_ON_TRACK_RANGE = (0.97, 1.30)  # completion ÷ expected progress of every other agreement
_DESIGNATED_SHARE = 0.2


def _agreed_volumes(rng: np.random.Generator, inst: _Institutions, cat: _Catalogue, cal: _Calendar,
                    tally: _Tally, plan: _Plan) -> tuple[pd.DataFrame, list[dict], list[dict]]:
    """约定采购量 for public institutions that bought a group's winners in an agreement year.

    Each agreed quantity is derived from the net winner quantity actually written,
    so completion (contract §2) is on track by construction except for the planted
    lagging agreements, whose agreed quantity is set far above their purchases.
    The planted substitution agreements are on track too (the institution meets a
    modest agreed volume while buying mostly a non-winner) and never designate a brand.
    Returns the feed, the lagging truth and the substitution truth.
    """
    bought = tally.vbp_quantities()
    lagging_pairs = {(i, grp.code) for i, grp in plan.lagging}
    planted_substitution = {(s.inst, s.group.code, s.period_start): s for s in plan.substitution}
    rows, lagging, substitution = [], [], []
    for gi, grp in enumerate(cat.groups):
        of_group = bought[bought["prod"].isin(grp.winners)]
        others = bought[(cat.vbp_group[bought["prod"]] == gi) & (cat.vbp_role[bought["prod"]] == 2)]
        for period_start, period_end in grp.batch.periods(cal.as_of):
            first, last = _day(period_start), _day(period_end)
            months = np.flatnonzero((cal.start_day >= first) & (cal.start_day <= last))
            in_period = of_group[of_group["month"].isin(months)]
            per_product = in_period.groupby(["inst", "prod"])["qty"].sum()
            nonwinning_of = others[others["month"].isin(months)].groupby("inst")["qty"].sum()
            expected = (min(cal.as_of_day, last) - first + 1) / (last - first + 1)
            for i, total in in_period.groupby("inst")["qty"].sum().items():
                is_lagging = (i, grp.code) in lagging_pairs and period_start == grp.batch.cycle_start
                planted = planted_substitution.get((i, grp.code, period_start))
                if total <= 0:
                    if is_lagging or planted is not None:
                        raise RuntimeError("planted VBP agreement has no net purchases")
                    continue
                designated, purchased = "", float(total)
                if is_lagging:
                    agreed = math.ceil(purchased / (_LAGGING_COMPLETION * expected))
                else:
                    if planted is None and rng.random() < _DESIGNATED_SHARE:
                        own = per_product.loc[i]
                        brand = int(own.idxmax())
                        if own[brand] > 0:  # the reported brand: only it counts toward completion
                            designated, purchased = cat.code[brand], float(own[brand])
                    agreed = max(1, math.floor(purchased / (expected * rng.uniform(*_ON_TRACK_RANGE))))
                rows.append((grp.batch.code, grp.code, inst.code[i], period_start.isoformat(),
                             period_end.isoformat(), agreed, designated))
                nonwinning = float(nonwinning_of.get(i, 0.0))
                if planted is not None:
                    if nonwinning < 1.5 * purchased:
                        raise RuntimeError("planted non-winning substitution is not clear enough")
                    substitution.append({
                        "batch_code": grp.batch.code, "group_code": grp.code, "fixmedins_code": inst.code[i],
                        "period_start": period_start.isoformat(), "period_end": period_end.isoformat(),
                        "nonwinning_med_list_codg": cat.code[planted.nonwinner],
                        "nonwinning_qty": nonwinning, "winning_qty": purchased,
                        "nonwinning_share": round(nonwinning / (nonwinning + purchased), 4),
                        "agreed_qty": agreed, "completion": round(purchased / agreed, 4),
                        "expected_progress": round(expected, 4), "is_lagging": False,
                    })
                elif nonwinning > purchased:  # cannot happen: the generator caps non-winning purchases
                    raise RuntimeError(f"non-winning volume above winning volume in {grp.code}, {inst.code[i]}")
                if is_lagging:
                    lagging.append({
                        "batch_code": grp.batch.code, "group_code": grp.code, "fixmedins_code": inst.code[i],
                        "period_start": period_start.isoformat(), "period_end": period_end.isoformat(),
                        "agreed_qty": agreed, "purchased_qty": purchased,
                        "completion": round(purchased / agreed, 4), "expected_progress": round(expected, 4),
                    })
    if len(lagging) != len(plan.lagging):
        raise RuntimeError("a planted lagging agreement is missing")
    if len(substitution) != len(plan.substitution):
        raise RuntimeError("a planted substitution agreement is missing")
    frame = pd.DataFrame(rows, columns=["batch_code", "group_code", "fixmedins_code", "period_start", "period_end",
                                        "agreed_qty", "designated_med_list_codg"])
    frame = frame.sort_values(["batch_code", "group_code", "fixmedins_code", "period_start"], kind="stable")
    return frame, lagging, substitution
