"""Who buys what (portfolios) and the planted anomalies: which institutions, products and
months carry them, and the lines that must exist for them to show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from yaocai_demo.basics import _NEVER, _Calendar, _day
from yaocai_demo.catalogue import _Catalogue, _Group
from yaocai_demo.institutions import _TIERS, _Institutions, _Tier
from yaocai_demo.reference import _GENERIC_INDEX

_LAGGING_BATCH = "GJ09"  # its 2026 agreement year is ~80% elapsed at the default as_of
# Generics whose products carry the planted price anomalies (none is under VBP,
# so the listed price is the only official reference).
_ABOVE_LISTED_GENERICS = ("注射用奥美拉唑钠", "丹红注射液", "冠脉球囊扩张导管")
_SPIKE_GENERIC = "甲钴胺片"
_SPIKE_DISCOUNT = 0.55  # usual price far below the listed one, so the spike (×1.75) stays under it
_SPIKE_FACTOR = 1.75
_ABOVE_LISTED_RANGE = (1.28, 1.38)
_LOW_PLATFORM_OFF_SHARE = (0.42, 0.48)  # share of drug amount moved off the platform
# Inside a VBP cycle a public institution's non-winning purchases of a group are
# at most this share of its purchases of the group (its own figure, drawn per
# institution): hospitals switch to the winners, and the Shanghai rule
# (docs/domain-notes.md §3) caps non-winning volume at the winning volume. A 20% share
# is non-winning ≤ 1/4 of the winning volume, so the rule holds against a
# designated brand too (with at most three winners it has ≥ 1/3 of that volume).
_NONWINNING_SHARE_RANGE = (0.05, 0.20)
_NONWINNING_DEMAND = 2.0  # expected non-winning volume drawn ÷ the institution's ceiling
_FORMULARY_NONWINNER_SHARE = 0.75  # public institution × VBP variety pairs that keep a non-winner
_SUBSTITUTION_BATCHES = ("GJ07", "GJ09")  # drug batches; planted groups avoid the lagging ones
_SUBSTITUTION_FACTOR = (2.0, 3.0)  # planted non-winning ÷ winning quantity, every month of the year
_SUBSTITUTION_MIN_DAYS = 60  # the planted agreement year must be at least this far along at as_of


@dataclass
class _Portfolio:
    """(institution, product) pairs an institution buys, with their base monthly line rate."""
    keys: np.ndarray  # sorted institution × n_prod + product
    inst: np.ndarray
    prod: np.ndarray
    rate: np.ndarray
    n_prod: int

    def entry(self, inst: int, prod: int) -> int:
        key = inst * self.n_prod + prod
        i = int(np.searchsorted(self.keys, key))
        if i == len(self.keys) or self.keys[i] != key:
            raise KeyError((inst, prod))
        return i


@dataclass(frozen=True)
class _Substitution:
    """A planted agreement year in which the institution buys mostly a non-winning product of the group."""
    inst: int
    group: _Group
    group_index: int
    nonwinner: int  # product index
    period_start: date
    period_end: date
    months: tuple[int, ...]  # month indices of the period up to as_of
    factor: float  # non-winning ÷ winning quantity planted in every month


@dataclass
class _Plan:
    above: list[tuple[int, int, int]]  # (institution, product, month index)
    spike: tuple[int, int, int]
    spike_peers: list[int]
    lagging: list[tuple[int, _Group]]
    substitution: list[_Substitution]
    low_platform: list[int]
    low_months: list[int]
    gb18030_month: int
    bom_month: int
    jsonl_month: int
    invalid_month: int
    planted_institutions: set[int]
    forced: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # month → (entry, min lines)


def _build_portfolio(inst: _Institutions, cat: _Catalogue, rng: np.random.Generator,
                     extra: list[tuple[int, int]]) -> _Portfolio:
    n_prod = len(cat.code)
    category = cat.frame["category"].to_numpy()
    eligible_by_tier = {t: np.flatnonzero(np.isin(category, spec.categories)) for t, spec in _TIERS.items()}
    pairs: list[np.ndarray] = []
    for i in range(len(inst.code)):
        spec = _TIERS[_Tier(inst.tier[i])]
        eligible = eligible_by_tier[_Tier(inst.tier[i])]
        k = int(np.clip(round(spec.portfolio_share * len(eligible)), min(spec.min_portfolio, len(eligible)),
                        len(eligible)))
        # Weighted sampling without replacement (Gumbel top-k): popular products are bought by more institutions.
        keys = np.log(cat.popularity[eligible]) + rng.gumbel(size=len(eligible))
        chosen = eligible[np.argpartition(-keys, k - 1)[:k]]
        pairs.append(np.int64(i) * n_prod + chosen)
    keys = np.concatenate(pairs)

    # Public institutions buying a VBP variety must be able to buy a winner of it.
    by_generic = pd.DataFrame({"key": keys, "inst": keys // n_prod, "prod": keys % n_prod})
    by_generic["generic"] = cat.generic[by_generic["prod"]]
    by_generic["winner"] = cat.vbp_role[by_generic["prod"]] == 1
    by_generic = by_generic[(cat.vbp_role[by_generic["prod"]] > 0) & inst.public[by_generic["inst"]]]
    has_winner = by_generic.groupby(["inst", "generic"], sort=True)["winner"].any()
    winners_of = {grp.generic: grp.winners for grp in cat.groups}
    added = [i * n_prod + winners_of[g][int(rng.integers(len(winners_of[g])))]
             for (i, g), ok in has_winner.items() if not ok]
    # Most keep a non-winner of the variety on their formulary (an originator brand or a
    # former supplier), bought in small amounts once the cycle starts.
    has_other = by_generic.groupby(["inst", "generic"], sort=True)["winner"].all()
    others_of = {grp.generic: np.flatnonzero((cat.generic == grp.generic) & (cat.vbp_role == 2))
                 for grp in cat.groups}
    keeps = rng.random(len(has_other)) < _FORMULARY_NONWINNER_SHARE
    added += [i * n_prod + int(others_of[g][rng.integers(len(others_of[g]))])
              for ((i, g), only_winners), keep in zip(has_other.items(), keeps, strict=True)
              if only_winners and keep]
    added += [i * n_prod + p for i, p in extra]
    keys = np.unique(np.concatenate([keys, np.array(added, dtype=np.int64)]))
    e_inst = (keys // n_prod).astype(np.int32)
    e_prod = (keys % n_prod).astype(np.int32)
    tier_rate = np.array([_TIERS[_Tier(t)].line_rate for t in range(len(_Tier))])
    rate = tier_rate[inst.tier[e_inst]] * cat.popularity[e_prod] * rng.lognormal(0.0, 0.5, len(keys))
    return _Portfolio(keys, e_inst, e_prod, rate, n_prod)


def _pick_product(cat: _Catalogue, generic_name: str) -> int:
    """The most popular listed product of a generic."""
    members = np.flatnonzero((cat.generic == _GENERIC_INDEX[generic_name]) & cat.listed)
    return int(members[np.argmax(cat.popularity[members])])


def _plan_anomalies(inst: _Institutions, cat: _Catalogue, cal: _Calendar,
                    rng: np.random.Generator) -> tuple[_Plan, list[tuple[int, int]]]:
    """Choose who and what carries each planted anomaly; returns the plan and the portfolio pairs it needs."""
    n_months = len(cal.months)
    public = np.flatnonzero(inst.public)
    # Big public hospitals first: they buy enough for monthly indicators to be meaningful.
    pool = [int(i) for t in (_Tier.CITY_HOSPITAL, _Tier.COUNTY_HOSPITAL, _Tier.PRIMARY)
            for i in rng.permutation(public[inst.tier[public] == t])]
    if len(pool) < 11:
        raise ValueError("too few public institutions to plant the anomalies; use institutions >= 30")
    above_insts, spike_inst, low_insts, lag_insts = pool[0:3], pool[3], pool[4:6], pool[6:9]
    sub_insts = pool[9:11]
    peers = [i for i in pool if i != spike_inst][:6]

    above_months = [2, 8, n_months - 2]
    above = [(i, _pick_product(cat, g), m) for i, g, m in zip(above_insts, _ABOVE_LISTED_GENERICS, above_months,
                                                                strict=True)]
    spike_prod = _pick_product(cat, _SPIKE_GENERIC)
    # A steady listed price and a deep usual discount: the spike is an outlier
    # against peers and the institution's own history, not against the listed price.
    cat.change1[spike_prod] = cat.change2[spike_prod] = _NEVER
    cat.price1[spike_prod] = cat.price2[spike_prod] = cat.price0[spike_prod]
    cat.discount[spike_prod] = _SPIKE_DISCOUNT
    spike_month = n_months - 3

    batch_groups = [g for g in cat.groups if g.batch.code == _LAGGING_BATCH]
    lag_groups = [batch_groups[j] for j in rng.choice(len(batch_groups), size=3, replace=False)]
    lagging = list(zip(lag_insts, lag_groups, strict=True))
    substitution = _plan_substitution(sub_insts, lag_groups, cat, cal, rng)

    plan = _Plan(above=above, spike=(spike_inst, spike_prod, spike_month), spike_peers=peers,
                 lagging=lagging, substitution=substitution,
                 low_platform=low_insts, low_months=list(range(n_months - 4, n_months)),
                 gb18030_month=2, bom_month=5, jsonl_month=8, invalid_month=10,
                 planted_institutions=set(above_insts) | {spike_inst} | set(low_insts) | set(lag_insts)
                 | set(sub_insts))
    extra = [(i, p) for i, p, _ in above] + [(i, spike_prod) for i in [spike_inst, *peers]]
    extra += [(i, grp.winners[0]) for i, grp in lagging]
    extra += [(s.inst, p) for s in substitution for p in (s.group.winners[0], s.nonwinner)]
    return plan, extra


def _plan_substitution(insts: list[int], lag_groups: list[_Group], cat: _Catalogue, cal: _Calendar,
                       rng: np.random.Generator) -> list[_Substitution]:
    """One drug group per institution whose current agreement year is bought mostly off the winners.

    The groups are other than the planted lagging ones and their agreement year
    (the one containing as_of) is far enough along to mean something.
    """
    candidates = []
    for gi, grp in enumerate(cat.groups):
        if grp.batch.code not in _SUBSTITUTION_BATCHES or grp in lag_groups:
            continue
        periods = grp.batch.periods(cal.as_of)
        if not periods or periods[-1][1] < cal.as_of:
            continue  # the cycle is over
        start, end = periods[-1]
        if (cal.as_of - start).days + 1 >= _SUBSTITUTION_MIN_DAYS:
            candidates.append((gi, grp, start, end))
    if len(candidates) < len(insts):
        raise RuntimeError("no VBP group has a current agreement year long enough to plant substitution in")
    out = []
    for i, k in zip(insts, rng.choice(len(candidates), size=len(insts), replace=False), strict=True):
        gi, grp, start, end = candidates[int(k)]
        others = np.flatnonzero((cat.vbp_group == gi) & (cat.vbp_role == 2))
        nonwinner = int(others[np.argmax(cat.popularity[others])])
        months = tuple(int(m) for m in np.flatnonzero((cal.start_day >= _day(start)) & (cal.start_day <= _day(end))))
        out.append(_Substitution(i, grp, gi, nonwinner, start, end, months,
                                 float(rng.uniform(*_SUBSTITUTION_FACTOR))))
    return out


def _force_lines(plan: _Plan, pf: _Portfolio, cat: _Catalogue, cal: _Calendar) -> None:
    """Minimum line counts that guarantee every planted anomaly has data behind it."""
    forced: dict[int, list[tuple[int, int]]] = {}

    def need(month: int, inst: int, prod: int, lines: int) -> None:
        forced.setdefault(month, []).append((pf.entry(inst, prod), lines))

    for i, p, m in plan.above:
        need(m, i, p, 2)
    spike_inst, spike_prod, spike_month = plan.spike
    need(spike_month, spike_inst, spike_prod, 2)
    need(spike_month - 1, spike_inst, spike_prod, 1)  # its own usual price the month before
    for i in plan.spike_peers:
        need(spike_month, i, spike_prod, 1)
    for i, grp in plan.lagging:
        for month in np.flatnonzero(cal.start_day >= _day(grp.batch.cycle_start)):
            need(int(month), i, grp.winners[0], 1)
    for s in plan.substitution:
        for m in s.months:
            need(m, s.inst, s.group.winners[0], 1)
            need(m, s.inst, s.nonwinner, 2)
    for i in plan.low_platform:
        own = np.flatnonzero((pf.inst == i) & (cat.group[pf.prod] == 0))
        for e in own[np.argsort(-pf.rate[own], kind="stable")][:6]:
            for m in plan.low_months:
                need(m, i, int(pf.prod[e]), 2)
    plan.forced = forced
