"""The register of designated institutions (定点医疗机构): tiers, names, codes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pandas as pd

from yaocai_demo.reference import (
    _CITIES,
    _CLINIC_KINDS,
    _GIVEN_NAMES,
    _PRIVATE_BRANDS,
    _PRIVATE_KINDS,
    _SURNAMES,
    _TOWN_HEADS,
    _TOWN_TAILS,
)


class _Tier(IntEnum):
    CITY_HOSPITAL = 0  # public, 三级
    COUNTY_HOSPITAL = 1  # public, 二级
    PRIMARY = 2  # public 卫生院 / 社区卫生服务中心, 一级 or 未定级
    PRIVATE_HOSPITAL = 3
    CLINIC = 4  # private, 未定级


_ALL_CATEGORIES = ("western", "chinese_patent", "herbal_pieces", "formula_granules", "hvc", "lvc", "ivd")


@dataclass(frozen=True)
class _TierSpec:
    public: bool
    categories: tuple[str, ...]
    portfolio_share: float  # share of the eligible catalogue the institution buys
    min_portfolio: int
    line_rate: float  # relative purchase lines per product and month
    qty_scale: float  # relative packs per line


_TIERS: dict[_Tier, _TierSpec] = {
    _Tier.CITY_HOSPITAL: _TierSpec(True, _ALL_CATEGORIES, 0.35, 60, 3.0, 3.0),
    _Tier.COUNTY_HOSPITAL: _TierSpec(True, _ALL_CATEGORIES, 0.20, 40, 2.0, 1.8),
    _Tier.PRIMARY: _TierSpec(True, ("western", "chinese_patent", "herbal_pieces", "formula_granules", "lvc", "ivd"),
                             0.08, 15, 1.0, 0.7),
    _Tier.PRIVATE_HOSPITAL: _TierSpec(False, _ALL_CATEGORIES, 0.08, 15, 1.0, 0.8),
    _Tier.CLINIC: _TierSpec(False, ("western", "chinese_patent", "lvc"), 0.03, 8, 0.6, 0.3),
}


@dataclass
class _Institutions:
    frame: pd.DataFrame  # the feed, canonical columns and codes, sorted by code
    code: np.ndarray
    name: np.ndarray
    tier: np.ndarray
    public: np.ndarray
    city: np.ndarray  # index into _CITIES
    province: np.ndarray  # first two digits of admdvs
    operator: np.ndarray  # 经办人, for the NHSA messages


def _cn_number(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + ("" if ones == 0 else digits[ones])


class _Namer:
    """Unique, plausible institution names per county."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._used: set[str] = set()
        self._towns: dict[str, list[str]] = {}

    def _unique(self, candidates: Sequence[str]) -> str:
        for name in candidates:
            if name not in self._used:
                self._used.add(name)
                return name
        base = candidates[-1]
        k = 2
        while f"{base}{_cn_number(k)}分院" in self._used:
            k += 1
        name = f"{base}{_cn_number(k)}分院"
        self._used.add(name)
        return name

    def town(self, county: str) -> str:
        towns = self._towns.get(county)
        if towns is None:
            pairs = [h + t for h in _TOWN_HEADS for t in _TOWN_TAILS if h != t]
            towns = [pairs[i] for i in self._rng.permutation(len(pairs))]
            self._towns[county] = towns
        return towns.pop()

    def city_hospital(self, city: str) -> str:
        fixed = [f"{city}市{s}" for s in ("第一人民医院", "中心人民医院", "中医院", "妇幼保健院", "第二人民医院",
                                          "第三人民医院", "传染病医院", "肿瘤医院")]
        return self._unique(fixed + [f"{city}市第{_cn_number(k)}人民医院" for k in range(4, 60)])

    def county_hospital(self, county: str) -> str:
        fixed = [f"{county}{s}" for s in ("人民医院", "中医院", "妇幼保健院", "第二人民医院", "中西医结合医院",
                                          "第三人民医院")]
        for name in fixed:
            if name not in self._used:
                return self._unique([name])
        return self._unique([f"{county}{self.town(county)}中心卫生院"])

    def primary(self, county: str, unrated: bool) -> str:
        town = self.town(county)
        if unrated:
            return self._unique([f"{county}{town}社区卫生服务站"])
        kind = "街道社区卫生服务中心" if county.endswith("区") else "镇卫生院"
        return self._unique([f"{county}{town}{kind}"])

    def private_hospital(self, county: str) -> str:
        rng = self._rng
        options = [f"{county}{_PRIVATE_BRANDS[rng.integers(len(_PRIVATE_BRANDS))]}"
                   f"{_PRIVATE_KINDS[rng.integers(len(_PRIVATE_KINDS))]}" for _ in range(20)]
        return self._unique(options)

    def clinic(self, county: str) -> str:
        options = [f"{county}{self.person()}{_CLINIC_KINDS[self._rng.integers(len(_CLINIC_KINDS))]}"
                   for _ in range(20)]
        return self._unique(options)

    def person(self) -> str:
        rng = self._rng
        return _SURNAMES[rng.integers(len(_SURNAMES))] + _GIVEN_NAMES[rng.integers(len(_GIVEN_NAMES))]


def _tier_counts(n: int) -> dict[_Tier, int]:
    city = int(np.clip(round(0.03 * n), len(_CITIES), 60))
    county = round(0.15 * n)
    primary = round(0.38 * n)
    private = n - city - county - primary
    private_hospitals = round(0.3 * private)
    return {_Tier.CITY_HOSPITAL: city, _Tier.COUNTY_HOSPITAL: county, _Tier.PRIMARY: primary,
            _Tier.PRIVATE_HOSPITAL: private_hospitals, _Tier.CLINIC: private - private_hospitals}


def _build_institutions(n: int, rng: np.random.Generator) -> _Institutions:
    namer = _Namer(rng)
    counties = [(ci, code, name) for ci, city in enumerate(_CITIES) for code, name in city.counties]
    # Rural counties have more 卫生院 and clinics than urban districts.
    weights = np.array([1.0 if name.endswith("区") else 1.6 for _, _, name in counties])
    weights /= weights.sum()
    records: list[tuple[int, str, str, str, str, int]] = []  # (city, admdvs, name, hosp_lv, ownership, tier)
    counts = _tier_counts(n)

    for k in range(counts[_Tier.CITY_HOSPITAL]):
        ci = k % len(_CITIES)
        districts = [c for c in _CITIES[ci].counties if c[1].endswith("区")]
        code, _ = districts[(k // len(_CITIES)) % len(districts)]
        records.append((ci, code, namer.city_hospital(_CITIES[ci].name), "3", "public", _Tier.CITY_HOSPITAL))
    order = rng.permutation(len(counties))
    for k in range(counts[_Tier.COUNTY_HOSPITAL]):
        ci, code, name = counties[order[k % len(counties)]]
        records.append((ci, code, namer.county_hospital(name), "2", "public", _Tier.COUNTY_HOSPITAL))
    for tier in (_Tier.PRIMARY, _Tier.PRIVATE_HOSPITAL, _Tier.CLINIC):
        for pick in rng.choice(len(counties), size=counts[tier], p=weights):
            ci, code, name = counties[pick]
            if tier == _Tier.PRIMARY:
                unrated = bool(rng.random() < 0.15)
                records.append((ci, code, namer.primary(name, unrated), "9" if unrated else "1", "public", tier))
            elif tier == _Tier.PRIVATE_HOSPITAL:
                level = "2" if rng.random() < 0.3 else "1"
                records.append((ci, code, namer.private_hospital(name), level, "private", tier))
            else:
                records.append((ci, code, namer.clinic(name), "9", "private", tier))

    # Codes: H + county + a 5-digit serial with gaps, as registers number institutions over time.
    serial: dict[str, int] = {}
    codes = []
    for _, admdvs, *_ in records:
        serial[admdvs] = serial.get(admdvs, int(rng.integers(1, 20))) + int(rng.integers(1, 6))
        codes.append(f"H{admdvs}{serial[admdvs]:05d}")
    order = np.argsort(np.array(codes), kind="stable")
    frame = pd.DataFrame({
        "fixmedins_code": [codes[i] for i in order],
        "fixmedins_name": [records[i][2] for i in order],
        "admdvs": [records[i][1] for i in order],
        "hosp_lv": [records[i][3] for i in order],
        "ownership": [records[i][4] for i in order],
    })
    return _Institutions(
        frame=frame,
        code=frame["fixmedins_code"].to_numpy(dtype=object),
        name=frame["fixmedins_name"].to_numpy(dtype=object),
        tier=np.array([records[i][5] for i in order], dtype=np.int8),
        public=(frame["ownership"] == "public").to_numpy(),
        city=np.array([records[i][0] for i in order], dtype=np.int32),
        province=frame["admdvs"].str[:2].to_numpy(dtype=object),
        operator=np.array([namer.person() for _ in order], dtype=object),
    )
