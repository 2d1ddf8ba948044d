"""The provincial procurement platform's API records, as feed specs.

The platform (招采子系统 / TPS) is pulled over HTTP by ``ingest.platform_client``
and landed by ``ingest.platform_loader`` into one lake table per endpoint.
Each endpoint is described like a landing feed (``ingest.feeds.Feed``): the
canonical column names used in the lake, the field names the platform sends
(as labels, compared ignoring case), the type and whether it is required.
Field names follow the shapes platforms publish (docs/domain-notes.md §6):

- orders: the Tianjin TPS hospital order view (``HosOrderShpRetCheck``), one
  record per order line (``orderDetailList`` flattened with its header);
- deliveries: the settlement-chain shipment order (``tpOrderNo``,
  ``shipmentAmount``, ``sendOutAt``, ``receiveAt``, ``confirmAt`` = 入库, invoice
  fields);
- payments: the settlement-chain pay order (``payAt``, ``payStatus``);
- catalogue: the Guangdong TPS listing publicity data (``minPacPubonlnPric``,
  ``pubonlnTime``, ``stopPubonln``) with the VBP export keys (``ybbm``,
  ``genname``, ``dosform``, ``pac``, ``enterprise_name``) (docs/domain-notes.md §4, §6).

Every record carries ``updatetime``/``updateTime``: the incremental watermark of
its endpoint (records are requested with ``starttime`` ≥ the watermark).
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.feeds import Column as C
from ingest.feeds import Feed
from ingest.feeds import Kind as K


@dataclass(frozen=True)
class Endpoint:
    name: str            # short name used in URLs, logs and the watermark table
    path: str            # path below the platform's base URL
    feed: Feed           # lake table = feed.name; natural key = feed.key (one column)
    updated_column: str  # canonical column holding the record's last update time

    @property
    def table(self) -> str:
        return self.feed.name

    @property
    def key_column(self) -> str:
        return self.feed.key[0]


PLATFORM_ORDERS = Feed(
    "platform_orders", "平台订单明细",
    (
        C("order_detail_id", K.CODE, True, ("ordorderdetailid", "订单明细编号")),
        C("order_no", K.CODE, True, ("ordorderno", "平台订单号", "订单编号")),
        C("fixmedins_code", K.CODE, True, ("hospitalcode", "医疗机构编码")),
        C("fixmedins_name", K.TEXT, False, ("hospitalname", "医疗机构名称")),
        C("supplier_name", K.TEXT, True, ("entname", "配送企业")),
        C("med_list_codg", K.CODE, True, ("ybbm", "医保编码")),
        C("product_name", K.TEXT, False, ("pruductname", "productname", "产品名称")),
        C("dosage_form", K.TEXT, False, ("medpreparation", "剂型")),
        C("spec", K.TEXT, False, ("medtypespec", "规格")),
        C("pack_spec", K.TEXT, False, ("packagspecifications", "包装")),
        C("manufacturer", K.TEXT, False, ("productiveentname", "生产企业")),
        C("aprvno", K.TEXT, False, ("approvedno", "批准文号")),
        C("unit", K.TEXT, False, ("unit", "单位")),
        C("order_qty", K.DECIMAL, True, ("purquantity", "采购数量")),
        C("order_price", K.DECIMAL, True, ("purprice", "采购价格")),
        C("delivered_qty", K.DECIMAL, False, ("quantityfeedback", "配送数量")),
        C("order_time", K.TIMESTAMP, True, ("createtime", "下单时间")),
        C("order_status", K.TEXT, False, ("ordorderstatus", "订单状态")),
        C("updated_at", K.TIMESTAMP, True, ("updatetime", "更新时间")),
    ),
    key=("order_detail_id",),
)

PLATFORM_DELIVERIES = Feed(
    "platform_deliveries", "平台配送单（发货/入库）",
    (
        C("shipment_id", K.CODE, True, ("shipmentId", "配送单号")),
        C("order_no", K.CODE, True, ("tpOrderNo", "平台订单号")),
        C("order_detail_id", K.CODE, True, ("orderDetailId", "订单明细编号")),
        C("fixmedins_code", K.CODE, True, ("hospitalCode", "医疗机构编码")),
        C("supplier_name", K.TEXT, False, ("companyNamePs", "配送企业")),
        C("med_list_codg", K.CODE, False, ("ybbm", "医保编码")),
        C("shipped_qty", K.DECIMAL, True, ("shipmentAmount", "配送数量")),
        C("send_out_at", K.TIMESTAMP, True, ("sendOutAt", "发货时间")),
        C("receive_at", K.TIMESTAMP, False, ("receiveAt", "收货时间")),
        C("confirm_at", K.TIMESTAMP, False, ("confirmAt", "入库确认时间")),
        C("shipment_status", K.TEXT, False, ("shipmentStatus", "配送状态")),
        C("invoice_no", K.TEXT, False, ("invoiceNo", "发票号")),
        C("invoice_code", K.TEXT, False, ("invoiceCode", "发票代码")),
        C("invoice_date", K.DATE, False, ("invoiceDate", "开票日期")),
        C("invoice_total", K.DECIMAL, False, ("invoiceTotal", "发票金额")),
        C("updated_at", K.TIMESTAMP, True, ("updateTime", "更新时间")),
    ),
    key=("shipment_id",),
)

PLATFORM_PAYMENTS = Feed(
    "platform_payments", "平台回款（支付单）",
    (
        C("pay_order_id", K.CODE, True, ("payOrderId", "支付单号")),
        C("invoice_no", K.TEXT, True, ("invoiceNo", "发票号")),
        C("invoice_code", K.TEXT, False, ("invoiceCode", "发票代码")),
        C("fixmedins_code", K.CODE, True, ("hospitalCode", "医疗机构编码")),
        C("supplier_name", K.TEXT, False, ("companyNamePs", "配送企业")),
        C("pay_amount", K.DECIMAL, True, ("payAmount", "支付金额")),
        C("pay_at", K.TIMESTAMP, True, ("payAt", "支付时间")),
        C("pay_status", K.TEXT, False, ("payStatus", "支付状态")),
        C("updated_at", K.TIMESTAMP, True, ("updateTime", "更新时间")),
    ),
    key=("pay_order_id",),
)

PLATFORM_CATALOGUE = Feed(
    "platform_catalogue", "平台挂网目录与挂网价",
    (
        C("catalogue_id", K.CODE, True, ("procurecatalogId", "挂网编号")),
        C("med_list_codg", K.CODE, True, ("ybbm", "医保编码")),
        C("generic_name", K.TEXT, False, ("genname", "通用名")),
        C("dosage_form", K.TEXT, False, ("dosform", "剂型")),
        C("spec", K.TEXT, False, ("spec", "regSpecName", "规格")),
        C("pack_spec", K.TEXT, False, ("pac", "包装规格")),
        C("aprvno", K.TEXT, False, ("aprvno", "批准文号")),
        C("convrat", K.DOUBLE, False, ("convrat", "转换比")),
        C("min_unit", K.TEXT, False, ("minuntName", "最小单位")),
        C("pack_unit", K.TEXT, False, ("minpacName", "包装单位")),
        C("manufacturer", K.TEXT, False, ("enterprise_name", "生产企业")),
        C("listed_price", K.DECIMAL, True, ("minPacPubonlnPric", "最小包装挂网价")),
        C("listed_from", K.TIMESTAMP, True, ("pubonlnTime", "挂网时间")),
        C("delisted_at", K.TIMESTAMP, False, ("stopPubonln", "撤网时间")),
        C("policy_attribute", K.TEXT, False, ("policyAtt", "政策属性")),
        C("updated_at", K.TIMESTAMP, True, ("updateTime", "更新时间")),
    ),
    key=("catalogue_id",),
)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("orders", "orders", PLATFORM_ORDERS, "updated_at"),
    Endpoint("deliveries", "deliveries", PLATFORM_DELIVERIES, "updated_at"),
    Endpoint("payments", "payments", PLATFORM_PAYMENTS, "updated_at"),
    Endpoint("catalogue", "catalogue", PLATFORM_CATALOGUE, "updated_at"),
)
ENDPOINTS_BY_NAME = {e.name: e for e in ENDPOINTS}
PLATFORM_FEEDS: tuple[Feed, ...] = tuple(e.feed for e in ENDPOINTS)

# Row rules beyond "the value parses" (same form as ingest.checks.RULES).
PLATFORM_RULES: dict[str, list[tuple[str, str]]] = {
    "platform_orders": [
        ("t.order_qty <= 0", "order_qty: must be > 0"),
        ("t.order_price < 0", "order_price: negative price"),
        ("t.delivered_qty < 0", "delivered_qty: negative quantity"),
    ],
    "platform_deliveries": [
        ("t.shipped_qty < 0", "shipped_qty: negative quantity"),
        ("t.invoice_total < 0", "invoice_total: negative amount"),
        ("t.confirm_at < t.send_out_at", "confirm_at: before send_out_at"),
    ],
    "platform_payments": [
        ("t.pay_amount <= 0", "pay_amount: must be > 0"),
    ],
    "platform_catalogue": [
        ("t.listed_price <= 0", "listed_price: must be > 0"),
        ("t.convrat <= 0", "convrat: must be > 0"),
    ],
}
