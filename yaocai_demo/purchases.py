"""The purchase generator: draws purchase and return lines month by month in chunks,
plants the line-level anomalies and streams the lines to the monthly files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from yaocai_demo.anomalies import (
    _ABOVE_LISTED_RANGE,
    _LOW_PLATFORM_OFF_SHARE,
    _NONWINNING_DEMAND,
    _NONWINNING_SHARE_RANGE,
    _SPIKE_FACTOR,
    _Plan,
    _Portfolio,
    _Substitution,
)
from yaocai_demo.basics import (
    _NEVER,
    _SECONDS_PER_DAY,
    _WORKDAY,
    CHUNK_LINES,
    GIFT_RATE,
    LATE_LINES,
    MISSING_PRICE_RATE,
    OFF_PLATFORM_RATE,
    RETURN_RATE,
    Progress,
    _add_months,
    _Calendar,
    _concat,
    _day,
    _floor_cents,
    _Lines,
    _take,
)
from yaocai_demo.catalogue import _Catalogue
from yaocai_demo.institutions import _TIERS, _Institutions, _Tier
from yaocai_demo.reference import _CITIES, _FIRM_STEMS
from yaocai_demo.rendering import (
    _CSV,
    _CSV_BOM,
    _CSV_GB18030,
    _JSONL,
    _FileFormat,
    _nhsa_messages,
    _PurchaseFiles,
    _render,
    _serials,
)
from yaocai_demo.truth import _Tally


class _PurchaseGenerator:
    """Draws purchase lines month by month in chunks, plants anomalies, makes returns and writes them."""

    def __init__(self, rng: np.random.Generator, inst: _Institutions, cat: _Catalogue, pf: _Portfolio,
                 plan: _Plan, cal: _Calendar, files: _PurchaseFiles, tally: _Tally, target_purchases: int,
                 progress: Progress | None, expected_total: int) -> None:
        self.rng, self.inst, self.cat, self.pf, self.plan, self.cal = rng, inst, cat, pf, plan, cal
        self.files, self.tally, self.progress, self.expected_total = files, tally, progress, expected_total
        self.seq = 0
        self.written = 0
        self.carry: dict[int, list[_Lines]] = {}
        self.invalid_rows: list[dict] = []
        self.late_rows: dict = {}
        self.suppliers, self.supplier_base = self._suppliers()
        # Each public institution's ceiling on non-winning ÷ winning quantity inside a VBP cycle.
        share = rng.uniform(*_NONWINNING_SHARE_RANGE, len(inst.code))
        self.nonwinning_ratio = np.repeat(share / (1.0 - share), len(cat.groups))  # flat, like headroom
        self.period_bounds = self._period_bounds()
        # Non-winning allowance left per institution × VBP group in the current agreement year.
        self.headroom = np.zeros(len(inst.code) * len(cat.groups))
        # Rates are scaled so the expected number of purchase lines is target_purchases.
        self.scale = target_purchases / sum(float(self._month_rates(m).sum()) for m in range(len(cal.months)))

    def _suppliers(self) -> tuple[np.ndarray, np.ndarray]:
        names: list[str] = []
        base: list[int] = []
        for city in _CITIES:
            base.append(len(names))
            for j in self.rng.choice(len(_FIRM_STEMS), size=4, replace=False):
                names.append(f"{city.name}{_FIRM_STEMS[j]}医药有限公司")
        return np.array(names, dtype=object), np.array(base, dtype=np.int32)

    def _period_bounds(self) -> np.ndarray:
        """Per VBP group: first day of each agreement year of its cycle, then the day after the cycle."""
        rows = []
        for grp in self.cat.groups:
            periods = grp.batch.periods(grp.batch.cycle_end)
            if any(start.day != 1 for start, _ in periods):
                # run() restarts the non-winning allowance at month starts only.
                raise ValueError(f"{grp.batch.code}: agreement years must start on the first of a month")
            rows.append([_day(a) for a, _ in periods] + [_day(periods[-1][1]) + 1])
        width = max(len(r) for r in rows)
        return np.array([r + [int(_NEVER)] * (width - len(r)) for r in rows], dtype=np.int64)

    def _period_of(self, prod: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Agreement year of each VBP product's day: 0 before the cycle, 1… inside it, last after it."""
        bounds = self.period_bounds[np.maximum(self.cat.vbp_group[prod], 0)]
        return (day[:, None] >= bounds).sum(axis=1)

    def _month_rates(self, m: int) -> np.ndarray:
        pf, cat, cal = self.pf, self.cat, self.cal
        # After a VBP cycle starts, public institutions move their volume of the variety to the
        # winners. Non-winners are still ordered now and then: their rates are scaled so their
        # expected volume (lines × convrat) is about the institution's ceiling share of the
        # winners', whatever the number of non-winners on its formulary; _cap_nonwinning then
        # enforces the ceiling on what is actually drawn.
        started = self.inst.public[pf.inst] & (cat.vbp_start[pf.prod] <= cal.start_day[m])
        role = cat.vbp_role[pf.prod]
        rate = pf.rate * np.where(started & (role == 1), 4.0, 1.0)
        nonwin = started & (role == 2)
        if nonwin.any():
            win = started & (role == 1)
            key = pf.inst.astype(np.int64) * len(cat.groups) + cat.vbp_group[pf.prod]
            units = rate * cat.convrat[pf.prod]
            size = self.headroom.size
            winning = np.bincount(key[win], weights=units[win], minlength=size)
            nonwinning = np.bincount(key[nonwin], weights=units[nonwin], minlength=size)
            target = _NONWINNING_DEMAND * self.nonwinning_ratio * winning
            scale = np.where(nonwinning > target, target / np.where(nonwinning > 0, nonwinning, 1.0), 1.0)
            rate[nonwin] *= scale[key[nonwin]]
        month_days = _day(_add_months(cal.months[m], 1)) - cal.start_day[m]
        return rate * (cal.end_day[m] - cal.start_day[m] + 1) / month_days

    def _format(self, m: int) -> _FileFormat:
        return {self.plan.gb18030_month: _CSV_GB18030, self.plan.bom_month: _CSV_BOM,
                self.plan.jsonl_month: _JSONL}.get(m, _CSV)

    def run(self) -> None:
        n_months = len(self.cal.months)
        for m in range(n_months):
            # A new agreement year starts with no allowance carried over.
            starting = np.flatnonzero((self.period_bounds == self.cal.start_day[m]).any(axis=1))
            self.headroom.reshape(-1, len(self.cat.groups))[:, starting] = 0.0
            rates = self._month_rates(m) * self.scale
            n_chunks = max(1, math.ceil(rates.sum() / CHUNK_LINES))
            bounds = np.linspace(0, len(rates), n_chunks + 1).astype(np.int64)
            # Chunks end on institution boundaries, so the non-winning cap sees all of an
            # institution's purchases of the month at once.
            inner = np.searchsorted(self.pf.inst, self.pf.inst[bounds[1:-1]], side="left")
            bounds = np.unique(np.concatenate([[0], inner, [len(rates)]]))
            n_chunks = len(bounds) - 1
            for c in range(n_chunks):
                lines = self._draw(m, int(bounds[c]), int(bounds[c + 1]), rates[bounds[c]:bounds[c + 1]])
                lines, _ = self._cap_nonwinning(m, lines, None)
                self._plant(m, lines)
                lines = self._number(lines)
                returns = self._returns(m, lines)
                lines, returns = self._cap_nonwinning(m, lines, returns)
                month_of_return = self.cal.month_of(returns["t"] // _SECONDS_PER_DAY)
                blocks = [lines, _take(returns, month_of_return == m)]
                for later in np.unique(month_of_return[month_of_return > m]):
                    self.carry.setdefault(int(later), []).append(_take(returns, month_of_return == later))
                if c == 0:
                    blocks += self.carry.pop(m, [])
                last_chunk = c == n_chunks - 1
                if last_chunk and m == n_months - 1:
                    blocks.append(self._late_lines(lines))
                self._write(m, _concat(blocks), invalid=last_chunk and m == self.plan.invalid_month)

    def _draw(self, m: int, lo: int, hi: int, rates: np.ndarray) -> _Lines:
        rng, pf, cat, cal = self.rng, self.pf, self.cat, self.cal
        counts = rng.poisson(rates)
        for e, minimum in self.plan.forced.get(m, []):
            if lo <= e < hi:
                counts[e - lo] = max(counts[e - lo], minimum)
        entry = np.repeat(np.arange(lo, hi), counts)
        n = entry.size
        prod, who = pf.prod[entry], pf.inst[entry]
        day = rng.integers(cal.start_day[m], cal.end_day[m] + 1, n)
        t = day * _SECONDS_PER_DAY + rng.integers(*_WORKDAY, n)
        tier_qty = np.array([_TIERS[_Tier(k)].qty_scale for k in range(len(_Tier))])
        qty = np.maximum(1, np.rint(cat.base_qty[prod] * tier_qty[self.inst.tier[who]]
                                    * rng.lognormal(0.0, 0.7, n))).astype(np.int64)
        base = cat.price_at(prod, day)
        winning = (cat.win_start[prod] <= day) & (day <= cat.win_end[prod])
        # Winners trade at exactly the winning price; others at or a little below the listed price.
        price = np.where(winning, cat.win_price[prod],
                         _floor_cents(base * cat.discount[prod] * rng.uniform(0.985, 1.0, n)))
        gift = rng.random(n) < GIFT_RATE
        missing = ~gift & cat.listed[prod] & (rng.random(n) < MISSING_PRICE_RATE)
        online = cat.listed[prod] & ~gift & (rng.random(n) >= OFF_PLATFORM_RATE)
        price = np.where(gift, 0.0, np.where(missing, np.nan, price))
        qty = np.where(gift, np.maximum(1, qty // 10), qty)
        age = 30 + (rng.random(n) * (cat.shelf_days[prod] // 2 - 30)).astype(np.int64)
        return {
            "kind": np.zeros(n, dtype=np.int8), "inst": who, "prod": prod, "t": t, "qty": qty, "price": price,
            "listed": np.where(cat.listed[prod], base, np.nan), "gift": gift, "online": online,
            "returned": np.zeros(n, dtype=bool),
            "seq": np.zeros(n, dtype=np.int64), "orig_seq": np.zeros(n, dtype=np.int64),
            "orig_t": np.zeros(n, dtype=np.int64), "manu_day": day - age,
            "lot": rng.integers(0, 100, n), "invoice": rng.integers(10**7, 10**8, n),
            "supplier": self.supplier_base[self.inst.city[who]] + (who + prod) % 4,
        }

    def _usual_price(self, prod: np.ndarray, day: np.ndarray) -> np.ndarray:
        cat = self.cat
        return _floor_cents(cat.price_at(prod, day) * cat.discount[prod] * self.rng.uniform(0.985, 1.0, prod.size))

    def _plant(self, m: int, lines: _Lines) -> None:
        day = lines["t"] // _SECONDS_PER_DAY
        priced_normally = np.zeros(lines["t"].size, dtype=bool)
        for i, p, month in self.plan.above:
            if month == m:
                hit = (lines["inst"] == i) & (lines["prod"] == p)
                listed = self.cat.price_at(lines["prod"][hit], day[hit])
                lines["price"][hit] = _floor_cents(listed * self.rng.uniform(*_ABOVE_LISTED_RANGE, hit.sum()))
                priced_normally |= hit
        spike_inst, spike_prod, spike_month = self.plan.spike
        if m in (spike_month - 1, spike_month):
            # Every line of the spike product is priced, so the peer median has enough institutions.
            hit = lines["prod"] == spike_prod
            lines["price"][hit] = self._usual_price(lines["prod"][hit], day[hit])
            priced_normally |= hit
            if m == spike_month:
                jump = hit & (lines["inst"] == spike_inst)
                lines["price"][jump] = _floor_cents(lines["price"][jump] * _SPIKE_FACTOR)
        lines["gift"][priced_normally] = False
        for sub in self.plan.substitution:
            if m in sub.months:
                self._substitute(lines, sub)
        if m in self.plan.low_months:
            for i in self.plan.low_platform:
                self._move_off_platform(lines, i)

    def _planted_substitution(self, m: int, lines: _Lines) -> np.ndarray:
        """Lines of the planted substitution institution × group in a month of its agreement year."""
        mask = np.zeros(lines["t"].size, dtype=bool)
        for sub in self.plan.substitution:
            if m in sub.months:
                mask |= (lines["inst"] == sub.inst) & (self.cat.vbp_group[lines["prod"]] == sub.group_index)
        return mask

    def _substitute(self, lines: _Lines, sub: _Substitution) -> None:
        """Raise the month's non-winning quantity of the planted group to `factor` × its winning quantity."""
        cat = self.cat
        prod = lines["prod"]
        own = (lines["inst"] == sub.inst) & (cat.vbp_group[prod] == sub.group_index) & ~lines["gift"]
        units = lines["qty"] * cat.convrat[prod]
        win = own & (cat.vbp_role[prod] == 1)
        non = own & (cat.vbp_role[prod] == 2)
        winning, nonwinning = float(units[win].sum()), float(units[non].sum())
        if nonwinning > 0 and nonwinning < sub.factor * winning:
            scale = sub.factor * winning / nonwinning
            lines["qty"][non] = np.ceil(lines["qty"][non] * scale).astype(np.int64)

    def _cap_nonwinning(self, m: int, lines: _Lines, returns: _Lines | None) -> tuple[_Lines, _Lines | None]:
        """Keep each public institution's non-winning purchases of a VBP group under its ceiling.

        Per institution × group and agreement year, counting purchases inside the
        group's cycle with gifts excluded (as the indicator does): non-winning minimum
        units so far ≤ nonwinning_ratio × winning minimum units so far, the winning ones
        net of the returns drawn for them (a VBP product is returned inside the agreement
        year of its purchase, see _returns). `headroom` carries what is left of the
        allowance from month to month and restarts with each agreement year. Lines beyond
        it are cut to whole packs that fit, or dropped; their returns follow. Every
        agreement but the planted ones therefore ends with non-winning ≤ ratio × winning
        < winning.

        Called twice per block: before planting on gross quantities (`returns` None, no
        state change) and once returns are drawn, which commits the new headroom.
        """
        cat = self.cat
        prod, who = lines["prod"], lines["inst"]
        day = lines["t"] // _SECONDS_PER_DAY
        group = cat.vbp_group[prod]
        inside = ((group >= 0) & self.inst.public[who] & (day >= cat.vbp_start[prod]) & (day <= cat.vbp_end[prod])
                  & ~lines["gift"] & (lines["kind"] == 0) & ~self._planted_substitution(m, lines))
        n_groups = len(cat.groups)
        size = self.headroom.size
        flat = who.astype(np.int64) * n_groups + group
        units = lines["qty"] * cat.convrat[prod]
        win = inside & (cat.vbp_role[prod] == 1)
        nonwin = np.flatnonzero(inside & (cat.vbp_role[prod] == 2))
        winning = np.bincount(flat[win], weights=units[win], minlength=size)
        if returns is not None and returns["t"].size:
            r_prod, r_who = returns["prod"], returns["inst"]
            r_day = returns["orig_t"] // _SECONDS_PER_DAY
            r_win = ((cat.vbp_role[r_prod] == 1) & self.inst.public[r_who] & (r_day >= cat.vbp_start[r_prod])
                     & (r_day <= cat.vbp_end[r_prod]))
            r_flat = (r_who.astype(np.int64) * n_groups + cat.vbp_group[r_prod])[r_win]
            winning -= np.bincount(r_flat, weights=(returns["qty"] * cat.convrat[r_prod])[r_win], minlength=size)
        budget = self.headroom + self.nonwinning_ratio * np.maximum(winning, 0.0)
        nonwinning = np.bincount(flat[nonwin], weights=units[nonwin], minlength=size)
        over = nonwinning > budget
        if over.any():
            # First come, first served: lines are kept whole in time order while the allowance
            # lasts, the one that crosses it is cut to what is left (whole packs), later ones go.
            order = nonwin[np.lexsort((lines["t"][nonwin], flat[nonwin]))]
            k, u = flat[order], units[order]
            before = np.cumsum(u) - u
            first = np.r_[True, k[1:] != k[:-1]]
            before -= before[first][np.cumsum(first) - 1]
            left = budget[k] - before
            packs = np.floor(np.maximum(left, 0.0) / cat.convrat[prod[order]]).astype(np.int64)
            lines["qty"][order] = np.where(u <= left, lines["qty"][order], np.minimum(packs, lines["qty"][order]))
            nonwinning = np.bincount(flat[nonwin], weights=(lines["qty"] * cat.convrat[prod])[nonwin],
                                     minlength=size)
        if returns is not None:
            self.headroom = np.maximum(budget - nonwinning, 0.0)
        if not over.any():
            return lines, returns
        keep = lines["qty"] > 0
        if returns is not None and returns["t"].size:
            # Returns of scaled lines never exceed what is left of the purchase.
            origin = returns["orig_seq"] - lines["seq"][0]
            returns["qty"] = np.minimum(returns["qty"], lines["qty"][origin])
            returns = _take(returns, keep[origin])
        if not keep.all():
            lines = _take(lines, keep)
        return lines, returns

    def _move_off_platform(self, lines: _Lines, inst: int) -> None:
        """Move about 45% of the institution's drug amount off the platform (网下采购)."""
        own = np.flatnonzero((lines["inst"] == inst) & (self.cat.group[lines["prod"]] == 0) & ~lines["gift"])
        if own.size == 0:
            return
        # Start from the platform for every listed product (replacing the random
        # off-platform lines), so the share moved off is the planned one.
        lines["online"][own] = self.cat.listed[lines["prod"][own]]
        price = np.where(np.isnan(lines["price"][own]), lines["listed"][own], lines["price"][own])
        amount = price * lines["qty"][own]
        share = self.rng.uniform(*_LOW_PLATFORM_OFF_SHARE)
        target = amount.sum() * share
        off = float(amount[~lines["online"][own]].sum())
        # Largest first: what is left below the target is smaller than any line still on the platform.
        for k in np.argsort(-amount, kind="stable"):
            if lines["online"][own[k]] and off + amount[k] <= target:
                lines["online"][own[k]] = False
                off += amount[k]
        if off >= 0.95 * target:
            return
        # With few, lumpy lines no subset is close: buy more packs of one line
        # off the platform, enough for the off-platform share to reach `share`.
        # The extra packs never go to a non-winning product of a VBP variety (its ceiling is already set).
        free = self.cat.vbp_role[lines["prod"][own]] != 2
        if not free.any():
            free[:] = True
        offline = np.flatnonzero(~lines["online"][own] & free)
        if offline.size == 0:
            choices = np.flatnonzero(free)
            smallest = int(choices[np.argmin(amount[choices])])
            if lines["online"][own[smallest]]:
                lines["online"][own[smallest]] = False
                off += amount[smallest]
            offline = np.array([smallest])
        k = int(offline[np.argmax(price[offline])])
        extra = math.ceil((share * amount.sum() - off) / ((1 - share) * price[k]))
        lines["qty"][own[k]] += max(0, extra)

    def _number(self, lines: _Lines) -> _Lines:
        """Sort by receipt time and give each purchase its serial (fixmedins_bchno)."""
        lines = _take(lines, np.lexsort((lines["prod"], lines["inst"], lines["t"])))
        n = lines["t"].size
        lines["seq"] = np.arange(self.seq, self.seq + n, dtype=np.int64)
        self.seq += n
        return lines

    def _returns(self, m: int, lines: _Lines) -> _Lines:
        """3504 returns of some purchases, received 1–25 days later (dropped if that is after as_of)."""
        rng = self.rng
        candidate = ~lines["gift"] & ~np.isnan(lines["price"])
        if m in self.plan.low_months:  # a return would undo part of the planted off-platform share
            candidate &= ~np.isin(lines["inst"], self.plan.low_platform)
        candidate &= ~self._planted_substitution(m, lines)  # keeps the planted quantities as planted
        picked = np.flatnonzero(candidate & (rng.random(candidate.size) < RETURN_RATE))
        bought = lines["t"][picked] // _SECONDS_PER_DAY
        day = bought + rng.integers(1, 26, picked.size)
        t = day * _SECONDS_PER_DAY + rng.integers(*_WORKDAY, picked.size)
        fraction = rng.uniform(0.1, 1.0, picked.size)
        keep = t <= self.cal.as_of_end
        # A VBP product is returned inside the agreement year it was bought in, so a
        # return never lowers the winning volume of a year its purchase did not count in.
        prod = lines["prod"][picked]
        keep &= (self.cat.vbp_group[prod] < 0) | (self._period_of(prod, bought) == self._period_of(prod, day))
        picked, t, fraction = picked[keep], t[keep], fraction[keep]
        lines["returned"][picked] = True
        returns = _take(lines, picked)
        n = picked.size
        returns.update({
            "kind": np.ones(n, dtype=np.int8), "t": t,
            "qty": np.maximum(1, np.floor(returns["qty"] * fraction)).astype(np.int64),
            "orig_seq": returns["seq"], "orig_t": returns["t"],
            "seq": np.arange(self.seq, self.seq + n, dtype=np.int64),
            "invoice": rng.integers(10**7, 10**8, n),  # the red-letter invoice of the return
        })
        self.seq += n
        return returns

    def _late_lines(self, lines: _Lines) -> _Lines:
        """A few ordinary purchases received after as_of, as in a delivery cut late."""
        rng = self.rng
        source = np.flatnonzero(~lines["gift"] & ~np.isnan(lines["price"]))
        late = _take(lines, np.sort(rng.choice(source, size=min(LATE_LINES, source.size), replace=False)))
        n = late["t"].size
        day = self.cal.as_of_day + rng.integers(1, 11, n)
        late["t"] = np.sort(day * _SECONDS_PER_DAY + rng.integers(*_WORKDAY, n))
        late["returned"] = np.zeros(n, dtype=bool)
        late["seq"] = np.arange(self.seq, self.seq + n, dtype=np.int64)
        self.seq += n
        return late

    def _write(self, m: int, lines: _Lines, invalid: bool) -> None:
        lines = _take(lines, np.lexsort((lines["seq"], lines["inst"], lines["t"])))
        self.tally.add(lines)
        frame = _render(lines, self.inst, self.cat, self.suppliers)
        fmt = self._format(m)
        planted: list[dict] = []
        if invalid:
            if fmt is _JSONL:
                raise ValueError("invalid rows are planted in a CSV file")
            frame, planted = self._insert_invalid(frame, lines)
        messages = _nhsa_messages(frame, lines, self.inst, self.cat) if fmt is _JSONL else None
        rel, first_row = self.files.write(self.cal.months[m], fmt, frame, messages)
        for record in planted:
            record = {"file": rel, **record}
            for key in ("row_number", "duplicate_of_row_number"):
                if key in record:
                    record[key] += first_row
            self.invalid_rows.append(record)
        late = np.flatnonzero(lines["t"] > self.cal.as_of_end)
        if late.size:
            self.late_rows = {"file": rel, "row_numbers": [int(first_row + k) for k in late]}
        self.written += len(frame)
        if self.progress is not None:  # the total is approximate: never report past it
            self.progress("purchases", min(self.written, self.expected_total - 1), self.expected_total)

    def _insert_invalid(self, frame: pd.DataFrame, lines: _Lines) -> tuple[pd.DataFrame, list[dict]]:
        """Five rows the ingest must quarantine, each with a different problem, spread through the block.

        Returned row numbers are 0-based positions in the returned frame; the caller adds the file offset.
        """
        n = len(frame)
        ordinary = (lines["kind"] == 0) & ~lines["gift"] & ~np.isnan(lines["price"]) & ~lines["returned"]
        ordinary &= ~np.isin(lines["inst"], sorted(self.plan.planted_institutions))
        ordinary &= self.cat.vbp_role[lines["prod"]] == 0
        ordinary &= ~np.isin(lines["prod"], [p for _, p, _ in self.plan.above] + [self.plan.spike[1]])
        ordinary &= lines["t"] <= self.cal.as_of_end
        positions = [(k + 1) * n // 6 for k in range(5)]  # insert before these rows of the block
        candidates = np.flatnonzero(ordinary)
        # The duplicate (inserted last) repeats the key of an earlier ordinary line with other content.
        earlier = candidates[candidates < positions[-1]]
        if earlier.size == 0 or candidates.size < 4:
            raise RuntimeError("not enough ordinary purchase lines to plant invalid rows")
        original = int(self.rng.choice(earlier))
        sources = self.rng.choice(candidates, size=4, replace=False)
        unknown_code = "XN02BEB999A099009999999"  # X + 22, made by no manufacturer in the catalogue
        edits = (("unknown_product", {"med_list_codg": unknown_code}),
                 ("negative_quantity", None),
                 ("unparseable_date", {"purc_retn_stoin_time": "2026年5月32日"}),
                 ("missing_fixmedins_code", {"fixmedins_code": ""}))
        rows: list[tuple[str, dict]] = []
        for (problem, edit), source in zip(edits, sources, strict=True):
            row = frame.iloc[int(source)].to_dict()
            day = np.array([lines["t"][source] // _SECONDS_PER_DAY])
            row["fixmedins_bchno"] = str(_serials("CG", day, np.array([self.seq]))[0])  # a fresh key
            self.seq += 1
            if edit is None:
                row["purc_retn_cnt"] = -int(row["purc_retn_cnt"])
            else:
                row.update(edit)
            rows.append((problem, row))
        duplicate = frame.iloc[original].to_dict()
        duplicate["purc_retn_cnt"] = int(duplicate["purc_retn_cnt"]) + 5
        duplicate["finl_trns_pric"] = float(_floor_cents(np.array([duplicate["finl_trns_pric"] * 1.1]))[0])
        rows.append(("duplicate_key_conflict", duplicate))

        pieces, planted, previous = [], [], 0
        for k, (position, (problem, row)) in enumerate(zip(positions, rows, strict=True)):
            pieces += [frame.iloc[previous:position], pd.DataFrame([row], columns=frame.columns)]
            previous = position
            record = {"row_number": position + k, "problem": problem,
                      "fixmedins_code": row["fixmedins_code"], "fixmedins_bchno": row["fixmedins_bchno"]}
            if problem == "duplicate_key_conflict":
                # The original moved down by one for each row inserted before it.
                record["duplicate_of_row_number"] = original + sum(p <= original for p in positions[:k])
            planted.append(record)
        pieces.append(frame.iloc[previous:])
        return pd.concat(pieces, ignore_index=True), planted
