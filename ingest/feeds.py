"""The feeds of the data contract (docs/data-contract.md §1), as data.

Each feed is one sub-folder of the landing directory. A column has its
canonical name, the header labels it may arrive under (Chinese labels from
the contract's brackets and the NHSA 3503/3504 field names), a type that says
how text is normalised, and whether it is required. Loading code is generic
over these specs; nothing feed-specific is hidden elsewhere except the
cross-row checks in ``ingest.checks``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(str, Enum):
    TEXT = "text"            # trimmed text; empty -> NULL
    CODE = "code"            # identifier: trimmed, upper-cased, no inner blanks
    DIGITS = "digits"        # numeric code kept as text (admdvs)
    DECIMAL = "decimal"      # money / quantities: DECIMAL(18,6)
    DOUBLE = "double"        # ratios such as convrat
    DATE = "date"
    TIMESTAMP = "timestamp"
    ENUM = "enum"            # coded value; Chinese names map to codes


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = Kind.TEXT
    required: bool = False
    labels: tuple[str, ...] = ()
    # ENUM only: accepted spelling (lower-cased) -> canonical code
    values: dict[str, str] = field(default_factory=dict)
    default: str | None = None


@dataclass(frozen=True)
class Feed:
    name: str
    title: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _enum(pairs: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """{code: (aliases…)} -> {spelling: code}; the code itself is accepted too."""
    mapping: dict[str, str] = {}
    for code, aliases in pairs.items():
        for spelling in (code, *aliases):
            mapping[spelling.lower()] = code
    return mapping


# {code: (Chinese names…)}: the first name is the one registers print.
HOSP_LV_NAMES = {"1": ("一级", "一级医院"), "2": ("二级", "二级医院"), "3": ("三级", "三级医院"),
                 "9": ("未定级", "其他", "无等级")}
OWNERSHIP_NAMES = {"public": ("公立", "公立医院", "公办"), "private": ("民营", "私立", "民营医院", "非公立")}
HOSP_LV = _enum(HOSP_LV_NAMES)
OWNERSHIP = _enum(OWNERSHIP_NAMES)
CATEGORY = _enum({
    "western": ("西药", "化学药品", "化学药"),
    "chinese_patent": ("中成药",),
    "herbal_pieces": ("中药饮片", "饮片"),
    "formula_granules": ("配方颗粒", "中药配方颗粒"),
    "hvc": ("高值医用耗材", "高值耗材"),
    "lvc": ("低值医用耗材", "低值耗材"),
    "ivd": ("检验试剂", "体外诊断试剂"),
})
YES_NO = _enum({"1": ("是", "y", "yes", "true", "挂网"), "0": ("否", "n", "no", "false", "未挂网")})
INFNO = _enum({"3503": ("采购", "商品采购"), "3504": ("退货", "商品采购退货")})
BATCH_LEVEL = _enum({"national": ("国家", "国家集采"), "alliance": ("联盟", "省际联盟"),
                     "provincial": ("省级", "省"), "city": ("市级", "市")})

C = Column
K = Kind

INSTITUTIONS = Feed(
    "institutions", "定点医疗机构",
    (
        C("fixmedins_code", K.CODE, True, ("定点医药机构编号", "机构编码", "医疗机构编码")),
        C("fixmedins_name", K.TEXT, True, ("定点医药机构名称", "机构名称", "医疗机构名称")),
        C("admdvs", K.DIGITS, True, ("医保区划", "行政区划", "医保区划代码")),
        C("hosp_lv", K.ENUM, True, ("医院等级", "机构等级"), HOSP_LV),
        C("ownership", K.ENUM, True, ("经济类型", "所有制"), OWNERSHIP),
    ),
    key=("fixmedins_code",),
)

PRODUCTS = Feed(
    "products", "药品耗材目录",
    (
        C("med_list_codg", K.CODE, True, ("医保目录编码", "医疗目录编码", "国家医保编码")),
        C("category", K.ENUM, True, ("类别", "目录类别"), CATEGORY),
        C("generic_name", K.TEXT, True, ("通用名", "通用名称", "注册名称")),
        C("dosage_form", K.TEXT, False, ("剂型",)),
        C("spec", K.TEXT, False, ("规格",)),
        C("pack_spec", K.TEXT, False, ("包装规格",)),
        C("convrat", K.DOUBLE, True, ("转换比",)),
        C("min_unit", K.TEXT, False, ("最小单位", "最小使用单位")),
        C("pack_unit", K.TEXT, False, ("包装单位",)),
        C("manufacturer", K.TEXT, True, ("生产企业", "生产厂家")),
        C("aprvno", K.TEXT, False, ("批准文号/注册证号", "批准文号", "注册证号")),
        C("platform_listed", K.ENUM, True, ("是否挂网",), YES_NO),
    ),
    key=("med_list_codg",),
)

LISTED_PRICES = Feed(
    "listed_prices", "挂网价",
    (
        C("med_list_codg", K.CODE, True, ("医保目录编码", "医疗目录编码")),
        C("listed_price", K.DECIMAL, True, ("挂网价", "挂网价格", "最小包装挂网价")),
        C("valid_from", K.DATE, True, ("生效日期", "开始日期")),
        C("valid_to", K.DATE, False, ("失效日期", "结束日期")),
    ),
    key=("med_list_codg", "valid_from"),
)

VBP_RESULTS = Feed(
    "vbp_results", "集采中选结果",
    (
        C("batch_code", K.CODE, True, ("批次编码",)),
        C("batch_name", K.TEXT, False, ("批次名称",)),
        C("batch_level", K.ENUM, False, ("批次级别", "集采级别"), BATCH_LEVEL),
        C("group_code", K.CODE, True, ("品种编码",)),
        C("generic_name", K.TEXT, True, ("通用名", "通用名称")),
        C("dosage_form", K.TEXT, False, ("剂型",)),
        C("med_list_codg", K.CODE, True, ("医保目录编码", "中选产品编码")),
        C("manufacturer", K.TEXT, False, ("生产企业", "中选企业")),
        C("winning_price", K.DECIMAL, True, ("中选价", "中选价格")),
        C("cycle_start", K.DATE, True, ("采购周期开始", "周期开始日期")),
        C("cycle_end", K.DATE, True, ("采购周期结束", "周期结束日期")),
    ),
    key=("batch_code", "group_code", "med_list_codg"),
)

VBP_AGREED_VOLUMES = Feed(
    "vbp_agreed_volumes", "约定采购量",
    (
        C("batch_code", K.CODE, True, ("批次编码",)),
        C("group_code", K.CODE, True, ("品种编码",)),
        C("fixmedins_code", K.CODE, True, ("定点医药机构编号", "机构编码")),
        C("period_start", K.DATE, True, ("协议期开始", "执行开始日期")),
        C("period_end", K.DATE, True, ("协议期结束", "执行结束日期")),
        C("agreed_qty", K.DECIMAL, True, ("约定采购量",)),
        C("designated_med_list_codg", K.CODE, False, ("报量产品编码", "指定产品编码")),
    ),
    key=("batch_code", "group_code", "fixmedins_code", "period_start"),
)

PURCHASES = Feed(
    "purchases", "采购与退货明细 (3503/3504)",
    (
        C("infno", K.ENUM, True, ("交易编号", "接口编号"), INFNO),
        C("fixmedins_code", K.CODE, True, ("定点医药机构编号", "机构编码")),
        C("fixmedins_bchno", K.CODE, True, ("批次流水号", "定点医药机构批次流水号")),
        C("med_list_codg", K.CODE, True, ("医保目录编码", "医疗目录编码")),
        C("fixmedins_hilist_id", K.TEXT, False, ("定点医药机构目录编号",)),
        C("fixmedins_hilist_name", K.TEXT, False, ("定点医药机构目录名称",)),
        C("spler_name", K.TEXT, False, ("供应商", "供应商名称")),
        C("prodentp_name", K.TEXT, False, ("生产厂家", "生产厂家名称", "prdr_name")),
        C("aprvno", K.TEXT, False, ("批准文号",)),
        C("manu_lotnum", K.TEXT, False, ("生产批号",)),
        C("manu_date", K.DATE, False, ("生产日期",)),
        C("expy_end", K.DATE, False, ("有效期止",)),
        C("finl_trns_pric", K.DECIMAL, False, ("最终成交单价",)),
        C("purc_retn_cnt", K.DECIMAL, True, ("采购/退货数量", "采购数量", "退货数量")),
        C("purc_retn_stoin_time", K.TIMESTAMP, True, ("入库时间", "采购/退货入库时间")),
        C("purc_invo_no", K.TEXT, False, ("采购发票号", "发票号")),
        C("prod_geay_flag", K.ENUM, False, ("赠送标志", "商品赠送标志"), YES_NO, default="0"),
        C("medins_prod_purc_no", K.CODE, False, ("商品采购流水号",)),
        C("platform_order_no", K.CODE, False, ("平台订单号",)),
    ),
    key=("fixmedins_code", "fixmedins_bchno"),
)

# Payment standards (医保支付标准) per generic group, issue 16 part 4; shapes
# in docs/money-and-enforcement.md. admdvs is the city (e.g. 371000) or, for
# a province-wide standard, the province code (e.g. 370000). payment_standard
# is per minimum unit (片/粒/支); left empty for a VBP group it defaults to
# the winning price (威海 and 黄石 plans: 医保支付标准与集中采购价格协同).
PAYMENT_STANDARDS = Feed(
    "payment_standards", "医保支付标准",
    (
        C("standard_group", K.CODE, True, ("支付标准分组编码", "分组编码")),
        C("generic_name", K.TEXT, True, ("通用名", "通用名称")),
        C("dosage_form", K.TEXT, False, ("剂型",)),
        C("admdvs", K.DIGITS, True, ("医保区划", "统筹区", "医保区划代码")),
        C("payment_standard", K.DECIMAL, False, ("支付标准", "支付标准（元/最小单位）", "最小单位支付标准")),
        C("valid_from", K.DATE, True, ("生效日期", "开始日期")),
        C("valid_to", K.DATE, False, ("失效日期", "结束日期")),
    ),
    key=("standard_group", "admdvs", "valid_from"),
)

# Load order matters: purchases and agreed volumes are checked against the
# institutions and products already in the lake.
FEEDS: tuple[Feed, ...] = (INSTITUTIONS, PRODUCTS, LISTED_PRICES, VBP_RESULTS, VBP_AGREED_VOLUMES, PURCHASES,
                           PAYMENT_STANDARDS)
FEEDS_BY_NAME = {f.name: f for f in FEEDS}


def header_index(feed: Feed) -> dict[str, str]:
    """Every accepted header spelling (normalised) -> canonical column name."""
    index: dict[str, str] = {}
    for column in feed.columns:
        for spelling in (column.name, *column.labels):
            index[normalise_header(spelling)] = column.name
    return index


def normalise_header(text: str) -> str:
    """Compare headers ignoring case, blanks, BOM, asterisks marking required
    columns and any bracketed Chinese/English label after the name."""
    cleaned = str(text).replace("\ufeff", "").strip().strip("*").strip()
    for bracket in ("[", "（", "("):
        # "fixmedins_code [定点医药机构编号]" -> "fixmedins_code"
        head = cleaned.split(bracket, 1)[0].strip()
        if head and bracket in cleaned and head != cleaned:
            cleaned = head
    return "".join(cleaned.split()).lower()
