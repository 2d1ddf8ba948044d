"""Reference data: the seed plans' cities with their real county divisions, name pools,
manufacturer kinds, the generics (varieties) on sale and the VBP batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum


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
# Packs per line at an institution tier's qty_scale 1 (herbal pieces come in 0.5–1 kg bags, stents one by one).
_BASE_QTY = {"western": 20.0, "chinese_patent": 15.0, "herbal_pieces": 3.0, "formula_granules": 10.0,
             "hvc": 1.0, "lvc": 4.0, "ivd": 4.0}


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
