"""The product catalogue, its listed-price history and the VBP results."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from yaocai_demo.basics import _NEVER, DATA_START, _date, _day
from yaocai_demo.reference import (
    _BASE_QTY,
    _BATCHES,
    _CATEGORY_GROUPS,
    _FIRM_PLACES,
    _FIRM_STEMS,
    _GENERIC_INDEX,
    _GENERICS,
    _MAKER_SUFFIXES,
    _Batch,
    _Generic,
    _Maker,
)


@dataclass
class _Group:
    batch: _Batch
    code: str
    generic: int
    winners: list[int] = field(default_factory=list)  # product indices


@dataclass
class _Catalogue:
    frame: pd.DataFrame  # the products feed
    generic: np.ndarray
    group: np.ndarray  # category group index (CATEGORY_GROUP_NAMES), -1 for herbal pieces
    convrat: np.ndarray
    base_qty: np.ndarray
    shelf_days: np.ndarray
    rx: np.ndarray
    popularity: np.ndarray
    discount: np.ndarray  # usual transaction price ÷ listed price
    listed: np.ndarray  # platform_listed
    first_day: np.ndarray
    change1: np.ndarray  # listed price history: price0 until change1, price1 until change2, then price2
    change2: np.ndarray
    price0: np.ndarray
    price1: np.ndarray
    price2: np.ndarray
    win_price: np.ndarray  # NaN unless a VBP winner
    win_start: np.ndarray
    win_end: np.ndarray
    vbp_role: np.ndarray  # 0 not under VBP, 1 winner, 2 same variety but not a winner
    vbp_start: np.ndarray  # cycle start day of the product's VBP group
    vbp_end: np.ndarray  # cycle end day (inclusive) of the product's VBP group
    vbp_group: np.ndarray  # index into groups, -1 when not under VBP
    code: np.ndarray
    manufacturer: np.ndarray
    aprvno: np.ndarray
    hilist_id: np.ndarray
    hilist_name: np.ndarray
    groups: list[_Group]

    def price_at(self, prod: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Listed price (yuan per pack) valid on `day`; for unlisted products the price they trade at."""
        return np.where(day >= self.change2[prod], self.price2[prod],
                        np.where(day >= self.change1[prod], self.price1[prod], self.price0[prod]))


def _allocate(total: int, weights: np.ndarray, minimum: np.ndarray) -> np.ndarray:
    """Split `total` into integer counts ∝ weights, each at least its minimum (largest remainder)."""
    raw = total * weights / weights.sum()
    counts = np.maximum(minimum, np.floor(raw)).astype(np.int64)
    remainder = raw - np.floor(raw)
    diff = total - int(counts.sum())
    if diff > 0:
        for i in np.argsort(-remainder, kind="stable")[:diff]:
            counts[i] += 1
    while diff < 0:
        i = int(np.argmax(np.where(counts > minimum, counts, -1)))
        counts[i] -= 1
        diff += 1
    return counts


def _min_products_per_generic() -> np.ndarray:
    vbp = {name for b in _BATCHES for name in b.generics}
    # A VBP variety needs up to 3 winners plus non-winners; the others at least two makers.
    return np.array([4 if g.name in vbp else 2 for g in _GENERICS], dtype=np.int64)


def _maker_names(rng: np.random.Generator) -> dict[_Maker, list[str]]:
    pairs = [p + s for p in _FIRM_PLACES for s in _FIRM_STEMS]
    names = {}
    for maker, suffixes in _MAKER_SUFFIXES.items():
        order = rng.permutation(len(pairs))
        names[maker] = [pairs[j] + suffixes[k % len(suffixes)] for k, j in enumerate(order)]
    return names


def _aprvno(g: _Generic, rng: np.random.Generator) -> str:
    year = int(rng.integers(1998, 2024))
    serial = int(rng.integers(0, 10_000))
    if g.category == "western":
        return f"国药准字H{year}{serial:04d}"
    if g.category == "chinese_patent":
        return f"国药准字Z{year}{serial:04d}"
    if g.category in ("hvc", "ivd"):
        return f"国械注准{year}3{int(rng.integers(1, 70)):02d}{serial:04d}"
    if g.category == "lvc":
        province = "粤鲁鄂晋苏浙"[int(rng.integers(6))]
        return f"{province}械注准{year}2{int(rng.integers(1, 70)):02d}{serial:04d}"
    return ""  # 饮片 and 配方颗粒 carry no 批准文号


def _product_code(g: _Generic, gi: int, si: int, pi: int, maker_code: int, serial: int | None) -> str:
    """National-code-shaped codes (docs/domain-notes.md §5); only prefix and length are meaningful."""
    if g.category == "western":  # X + 22
        return f"X{g.class_code}A{gi:03d}A{si:03d}{pi:04d}{maker_code:05d}"
    if g.category == "chinese_patent":  # Z + 19
        return f"Z{g.class_code}{gi:04d}{si:02d}{pi:03d}{maker_code:05d}"
    if g.category in ("herbal_pieces", "formula_granules"):  # T + 19
        kind = "0" if g.category == "herbal_pieces" else "1"
        return f"T{kind}{gi:05d}{si:02d}{pi:02d}{maker_code:05d}0001"
    code = f"C{g.class_code}{gi:03d}{si:02d}{pi:03d}{maker_code:05d}"  # C + 19
    return code if serial is None else f"{code}{serial:07d}"  # C + 26 with the 7-digit serial


def _build_catalogue(n: int, rng: np.random.Generator, as_of: date) -> _Catalogue:
    weights = np.array([g.weight for g in _GENERICS])
    counts = _allocate(n, weights, _min_products_per_generic())
    makers = _maker_names(rng)
    rows: list[dict] = []
    for gi, (g, count) in enumerate(zip(_GENERICS, counts, strict=True)):
        combos_per_maker = len(g.specs) * len(g.packs)
        n_makers = int(np.clip(math.ceil(count / max(1.0, 0.6 * combos_per_maker)), 2, len(makers[g.maker])))
        maker_ids = np.sort(rng.choice(len(makers[g.maker]), size=n_makers, replace=False))
        combos = [(m, s, p) for m in maker_ids for s in range(len(g.specs)) for p in range(len(g.packs))]
        combos = [combos[i] for i in rng.permutation(len(combos))]
        # Round-robin over makers so the catalogue has several makers per generic.
        seen: dict[int, int] = {}
        rank = []
        for m, _, _ in combos:
            seen[m] = seen.get(m, 0) + 1
            rank.append(seen[m])
        combos = [combos[i] for i in np.argsort(rank, kind="stable")][:count]
        maker_factor = {m: float(rng.lognormal(0.0, 0.2)) for m in maker_ids}
        if g.category == "western":  # the originator brand lists well above the generics
            maker_factor[maker_ids[0]] *= 1.6
        aprvnos = {(m, s): _aprvno(g, rng) for m in maker_ids for s in range(len(g.specs))}
        for m, s, pack in combos:
            strength0, strength = g.specs[0][1], g.specs[s][1]
            n0, n_units = g.packs[0], g.packs[pack]
            pack_price = (g.unit_price * n0 * g.pack_base ** math.log2(n_units / n0)
                          * g.spec_base ** math.log2(strength / strength0) * maker_factor[m])
            maker_code = int(g.maker) * 10_000 + int(m)
            long_code = g.category in ("hvc", "lvc", "ivd") and rng.random() < 0.05
            serial = int(rng.integers(1, 10**7)) if long_code else None
            spec_label = g.specs[s][0]
            pack_spec = f"{n_units}{g.min_unit}/{g.pack_unit}"
            rows.append({
                "med_list_codg": _product_code(g, gi + 1, s + 1, pack + 1, maker_code, serial),
                "category": g.category,
                "generic_name": g.name,
                "dosage_form": g.dosage_form,
                "spec": spec_label,
                "pack_spec": pack_spec,
                "convrat": n_units,
                "min_unit": g.min_unit,
                "pack_unit": g.pack_unit,
                "manufacturer": makers[g.maker][m],
                "aprvno": aprvnos[(m, s)],
                "_generic": gi,
                "_price": max(0.01, round(pack_price, 2)),
                "_hilist_name": f"{g.name} {spec_label} {pack_spec}",
            })
    frame = pd.DataFrame(rows).sort_values("med_list_codg", kind="stable").reset_index(drop=True)
    n = len(frame)
    generic = frame["_generic"].to_numpy(dtype=np.int32)
    category = frame["category"].to_numpy(dtype=object)
    per_generic = np.bincount(generic, minlength=len(_GENERICS))
    popularity = weights[generic] / per_generic[generic] * rng.lognormal(0.0, 0.7, n)
    discount = np.minimum(1.0, rng.uniform(0.90, 1.04, n))  # ~1/3 trade exactly at the listed price

    groups: list[_Group] = []
    for batch in _BATCHES:
        for k, name in enumerate(batch.generics, start=1):
            groups.append(_Group(batch, f"{batch.code}-{k:03d}", _GENERIC_INDEX[name]))
    vbp_generics = {grp.generic for grp in groups}
    is_herbal = category == "herbal_pieces"
    # Many 饮片 are bought outside the platform (国办发〔2015〕7号 exempts them); a few other products too.
    listed = ~(np.where(is_herbal, rng.random(n) < 0.6, rng.random(n) < 0.02))
    listed |= np.isin(generic, sorted(vbp_generics))

    price0 = frame["_price"].to_numpy(dtype=np.float64)
    price1 = price0.copy()
    price2 = price0.copy()
    change1 = np.full(n, _NEVER, dtype=np.int64)
    change2 = np.full(n, _NEVER, dtype=np.int64)
    first_day = rng.integers(_day(date(2021, 1, 1)), _day(DATA_START) - 30, n)
    win_price = np.full(n, np.nan)
    win_start = np.full(n, _NEVER, dtype=np.int64)
    win_end = np.full(n, _NEVER, dtype=np.int64)
    vbp_role = np.zeros(n, dtype=np.int8)
    vbp_start = np.full(n, _NEVER, dtype=np.int64)
    vbp_end = np.full(n, _NEVER, dtype=np.int64)
    vbp_group = np.full(n, -1, dtype=np.int32)

    for gi, grp in enumerate(groups):
        members = np.flatnonzero(generic == grp.generic)
        start, end = _day(grp.batch.cycle_start), _day(grp.batch.cycle_end)
        vbp_role[members] = 2
        vbp_start[members] = start
        vbp_end[members] = end
        vbp_group[members] = gi
        n_win = min(int(rng.integers(1, 4)), len(members) - 1)
        makers_taken: set[str] = set()
        for candidate in rng.permutation(members):
            maker = frame.at[candidate, "manufacturer"]
            if len(grp.winners) < n_win and maker not in makers_taken:
                grp.winners.append(int(candidate))
                makers_taken.add(maker)
        grp.winners.sort()
        drop = (0.1, 0.45) if _GENERICS[grp.generic].category == "hvc" else (0.2, 0.5)
        for p in members:
            if p in grp.winners:
                # Winners are relisted at the winning price when the cycle starts;
                # some had an earlier price change as well.
                vbp_role[p] = 1
                win_start[p], win_end[p] = start, end
                earliest, latest = first_day[p] + 60, start - 30
                if earliest < latest and rng.random() < 0.25:
                    change1[p] = rng.integers(earliest, latest)
                    price1[p] = max(0.01, round(price0[p] * rng.uniform(0.88, 1.05), 2))
                    win_price[p] = max(0.01, round(price1[p] * rng.uniform(*drop), 2))
                    change2[p], price2[p] = start, win_price[p]
                else:
                    win_price[p] = max(0.01, round(price0[p] * rng.uniform(*drop), 2))
                    change1[p], price1[p], price2[p] = start, win_price[p], win_price[p]
            elif rng.random() < 0.5:
                # Provinces push non-winners of a VBP variety down towards the winning price.
                change1[p] = start + int(rng.integers(30, 90))
                price1[p] = price2[p] = max(0.01, round(price0[p] * rng.uniform(0.6, 0.85), 2))

    # Ordinary listed-price changes inside the data period, never overlapping: candidate
    # days 30 apart plus up to 15 days of jitter keep changes at least two weeks apart.
    grid = np.arange(_day(DATA_START) + 10, _day(as_of) - 25, 30)
    for p in np.flatnonzero(vbp_role == 0):
        k = int(rng.choice(3, p=[0.55, 0.35, 0.10]))
        if k == 0:
            continue
        days = np.sort(rng.choice(grid, size=k, replace=False)) + rng.integers(0, 16, k)
        change1[p] = days[0]
        price1[p] = price2[p] = max(0.01, round(price0[p] * rng.uniform(0.85, 1.06), 2))
        if k == 2:
            change2[p] = days[1]
            price2[p] = max(0.01, round(price1[p] * rng.uniform(0.85, 1.06), 2))

    prefix = np.select([np.isin(category, ["hvc", "lvc", "ivd"]), is_herbal], ["HC", "ZY"], "YP")
    return _Catalogue(
        frame=frame.drop(columns=["_generic", "_price", "_hilist_name"]).assign(
            platform_listed=np.where(listed, "1", "0")),
        generic=generic,
        group=np.array([_CATEGORY_GROUPS[c] for c in category], dtype=np.int8),
        convrat=frame["convrat"].to_numpy(dtype=np.float64),
        base_qty=np.array([_BASE_QTY[c] for c in category]),
        shelf_days=np.array([_GENERICS[g].shelf_months * 30 for g in generic], dtype=np.int64),
        rx=np.array([_GENERICS[g].rx for g in generic]),
        popularity=popularity,
        discount=discount,
        listed=listed,
        first_day=first_day,
        change1=change1, change2=change2, price0=price0, price1=price1, price2=price2,
        win_price=win_price, win_start=win_start, win_end=win_end,
        vbp_role=vbp_role, vbp_start=vbp_start, vbp_end=vbp_end, vbp_group=vbp_group,
        code=frame["med_list_codg"].to_numpy(dtype=object),
        manufacturer=frame["manufacturer"].to_numpy(dtype=object),
        aprvno=frame["aprvno"].to_numpy(dtype=object),
        hilist_id=np.array([f"{pre}{i + 1:06d}" for i, pre in enumerate(prefix)], dtype=object),
        hilist_name=frame["_hilist_name"].to_numpy(dtype=object),
        groups=groups,
    )


def _listed_price_frame(cat: _Catalogue) -> pd.DataFrame:
    rows = []
    for p in np.flatnonzero(cat.listed):
        bounds = [int(cat.first_day[p])] + [int(c) for c in (cat.change1[p], cat.change2[p]) if c != _NEVER]
        prices = (cat.price0[p], cat.price1[p], cat.price2[p])
        for k, start in enumerate(bounds):
            end = bounds[k + 1] if k + 1 < len(bounds) else None
            valid_to = "" if end is None else _date(end).isoformat()  # exclusive; empty = still valid
            rows.append((cat.code[p], prices[k], _date(start).isoformat(), valid_to))
    return pd.DataFrame(rows, columns=["med_list_codg", "listed_price", "valid_from", "valid_to"])


def _vbp_results_frame(cat: _Catalogue) -> pd.DataFrame:
    rows = []
    for grp in cat.groups:
        g = _GENERICS[grp.generic]
        for p in grp.winners:
            rows.append((grp.batch.code, grp.batch.name, grp.batch.level, grp.code, g.name, g.dosage_form,
                         cat.code[p], cat.manufacturer[p], cat.win_price[p], grp.batch.cycle_start.isoformat(),
                         grp.batch.cycle_end.isoformat()))
    return pd.DataFrame(rows, columns=["batch_code", "batch_name", "batch_level", "group_code", "generic_name",
                                       "dosage_form", "med_list_codg", "manufacturer", "winning_price",
                                       "cycle_start", "cycle_end"])
