"""Synthetic landing data for demos, tests and benchmarks.

`generate_demo_landing` writes a landing directory shaped like a real delivery
(data-contract.md §1): the six feeds in the formats the contract accepts (XLSX
with a title row and Chinese headers, UTF-8 / UTF-8-with-BOM / GB18030 CSV,
NHSA 3503 JSON Lines), with known problems planted in it, and
`demo_truth.json` saying exactly what was planted, so the published anomalies
and quarantine can be checked against it. Outside the planted cases the data
keep the rules the pipeline checks: prices at or below the listed price, VBP
agreements on track, non-winning VBP volume a small share of the winning one.

All randomness comes from one seeded numpy Generator consumed in a fixed
order, so the same arguments give byte-identical files. Purchases are drawn
month by month in vectorised chunks and streamed to disk: memory is bounded by
the chunk size, not by `purchase_lines`, so the generator scales to tens of
millions of lines.

The data are synthetic. County and district codes are real; institution,
manufacturer and supplier names are generated from patterns, and manufacturer
and supplier names use invented word stems so they do not name real firms.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import IntEnum
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.xml.constants import ARC_CORE
from openpyxl.xml.functions import tostring

from yaocai import demo_money

FEEDS = ("institutions", "products", "listed_prices", "vbp_results", "vbp_agreed_volumes", "purchases")
TRUTH_FILE = "demo_truth.json"

# Purchases run from DATA_START to as_of. The VBP cycles below are fixed
# dates, so as_of must leave the planted lagging agreement (GJ09, 2026) far
# enough into its year for "behind expected progress" to mean something.
DATA_START = date(2025, 7, 1)
EARLIEST_AS_OF = date(2026, 6, 30)
LATEST_AS_OF = date(2027, 6, 30)

PURCHASE_COLUMNS: tuple[str, ...] = (
    "infno", "fixmedins_code", "fixmedins_bchno", "med_list_codg", "fixmedins_hilist_id",
    "fixmedins_hilist_name", "spler_name", "prodentp_name", "aprvno", "manu_lotnum", "manu_date",
    "expy_end", "finl_trns_pric", "purc_retn_cnt", "purc_retn_stoin_time", "purc_invo_no",
    "prod_geay_flag", "medins_prod_purc_no", "platform_order_no",
)
# Chinese labels the contract gives for the purchases feed; the other columns
# have none there and keep their canonical names in the Chinese-header file.
PURCHASE_LABELS_ZH: dict[str, str] = {
    "fixmedins_bchno": "批次流水号",
    "spler_name": "供应商",
    "prodentp_name": "生产厂家",
    "finl_trns_pric": "最终成交单价",
    "purc_retn_cnt": "采购/退货数量",
    "purc_retn_stoin_time": "入库时间",
    "prod_geay_flag": "赠送标志",
    "platform_order_no": "平台订单号",
}
INSTITUTION_LABELS_ZH: dict[str, str] = {
    "fixmedins_code": "定点医药机构编号",
    "fixmedins_name": "定点医药机构名称",
    "admdvs": "医保区划",
    "hosp_lv": "医院等级",
    "ownership": "经济类型",
}
HOSP_LV_ZH = {"1": "一级", "2": "二级", "3": "三级", "9": "未定级"}
OWNERSHIP_ZH = {"public": "公立", "private": "民营"}

# Line-level rates (brief; domain-notes §2: gifts and missing prices occur in 3503 uploads).
RETURN_RATE = 0.015
GIFT_RATE = 0.005
MISSING_PRICE_RATE = 0.003
OFF_PLATFORM_RATE = 0.04  # plus every line of a product not listed on the platform
LATE_LINES = 6  # lines received after as_of, which the pipeline must ignore

CHUNK_LINES = 250_000  # lines drawn and rendered at a time: bounds memory (~0.5 GB) at any volume
MAX_ROWS_PER_FILE = 1_000_000
XLSX_TIMESTAMP = datetime(2026, 1, 1)

_EPOCH = date(1970, 1, 1)
_NEVER = np.int64(10**9)  # a day number later than any real date: "no change", "not a winner"
_SECONDS_PER_DAY = 86_400
_WORKDAY = (8 * 3600, 18 * 3600)  # receipts are booked during working hours

Progress = Callable[[str, int, int], None]


def _day(d: date) -> int:
    return (d - _EPOCH).days


def _date(day: int) -> date:
    return _EPOCH + timedelta(days=int(day))


def _add_months(d: date, months: int) -> date:
    year, month0 = divmod(d.month - 1 + months, 12)
    return date(d.year + year, month0 + 1, 1)


def _floor_cents(x: np.ndarray) -> np.ndarray:
    # Flooring keeps ordinary prices at or below the listed price, so the
    # only lines above it are the planted ones.
    return np.maximum(0.01, np.floor(x * 100.0) / 100.0)


# --------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class _City:
    admdvs: str
    name: str  # without 市
    counties: tuple[tuple[str, str], ...]  # (admdvs, name)


# The four cities of the seed plans with their real county-level divisions.
_CITIES: tuple[_City, ...] = (
    _City("440800", "湛江", (
        ("440802", "赤坎区"), ("440803", "霞山区"), ("440804", "坡头区"), ("440811", "麻章区"),
        ("440823", "遂溪县"), ("440825", "徐闻县"), ("440881", "廉江市"), ("440882", "雷州市"),
        ("440883", "吴川市"))),
    _City("141100", "吕梁", (
        ("141102", "离石区"), ("141121", "文水县"), ("141122", "交城县"), ("141123", "兴县"),
        ("141124", "临县"), ("141125", "柳林县"), ("141126", "石楼县"), ("141127", "岚县"),
        ("141128", "方山县"), ("141129", "中阳县"), ("141130", "交口县"), ("141181", "孝义市"),
        ("141182", "汾阳市"))),
    _City("371000", "威海", (
        ("371002", "环翠区"), ("371003", "文登区"), ("371082", "荣成市"), ("371083", "乳山市"))),
    _City("420200", "黄石", (
        ("420202", "黄石港区"), ("420203", "西塞山区"), ("420204", "下陆区"), ("420205", "铁山区"),
        ("420222", "阳新县"), ("420281", "大冶市"))),
)

_TOWN_HEADS = "石龙新安平长永东西南北河青白金桥马黄高大上下塘沙兴太文福和岭"
_TOWN_TAILS = "岭湾城头口坪山田溪港岗坝圩营店集庄埠洲江湖林冲铺坑园寨源桥滩"
_SURNAMES = "陈李张王刘黄林杨吴赵周徐孙马朱胡郭何高罗郑梁谢宋唐许韩冯邓曹"
_GIVEN_NAMES = (
    "志强", "建华", "秀英", "丽华", "海燕", "国庆", "晓东", "春梅", "文斌", "玉兰", "俊杰", "丽娟",
    "伟东", "红霞", "建军", "桂芳", "明辉", "雪梅", "永刚", "淑珍", "子豪", "思远", "嘉怡", "梓涵",
    "浩然", "雅琴", "立新", "宏伟", "晓燕", "秋菊",
)
_PRIVATE_BRANDS = (
    "仁爱", "博爱", "康宁", "和平", "惠民", "同济", "安康", "华康", "益民", "济民", "民生", "福康",
    "瑞康", "美康", "永康", "广济", "普仁", "康复", "长安", "泰康",
)
_PRIVATE_KINDS = ("医院", "中西医结合医院", "骨科医院", "眼科医院", "妇产医院", "口腔医院")
_CLINIC_KINDS = ("诊所", "西医诊所", "中医诊所", "口腔诊所", "门诊部")
# Invented word stems (not real firms) for manufacturers and suppliers.
_FIRM_PLACES = (
    "北京", "天津", "河北", "山西", "辽宁", "吉林", "上海", "江苏", "浙江", "安徽", "福建", "江西",
    "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川", "贵州", "云南", "陕西",
)
_FIRM_STEMS = (
    "康澜", "华岳", "恒沐", "瑞岑", "同澈", "天衡", "九禾", "博衍", "新禾", "长屿", "德沛", "金桉",
    "百川", "正澜", "海岑", "信桐", "安屿", "益岚", "明澈", "永沐", "普衡", "宏桉", "联禾", "万岳",
    "嘉澜", "济桐", "润岑", "福衍", "泰屿", "仁桐",
)


class _Maker(IntEnum):
    """Kinds of manufacturer: each has its own name pool and 5-digit code range."""
    CHEMICAL = 1
    TCM = 2
    HERBAL = 3
    DEVICE = 4
    IVD = 5


_MAKER_SUFFIXES: dict[_Maker, tuple[str, ...]] = {
    _Maker.CHEMICAL: ("制药有限公司", "药业有限公司", "药业股份有限公司", "制药股份有限公司", "生物制药有限公司"),
    _Maker.TCM: ("中药有限公司", "药业有限公司", "制药厂", "中药股份有限公司"),
    _Maker.HERBAL: ("中药饮片有限公司", "中药饮片厂", "药材有限公司"),
    _Maker.DEVICE: ("医疗器械有限公司", "医疗科技股份有限公司", "医用材料有限公司", "生物医学工程有限公司"),
    _Maker.IVD: ("生物技术有限公司", "诊断技术有限公司", "生物工程股份有限公司"),
}

# Contract category → category group of the indicators (contract §2).
_CATEGORY_GROUPS = {"western": 0, "chinese_patent": 0, "formula_granules": 0, "herbal_pieces": -1,
                    "hvc": 1, "lvc": 2, "ivd": 3}
CATEGORY_GROUP_NAMES = ("drug", "hvc", "lvc", "ivd")


@dataclass(frozen=True)
class _Generic:
    """One procurable variety: generic name + dosage form, with its strengths and pack sizes.

    Pack price = unit_price × packs[0] × pack_base^log2(n / packs[0]) × spec factor,
    spec factor = spec_base^log2(strength / first strength). The bases follow
    发改价格〔2011〕2452号 差比价 rules (content 1.7, fill volume 1.9, pack count
    1.95 for oral solids); 2.0 makes the factor linear, used for consumables
    whose "strength" is simply a relative price.
    """
    name: str
    category: str
    dosage_form: str
    class_code: str  # ATC-like class in X/Z codes, 6-digit classification in C codes; unused in T codes
    specs: tuple[tuple[str, float], ...]
    packs: tuple[int, ...]
    min_unit: str
    pack_unit: str
    unit_price: float  # yuan per minimum unit of the first spec
    weight: float  # relative purchase volume
    spec_base: float = 1.7
    pack_base: float = 2.0
    shelf_months: int = 24
    rx: bool = True

    @property
    def maker(self) -> _Maker:
        return {"western": _Maker.CHEMICAL, "chinese_patent": _Maker.TCM, "formula_granules": _Maker.TCM,
                "herbal_pieces": _Maker.HERBAL, "hvc": _Maker.DEVICE, "lvc": _Maker.DEVICE,
                "ivd": _Maker.IVD}[self.category]


_ORAL = 1.95  # pack-count base for oral solids (2452号)


def _w(name: str, form: str, atc: str, specs: tuple[tuple[str, float], ...], packs: tuple[int, ...],
       unit_price: float, weight: float, *, min_unit: str = "片", pack_unit: str = "盒",
       pack_base: float = _ORAL, spec_base: float = 1.7, rx: bool = True) -> _Generic:
    return _Generic(name, "western", form, atc, specs, packs, min_unit, pack_unit, unit_price, weight,
                    spec_base, pack_base, 24, rx)


_GENERICS: tuple[_Generic, ...] = (
    # 西药: oral solids
    _w("阿托伐他汀钙片", "片剂", "C10AA", (("10mg", 10), ("20mg", 20), ("40mg", 40)), (7, 14, 28), 2.6, 10),
    _w("瑞舒伐他汀钙片", "片剂", "C10AA", (("5mg", 5), ("10mg", 10), ("20mg", 20)), (7, 14, 28), 2.2, 8),
    _w("苯磺酸氨氯地平片", "片剂", "C08CA", (("5mg", 5), ("10mg", 10)), (7, 14, 28), 1.8, 12),
    _w("硝苯地平控释片", "控释片", "C08CA", (("30mg", 30), ("60mg", 60)), (7, 12, 24), 3.2, 6),
    _w("缬沙坦胶囊", "胶囊剂", "C09CA", (("80mg", 80), ("160mg", 160)), (7, 14, 28), 2.0, 5, min_unit="粒"),
    _w("厄贝沙坦片", "片剂", "C09CA", (("75mg", 75), ("150mg", 150)), (7, 14, 28), 1.6, 5),
    _w("盐酸二甲双胍片", "片剂", "A10BA", (("0.25g", 0.25), ("0.5g", 0.5), ("0.85g", 0.85)), (20, 30, 48, 60),
       0.35, 10),
    _w("阿卡波糖片", "片剂", "A10BF", (("50mg", 50), ("100mg", 100)), (30, 60), 1.2, 6),
    _w("格列美脲片", "片剂", "A10BB", (("1mg", 1), ("2mg", 2)), (15, 30), 1.5, 4),
    _w("达格列净片", "片剂", "A10BK", (("5mg", 5), ("10mg", 10)), (7, 14, 28), 4.5, 4),
    _w("头孢呋辛酯片", "片剂", "J01DC", (("0.125g", 0.125), ("0.25g", 0.25)), (6, 12, 24), 2.1, 6),
    _w("阿莫西林胶囊", "胶囊剂", "J01CA", (("0.25g", 0.25), ("0.5g", 0.5)), (24, 36, 50), 0.25, 7, min_unit="粒"),
    _w("盐酸左氧氟沙星片", "片剂", "J01MA", (("0.25g", 0.25), ("0.5g", 0.5)), (4, 6, 10), 2.4, 6),
    _w("阿奇霉素片", "片剂", "J01FA", (("0.25g", 0.25), ("0.5g", 0.5)), (6, 12), 2.8, 5),
    _w("奥美拉唑肠溶胶囊", "肠溶胶囊", "A02BC", (("10mg", 10), ("20mg", 20)), (7, 14, 28), 1.3, 8, min_unit="粒"),
    _w("雷贝拉唑钠肠溶片", "肠溶片", "A02BC", (("10mg", 10), ("20mg", 20)), (7, 14), 3.9, 4),
    _w("硫酸氢氯吡格雷片", "片剂", "B01AC", (("25mg", 25), ("75mg", 75)), (7, 14, 28), 2.4, 7),
    _w("阿司匹林肠溶片", "肠溶片", "B01AC", (("25mg", 25), ("100mg", 100)), (30, 100), 0.12, 8, rx=False),
    _w("恩替卡韦片", "片剂", "J05AF", (("0.5mg", 0.5), ("1mg", 1)), (7, 14, 28), 8.0, 4),
    _w("孟鲁司特钠片", "片剂", "R03DC", (("10mg", 10),), (5, 10), 4.2, 4),
    _w("氯雷他定片", "片剂", "R06AX", (("10mg", 10),), (6, 12), 1.9, 5, rx=False),
    _w("塞来昔布胶囊", "胶囊剂", "M01AH", (("0.2g", 0.2),), (6, 10), 3.8, 4, min_unit="粒"),
    _w("甲钴胺片", "片剂", "B03BA", (("0.5mg", 0.5),), (20, 50), 1.1, 5),
    _w("琥珀酸美托洛尔缓释片", "缓释片", "C07AB", (("23.75mg", 23.75), ("47.5mg", 47.5)), (7, 14), 2.7, 5),
    _w("利伐沙班片", "片剂", "B01AF", (("10mg", 10), ("15mg", 15), ("20mg", 20)), (5, 7, 14), 9.0, 3),
    _w("替格瑞洛片", "片剂", "B01AC", (("90mg", 90),), (14, 28), 6.0, 3),
    _w("奥氮平片", "片剂", "N05AH", (("5mg", 5), ("10mg", 10)), (7, 14, 28), 4.0, 2),
    _w("草酸艾司西酞普兰片", "片剂", "N06AB", (("5mg", 5), ("10mg", 10)), (7, 14), 3.2, 2),
    _w("布洛芬缓释胶囊", "缓释胶囊", "M01AE", (("0.3g", 0.3),), (10, 20), 0.5, 5, min_unit="粒", rx=False),
    # 西药: injections and infusions (pack count is linear for non-oral forms)
    _w("注射用头孢曲松钠", "注射剂", "J01DD", (("0.5g", 0.5), ("1.0g", 1.0), ("2.0g", 2.0)), (1, 10), 6.0, 7,
       min_unit="支", pack_base=2.0),
    _w("注射用头孢呋辛钠", "注射剂", "J01DC", (("0.75g", 0.75), ("1.5g", 1.5)), (1, 10), 5.0, 4,
       min_unit="支", pack_base=2.0),
    _w("注射用奥美拉唑钠", "注射剂", "A02BC", (("40mg", 40),), (1, 10), 9.5, 5, min_unit="支", pack_base=2.0),
    _w("氯化钠注射液", "注射剂", "B05XA", (("100ml:0.9g", 100), ("250ml:2.25g", 250), ("500ml:4.5g", 500)), (1,),
       2.8, 12, min_unit="袋", pack_unit="袋", pack_base=2.0, spec_base=1.9),
    _w("葡萄糖注射液", "注射剂", "B05BA", (("250ml:12.5g", 250), ("500ml:25g", 500)), (1,), 3.0, 7,
       min_unit="袋", pack_unit="袋", pack_base=2.0, spec_base=1.9),
    _w("盐酸利多卡因注射液", "注射剂", "N01BB", (("5ml:0.1g", 5), ("10ml:0.2g", 10)), (5, 10), 0.9, 3,
       min_unit="支", pack_base=2.0, spec_base=1.9),
    _w("丙泊酚乳状注射液", "注射剂", "N01AX", (("10ml:0.1g", 10), ("20ml:0.2g", 20), ("50ml:0.5g", 50)), (1, 5),
       16.0, 3, min_unit="支", pack_base=2.0, spec_base=1.9),
    _w("注射用尿激酶", "注射剂", "B01AD", (("5万单位", 5), ("10万单位", 10), ("25万单位", 25)), (1,), 45.0, 1,
       min_unit="支", pack_base=2.0),
    _w("注射用青霉素钠", "注射剂", "J01CE", (("80万单位", 80), ("160万单位", 160)), (10, 50), 0.35, 4,
       min_unit="支", pack_base=2.0),
    _w("甘精胰岛素注射液", "注射剂", "A10AE", (("3ml:300单位", 1),), (1,), 180.0, 3, min_unit="支", pack_base=2.0),
    _w("地塞米松磷酸钠注射液", "注射剂", "H02AB", (("1ml:2mg", 2), ("1ml:5mg", 5)), (10,), 0.5, 3,
       min_unit="支", pack_base=2.0),
    # 中成药
    _Generic("连花清瘟胶囊", "chinese_patent", "胶囊剂", "A01BA", (("0.35g", 1),), (24, 36, 48), "粒", "盒",
             0.55, 6, pack_base=_ORAL, rx=False),
    _Generic("复方丹参滴丸", "chinese_patent", "滴丸剂", "A12EA", (("27mg", 1),), (150, 180), "粒", "瓶", 0.15, 5,
             pack_base=_ORAL),
    _Generic("银杏叶片", "chinese_patent", "片剂", "A12BA", (("9.6mg", 9.6), ("19.2mg", 19.2)), (24, 48), "片", "盒",
             0.5, 3, pack_base=_ORAL),
    _Generic("板蓝根颗粒", "chinese_patent", "颗粒剂", "A01CA", (("10g", 1),), (20,), "袋", "包", 0.6, 4, rx=False),
    _Generic("藿香正气口服液", "chinese_patent", "合剂", "A06AA", (("10ml", 1),), (5, 10), "支", "盒", 1.2, 3,
             rx=False),
    _Generic("丹红注射液", "chinese_patent", "注射剂", "A12EB", (("10ml", 10), ("20ml", 20)), (1,), "支", "盒",
             38.0, 3, spec_base=1.9),
    _Generic("血塞通软胶囊", "chinese_patent", "软胶囊", "A12BC", (("60mg", 1),), (24,), "粒", "盒", 0.9, 3,
             pack_base=_ORAL),
    _Generic("六味地黄丸", "chinese_patent", "浓缩丸", "A15AA", (("0.18g", 1),), (120, 200), "丸", "瓶", 0.08, 3,
             pack_base=_ORAL, rx=False),
    # 中药饮片 (no 批准文号; sold by weight)
    *(_Generic(name, "herbal_pieces", "饮片", "", specs, (500, 1000), "g", "袋", price, weight,
               spec_base=2.0, rx=False)
      for name, specs, price, weight in (
          ("当归", (("切片", 1.0),), 0.16, 3), ("黄芪", (("切片", 1.0),), 0.09, 3),
          ("党参", (("切段", 1.0),), 0.14, 2), ("甘草", (("切片", 1.0), ("蜜炙", 1.2)), 0.07, 3),
          ("白术", (("麸炒", 1.0),), 0.12, 2), ("茯苓", (("块", 1.0),), 0.06, 2),
          ("枸杞子", (("净制", 1.0),), 0.11, 2), ("川芎", (("切片", 1.0),), 0.10, 2),
          ("金银花", (("净制", 1.0),), 0.45, 1), ("白芍", (("切片", 1.0),), 0.09, 2))),
    # 中药配方颗粒
    *(_Generic(f"{herb}配方颗粒", "formula_granules", "颗粒剂", "", ((f"1g(相当于饮片{eq}g)", 1),), (20,),
               "袋", "盒", price, 2, rx=True)
      for herb, eq, price in (
          ("当归", 5, 1.1), ("黄芪", 6, 0.9), ("党参", 5, 1.0), ("茯苓", 8, 0.8), ("甘草", 6, 0.7))),
    # 高值医用耗材
    _Generic("冠脉药物洗脱支架", "hvc", "", "020101", (("2.5×18mm", 1.0), ("3.0×24mm", 1.0), ("3.5×29mm", 1.05)),
             (1,), "个", "盒", 9800.0, 3, spec_base=2.0, shelf_months=36, rx=False),
    _Generic("冠脉球囊扩张导管", "hvc", "", "020102", (("2.0×15mm", 1.0), ("3.0×20mm", 1.0)), (1,), "个", "盒",
             3200.0, 3, spec_base=2.0, shelf_months=36, rx=False),
    _Generic("人工髋关节", "hvc", "", "030201", (("全髋 陶瓷-陶瓷", 1.4), ("全髋 陶瓷-聚乙烯", 1.0),
                                               ("半髋 双动头", 0.6)), (1,), "套", "盒", 28000.0, 1,
             spec_base=2.0, shelf_months=60, rx=False),
    _Generic("人工膝关节", "hvc", "", "030202", (("初次置换 后稳定型", 1.0), ("初次置换 十字韧带保留型", 0.95)),
             (1,), "套", "盒", 32000.0, 1, spec_base=2.0, shelf_months=60, rx=False),
    _Generic("吻合器", "hvc", "", "050103", (("管型 26mm", 1.0), ("管型 29mm", 1.0), ("直线型 60mm", 0.8)), (1,),
             "个", "盒", 3500.0, 3, spec_base=2.0, shelf_months=36, rx=False),
    _Generic("骨科锁定接骨板", "hvc", "", "030101", (("6孔", 1.0), ("8孔", 1.2)), (1,), "个", "盒", 2600.0, 3,
             spec_base=2.0, shelf_months=60, rx=False),
    _Generic("人工晶体", "hvc", "", "080101", (("单焦点 非球面", 1.0), ("多焦点", 3.0)), (1,), "个", "盒", 2800.0, 2,
             spec_base=2.0, shelf_months=36, rx=False),
    # 低值医用耗材
    _Generic("一次性使用无菌注射器", "lvc", "", "140101", (("1ml", 1.0), ("5ml", 1.2), ("10ml", 1.6)), (100,),
             "支", "盒", 0.35, 8, spec_base=2.0, shelf_months=36, rx=False),
    _Generic("一次性使用输液器", "lvc", "", "140102", (("带针 0.7mm", 1.0),), (100,), "套", "箱", 1.6, 6,
             spec_base=2.0, shelf_months=36, rx=False),
    _Generic("一次性使用静脉留置针", "lvc", "", "140103", (("22G", 1.0), ("24G", 1.0)), (50,), "支", "盒", 6.5, 5,
             spec_base=2.0, shelf_months=36, rx=False),
    _Generic("医用外科口罩", "lvc", "", "140201", (("17.5×9.5cm", 1.0),), (50,), "个", "盒", 0.5, 5,
             spec_base=2.0, shelf_months=24, rx=False),
    _Generic("医用纱布块", "lvc", "", "140301", (("8cm×10cm-8层", 1.0),), (100,), "片", "包", 0.25, 3,
             spec_base=2.0, shelf_months=36, rx=False),
    _Generic("一次性使用导尿包", "lvc", "", "140401", (("双腔 16Fr", 1.0),), (20,), "个", "箱", 18.0, 3,
             spec_base=2.0, shelf_months=36, rx=False),
    # 检验试剂 (reagents keep about a year)
    _Generic("糖化血红蛋白测定试剂盒", "ivd", "", "170101", (("高效液相色谱法", 1.0),), (100,), "人份", "盒", 8.0, 3,
             spec_base=2.0, shelf_months=12, rx=False),
    _Generic("肌钙蛋白I测定试剂盒", "ivd", "", "170102", (("化学发光法", 1.0),), (50, 100), "人份", "盒", 25.0, 2,
             spec_base=2.0, shelf_months=12, rx=False),
    _Generic("乙型肝炎病毒表面抗原检测试剂盒", "ivd", "", "170103", (("胶体金法", 1.0), ("酶联免疫法", 0.8)),
             (40, 96), "人份", "盒", 3.5, 2, spec_base=2.0, shelf_months=12, rx=False),
    _Generic("血糖试纸", "ivd", "", "170104", (("葡萄糖氧化酶法", 1.0),), (25, 50), "条", "盒", 1.6, 3,
             spec_base=2.0, shelf_months=12, rx=False),
    _Generic("新型冠状病毒抗原检测试剂盒", "ivd", "", "170105", (("胶体金法", 1.0),), (1, 20), "人份", "盒", 6.0, 1,
             spec_base=2.0, shelf_months=12, rx=False),
)
_GENERIC_INDEX = {g.name: i for i, g in enumerate(_GENERICS)}


@dataclass(frozen=True)
class _Batch:
    code: str
    name: str
    level: str
    cycle_start: date
    cycle_end: date
    generics: tuple[str, ...]

    def periods(self, as_of: date) -> list[tuple[date, date]]:
        """Agreement years inside the cycle that have begun by as_of (later ones are not signed yet)."""
        out = []
        start = self.cycle_start
        while start <= min(self.cycle_end, as_of):
            end = min(date(start.year + 1, start.month, start.day) - timedelta(days=1), self.cycle_end)
            out.append((start, end))
            start = end + timedelta(days=1)
        return out


# Cycles start on or after DATA_START so every agreement year is fully covered
# by the purchase data (a year starting before the data would look lagging).
_BATCHES: tuple[_Batch, ...] = (
    _Batch("GJ07", "第七批国家组织药品集中采购", "national", date(2025, 7, 1), date(2027, 6, 30),
           ("苯磺酸氨氯地平片", "盐酸二甲双胍片", "头孢呋辛酯片", "注射用头孢曲松钠", "奥美拉唑肠溶胶囊",
            "硫酸氢氯吡格雷片")),
    _Batch("GJ09", "第九批国家组织药品集中采购", "national", date(2026, 1, 1), date(2027, 12, 31),
           ("阿托伐他汀钙片", "瑞舒伐他汀钙片", "盐酸左氧氟沙星片", "恩替卡韦片", "孟鲁司特钠片", "达格列净片")),
    _Batch("SLM03", "省际联盟第三批医用耗材集中带量采购", "alliance", date(2025, 10, 1), date(2027, 9, 30),
           ("冠脉药物洗脱支架", "人工髋关节", "吻合器", "人工膝关节")),
)
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
# (domain-notes §3) caps non-winning volume at the winning volume. A 20% share
# is non-winning ≤ 1/4 of the winning volume, so the rule holds against a
# designated brand too (with at most three winners it has ≥ 1/3 of that volume).
_NONWINNING_SHARE_RANGE = (0.05, 0.20)
_NONWINNING_DEMAND = 2.0  # expected non-winning volume drawn ÷ the institution's ceiling
_FORMULARY_NONWINNER_SHARE = 0.75  # public institution × VBP variety pairs that keep a non-winner
_SUBSTITUTION_BATCHES = ("GJ07", "GJ09")  # drug batches; planted groups avoid the lagging ones
_SUBSTITUTION_FACTOR = (2.0, 3.0)  # planted non-winning ÷ winning quantity, every month of the year
_SUBSTITUTION_MIN_DAYS = 60  # the planted agreement year must be at least this far along at as_of


# --------------------------------------------------------------------------
# Institutions
# --------------------------------------------------------------------------

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
# Packs per line at qty_scale 1 (herbal pieces come in 0.5–1 kg bags, stents one by one).
_BASE_QTY = {"western": 20.0, "chinese_patent": 15.0, "herbal_pieces": 3.0, "formula_granules": 10.0,
             "hvc": 1.0, "lvc": 4.0, "ivd": 4.0}


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


# --------------------------------------------------------------------------
# Catalogue, listed prices and VBP results
# --------------------------------------------------------------------------

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
    """National-code-shaped codes (domain-notes §5); only prefix and length are meaningful."""
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
        for m, s, p in combos:
            strength0, strength = g.specs[0][1], g.specs[s][1]
            n0, n_units = g.packs[0], g.packs[p]
            pack_price = (g.unit_price * n0 * g.pack_base ** math.log2(n_units / n0)
                          * g.spec_base ** math.log2(strength / strength0) * maker_factor[m])
            maker_code = int(g.maker) * 10_000 + int(m)
            long_code = g.category in ("hvc", "lvc", "ivd") and rng.random() < 0.05
            serial = int(rng.integers(1, 10**7)) if long_code else None
            spec_label = g.specs[s][0]
            pack_spec = f"{n_units}{g.min_unit}/{g.pack_unit}"
            rows.append({
                "med_list_codg": _product_code(g, gi + 1, s + 1, p + 1, maker_code, serial),
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
        n_win = int(min(rng.integers(1, 4), len(members) - 1))
        makers_taken: set[str] = set()
        for p in rng.permutation(members):
            maker = frame.at[p, "manufacturer"]
            if len(grp.winners) < n_win and maker not in makers_taken:
                grp.winners.append(int(p))
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


# --------------------------------------------------------------------------
# Who buys what: portfolios and the planted anomalies
# --------------------------------------------------------------------------

@dataclass
class _Calendar:
    months: list[date]
    start_day: np.ndarray  # first day of each month
    end_day: np.ndarray  # last day of each month inside the data window
    as_of: date
    as_of_day: int
    as_of_end: int  # last second of as_of

    def month_of(self, day: np.ndarray) -> np.ndarray:
        """Month index of each day; days after as_of fall in the last month, so callers filter on time first."""
        return np.searchsorted(self.start_day, day, side="right") - 1


def _calendar(as_of: date) -> _Calendar:
    months = []
    m = DATA_START
    while m <= as_of:
        months.append(m)
        m = _add_months(m, 1)
    start = np.array([_day(m) for m in months], dtype=np.int64)
    end = np.array([min(_day(_add_months(m, 1)) - 1, _day(as_of)) for m in months], dtype=np.int64)
    return _Calendar(months, start, end, as_of, _day(as_of), (_day(as_of) + 1) * _SECONDS_PER_DAY - 1)


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
        for m in np.flatnonzero(cal.start_day >= _day(grp.batch.cycle_start)):
            need(int(m), i, grp.winners[0], 1)
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


# --------------------------------------------------------------------------
# Purchase lines: drawing, rendering, writing
# --------------------------------------------------------------------------

# A block of lines as parallel numpy arrays (rendered to text only when written).
_Lines = dict[str, np.ndarray]


def _take(lines: _Lines, index: np.ndarray) -> _Lines:
    return {k: v[index] for k, v in lines.items()}


def _concat(blocks: list[_Lines]) -> _Lines:
    blocks = [b for b in blocks if len(b["t"])]
    if not blocks:
        return {}
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


def _dates(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"))


def _compact_dates(days: np.ndarray) -> np.ndarray:
    return np.strings.replace(_dates(days), "-", "")


def _serials(prefix: str | np.ndarray, days: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Serial numbers shaped prefix + yyyyMMdd + 9-digit sequence (unique because the sequence is)."""
    return np.strings.add(np.strings.add(prefix, _compact_dates(days)), np.strings.zfill(seq.astype(str), 9))


@dataclass(frozen=True)
class _FileFormat:
    suffix: str
    encoding: str
    chinese_headers: bool = False

    @property
    def label(self) -> str:
        if self.suffix == ".jsonl":
            return "jsonl-nhsa"
        return f"csv-{self.encoding}" + ("-chinese-headers" if self.chinese_headers else "")


_CSV = _FileFormat(".csv", "utf-8")
_CSV_BOM = _FileFormat(".csv", "utf-8-sig")
_CSV_GB18030 = _FileFormat(".csv", "gb18030", chinese_headers=True)
_JSONL = _FileFormat(".jsonl", "utf-8")


def _render(lines: _Lines, inst: _Institutions, cat: _Catalogue, suppliers: np.ndarray) -> pd.DataFrame:
    """Text columns of the purchases feed (contract §1) for a block of lines."""
    is_return = lines["kind"] == 1
    prod, who = lines["prod"], lines["inst"]
    day = lines["t"] // _SECONDS_PER_DAY
    stamps = np.strings.replace(np.datetime_as_string(lines["t"].astype("datetime64[s]")), "T", " ")
    manu = _dates(lines["manu_day"])
    own_serial = _serials(np.where(is_return, "TH", "CG"), day, lines["seq"])
    # A purchase's order number is derived from its own date and serial; a return
    # goes through the platform's 退货单 for the same order, so it repeats it.
    order_day = np.where(is_return, lines["orig_t"] // _SECONDS_PER_DAY, day)
    order_seq = np.where(is_return, lines["orig_seq"], lines["seq"])
    order_no = np.strings.add(np.strings.add("PT", inst.province[who].astype(str)),
                              _serials("", order_day, order_seq))
    lot = np.strings.add(np.strings.replace(np.strings.slice(manu, 2, None), "-", ""),
                         np.strings.zfill(lines["lot"].astype(str), 2))
    # 3504 has no 生产批号/批准文号/生产厂家/赠送标志 (domain-notes §5).
    return pd.DataFrame({
        "infno": np.where(is_return, "3504", "3503"),
        "fixmedins_code": inst.code[who],
        "fixmedins_bchno": own_serial,
        "med_list_codg": cat.code[prod],
        "fixmedins_hilist_id": cat.hilist_id[prod],
        "fixmedins_hilist_name": cat.hilist_name[prod],
        "spler_name": suppliers[lines["supplier"]],
        "prodentp_name": np.where(is_return, "", cat.manufacturer[prod]),
        "aprvno": np.where(is_return, "", cat.aprvno[prod]),
        "manu_lotnum": np.where(is_return, "", lot),
        "manu_date": manu,
        "expy_end": _dates(lines["manu_day"] + cat.shelf_days[prod] - 1),
        "finl_trns_pric": lines["price"],
        "purc_retn_cnt": lines["qty"],
        "purc_retn_stoin_time": stamps,
        "purc_invo_no": lines["invoice"].astype(str),
        "prod_geay_flag": np.where(is_return, "", np.where(lines["gift"], "1", "0")),
        "medins_prod_purc_no": np.where(is_return, _serials("CG", order_day, order_seq), ""),
        "platform_order_no": np.where(lines["online"], order_no, ""),
    }, columns=list(PURCHASE_COLUMNS))


def _nhsa_messages(frame: pd.DataFrame, lines: _Lines, inst: _Institutions, cat: _Catalogue) -> Iterator[str]:
    """Whole NHSA 3503/3504 messages, one per line, as a hospital interface would send them."""
    names = inst.name[lines["inst"]]
    operators = inst.operator[lines["inst"]]
    rx = np.where(cat.rx[lines["prod"]], "1", "0")
    omitted_in_3504 = ("prodentp_name", "aprvno", "manu_lotnum", "prod_geay_flag")
    columns = [c for c in PURCHASE_COLUMNS if c not in ("infno", "fixmedins_code")]
    for k, row in enumerate(frame.itertuples(index=False)):
        record = row._asdict()
        purcinfo = {c: record[c] for c in columns}
        price = record["finl_trns_pric"]
        purcinfo["finl_trns_pric"] = None if math.isnan(price) else float(price)
        purcinfo["purc_retn_cnt"] = int(record["purc_retn_cnt"])
        purcinfo["rx_flag"] = str(rx[k])
        purcinfo["purc_retn_opter_name"] = str(operators[k])
        if record["infno"] == "3504":
            for c in omitted_in_3504:
                del purcinfo[c]
        stamp = record["purc_retn_stoin_time"]
        digits = stamp.replace("-", "").replace(" ", "").replace(":", "")
        # msgid = institution code + yyyyMMddHHmmss + 4-digit sequence, as in NHSA messages.
        message = {"infno": record["infno"], "msgid": f"{record['fixmedins_code']}{digits}{k % 10_000:04d}",
                   "inf_time": stamp, "fixmedins_code": record["fixmedins_code"],
                   "fixmedins_name": str(names[k]), "input": {"purcinfo": purcinfo}}
        yield json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n"


class _PurchaseFiles:
    """Monthly delivery files (`2026-05_a.csv`, `_b`… when a month exceeds MAX_ROWS_PER_FILE)."""

    def __init__(self, landing: Path) -> None:
        self._landing = landing
        self._current: tuple[date, str] | None = None  # (month, letter) of the file being filled
        self._rows = 0
        self.counts: dict[str, int] = {}
        self.formats: dict[str, str] = {}

    def write(self, month: date, fmt: _FileFormat, frame: pd.DataFrame,
              messages: Iterator[str] | None) -> tuple[str, int]:
        """Append a block; returns the file's relative path and the block's first 1-based data row."""
        if self._current is None or self._current[0] != month:
            self._current, self._rows = (month, "a"), 0
        elif self._rows + len(frame) > MAX_ROWS_PER_FILE:
            self._current, self._rows = (month, chr(ord(self._current[1]) + 1)), 0
        rel = f"purchases/{month:%Y-%m}_{self._current[1]}{fmt.suffix}"
        first_row = self._rows + 1
        # Appending never repeats the UTF-8 BOM: TextIOWrapper writes it only at position 0.
        with open(self._landing / rel, "a" if self._rows else "w", encoding=fmt.encoding, newline="") as handle:
            if messages is not None:
                handle.writelines(messages)
            else:
                header: list[str] | bool = False
                if self._rows == 0:
                    header = [PURCHASE_LABELS_ZH.get(c, c) if fmt.chinese_headers else c for c in frame.columns]
                frame.to_csv(handle, header=header, index=False, lineterminator="\n")
        self._rows += len(frame)
        self.counts[rel] = self._rows
        self.formats[rel] = fmt.label
        return rel, first_row


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
        names, base = [], []
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


# --------------------------------------------------------------------------
# Agreed volumes (set from what was bought, so only the planted ones lag)
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Truth about the planted price and platform anomalies
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Reference feeds
# --------------------------------------------------------------------------

def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def _write_institutions_xlsx(frame: pd.DataFrame, path: Path, as_of: date) -> None:
    """The register as a bureau exports it: a title row, then Chinese headers and Chinese coded values."""
    wb = Workbook()
    ws = wb.active
    ws.title = "定点医疗机构"
    cities = "、".join(f"{c.name}市" for c in _CITIES)
    ws.append([f"定点医疗机构名单（{cities}，截至{as_of.year}年{as_of.month}月{as_of.day}日）"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(frame.columns))
    ws.append([INSTITUTION_LABELS_ZH[c] for c in frame.columns])
    for code, name, admdvs, level, ownership in frame.itertuples(index=False):
        ws.append([code, name, admdvs, HOSP_LV_ZH[level], OWNERSHIP_ZH[ownership]])  # admdvs stays text
    wb.properties.creator = "yaocai demo_data"
    buffer = io.BytesIO()
    wb.save(buffer)
    # openpyxl stamps the document's modified time and every zip entry with the
    # current time on save; rewrite both with a fixed time for byte-identical output.
    wb.properties.created = wb.properties.modified = XLSX_TIMESTAMP
    core_properties = tostring(wb.properties.to_tree())
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=XLSX_TIMESTAMP.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            content = core_properties if entry.filename == ARC_CORE else source.read(entry.filename)
            target.writestr(fixed, content)


# --------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------

def _default_counts(purchase_lines: int) -> tuple[int, int]:
    """Institutions and products grow gently with volume (~120/400 at 40k lines, ≥3,000/20,000 at 20M)."""
    ratio = purchase_lines / 40_000
    institutions = max(40, round(120 * ratio ** 0.53))
    products = max(int(_min_products_per_generic().sum()), round(400 * ratio ** 0.65))
    return institutions, products


def generate_demo_landing(landing_dir: Path, *, seed: int = 20241123, purchase_lines: int = 40_000,
                          as_of: date = date(2026, 10, 31), institutions: int | None = None,
                          products: int | None = None, progress: Progress | None = None) -> dict:
    """Write a synthetic landing directory (contract §1) and return the truth about what it contains.

    `purchase_lines` is the approximate number of purchase + return lines; the
    institution and product counts default to values that grow with it. The
    truth dict is also written to `landing_dir/demo_truth.json`. Raises
    FileExistsError if a feed folder already holds files, so a stale delivery is
    never mixed with a new one.
    """
    if not EARLIEST_AS_OF <= as_of <= LATEST_AS_OF:
        raise ValueError(f"as_of must be between {EARLIEST_AS_OF} and {LATEST_AS_OF}")
    if purchase_lines < 1_000:
        raise ValueError("purchase_lines must be at least 1000")
    default_institutions, default_products = _default_counts(purchase_lines)
    n_institutions = institutions if institutions is not None else default_institutions
    n_products = products if products is not None else default_products
    if n_institutions < 30:
        raise ValueError("institutions must be at least 30")
    if n_products < int(_min_products_per_generic().sum()):
        raise ValueError(f"products must be at least {int(_min_products_per_generic().sum())}")

    landing = Path(landing_dir)
    for feed in FEEDS:
        folder = landing / feed
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty")
        folder.mkdir(parents=True, exist_ok=True)

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    rng = np.random.default_rng(seed)
    cal = _calendar(as_of)
    inst = _build_institutions(n_institutions, rng)
    cat = _build_catalogue(n_products, rng, as_of)
    plan, needed_pairs = _plan_anomalies(inst, cat, cal, rng)
    portfolio = _build_portfolio(inst, cat, rng, needed_pairs)
    _force_lines(plan, portfolio, cat, cal)

    institutions_file = "institutions/institutions.xlsx"
    _write_institutions_xlsx(inst.frame, landing / institutions_file, as_of)
    counts = {institutions_file: len(inst.frame)}
    formats = {institutions_file: "xlsx-title-row-chinese-headers"}
    reference = {
        "products/products.csv": cat.frame,
        "listed_prices/listed_prices.csv": _listed_price_frame(cat),
        "vbp_results/vbp_results.csv": _vbp_results_frame(cat),
    }
    for rel, frame in reference.items():
        _write_csv(frame, landing / rel)
        counts[rel] = len(frame)
        formats[rel] = "csv-utf-8"
    report("reference", 1, 1)

    files = _PurchaseFiles(landing)
    tally = _Tally(inst, cat, cal, plan)
    generator = _PurchaseGenerator(rng, inst, cat, portfolio, plan, cal, files, tally,
                                   target_purchases=round(purchase_lines / (1 + RETURN_RATE)),
                                   progress=progress, expected_total=purchase_lines)
    generator.run()
    report("purchases", purchase_lines, purchase_lines)

    agreements, lagging, substitution = _agreed_volumes(rng, inst, cat, cal, tally, plan)
    _write_csv(agreements, landing / "vbp_agreed_volumes/vbp_agreed_volumes.csv")
    counts["vbp_agreed_volumes/vbp_agreed_volumes.csv"] = len(agreements)
    formats["vbp_agreed_volumes/vbp_agreed_volumes.csv"] = "csv-utf-8"
    report("agreed_volumes", 1, 1)
    counts.update(files.counts)
    formats.update(files.formats)

    above, spike = _price_truth(inst, cat, cal, tally, plan)
    truth = {
        "as_of": as_of.isoformat(),
        "seed": seed,
        "purchase_lines_requested": purchase_lines,
        "data_start": DATA_START.isoformat(),
        "institutions": len(inst.frame),
        "public_institutions": int(inst.public.sum()),
        "products": len(cat.frame),
        "counts": counts,
        "formats": formats,
        "summary": tally.summary,
        "above_listed": above,
        "price_spike": spike,
        "vbp_lagging": lagging,
        "vbp_nonwinning_substitution": substitution,
        "low_platform_ratio": _platform_truth(inst, cal, tally, plan),
        "invalid_rows": generator.invalid_rows,
        "after_as_of": generator.late_rows,
    }
    demo_money.add_payment_standards(landing, truth, inst.frame["admdvs"], as_of, DATA_START)  # issue 16
    (landing / TRUTH_FILE).write_text(json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return truth
