"""What the emulated platform knows: orders, deliveries, payments and the
listed catalogue, derived from a landing directory (e.g. the demo's).

The landing directory is loaded with yaocai's own loader into an in-memory
DuckDB, so the platform is built from exactly the purchase lines the pipeline
accepts. Every accepted 3503 line that carries a ``platform_order_no`` becomes
one platform order line, shipped and confirmed at its receipt time, invoiced
and paid. Then discrepancies are planted, and ``truth`` says exactly which:

- ``unknown_orders``: receipt lines whose order number the platform does not
  have (their order, shipment and payment are removed);
- ``never_received``: orders the platform shows delivered that no receipt line
  of the institution claims;
- ``qty_mismatch``: orders whose delivered quantity differs from the quantity
  the institution received;
- ``short_fill_supplier``: a supplier that delivers less than was ordered on
  a share of its orders (ordered > delivered = received);
- ``overdue_invoices``: invoices paid more than 30 days after the receipt was
  confirmed, or still unpaid more than 30 days after it at the as-of date
  (planted late and unpaid invoices, instalments, and one slow-paying
  institution).

Every record exists in versions with an ``updatetime`` (an order is placed,
then its delivered quantity is fed back; a shipment is sent, then confirmed),
so an emulator whose clock advances serves updated records, which the
client must upsert. All randomness comes from one seeded generator.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

TS = "%Y-%m-%d %H:%M:%S"
PAYMENT_DUE_DAYS = 30


@dataclass
class Version:
    updated: str            # updatetime, "YYYY-MM-DD HH:MM:SS"
    key: str
    until: str | None       # the next version's updatetime (None = current)
    record: dict


@dataclass
class PlatformDataset:
    versions: dict[str, list[Version]]   # endpoint -> every version of every record
    truth: dict
    as_of: dt.date
    key_fields: dict[str, str] = field(default_factory=lambda: dict(KEY_FIELDS))

    def view(self, endpoint: str, now: str) -> list[Version]:
        """The records as the platform shows them at ``now``, sorted by
        (updatetime, key)."""
        current = [v for v in self.versions[endpoint] if v.updated <= now and (v.until is None or v.until > now)]
        current.sort(key=lambda v: (v.updated, v.key))
        return current


KEY_FIELDS: dict[str, str] = {"orders": "ordorderdetailid", "deliveries": "shipmentId", "payments": "payOrderId",
              "catalogue": "procurecatalogId"}


def _ts(value: dt.datetime) -> str:
    return value.strftime(TS)


def _money(value: float) -> float:
    return round(float(value) + 1e-9, 2)


def _load_lake(landing: Path) -> duckdb.DuckDBPyConnection:
    from ingest.loader import ingest_landing

    con = duckdb.connect()
    level = logging.getLogger("ingest.loader").level
    logging.getLogger("ingest.loader").setLevel(logging.WARNING)
    try:
        ingest_landing(Path(landing), con, run_id="platform-emulator")
    finally:
        logging.getLogger("ingest.loader").setLevel(level)
    return con


def build_dataset(landing: Path, as_of: dt.date, seed: int = 20260801) -> PlatformDataset:
    con = _load_lake(landing)
    try:
        lines: list = con.execute(
            """
            with listed as (
                select p.fixmedins_code, p.fixmedins_bchno, min(l.listed_price) as listed_price
                from purchases p join listed_prices l on l.med_list_codg = p.med_list_codg
                    and l.valid_from <= cast(p.purc_retn_stoin_time as date)
                    and (l.valid_to is null or cast(p.purc_retn_stoin_time as date) < l.valid_to)
                group by all
            ),
            product_price as (
                select med_list_codg, median(finl_trns_pric) as usual_price from purchases group by all
            )
            select p.fixmedins_code, i.fixmedins_name, p.fixmedins_bchno, p.platform_order_no, p.med_list_codg,
                   coalesce(p.spler_name, '未填写配送企业') as supplier, p.purc_retn_cnt as qty,
                   coalesce(p.finl_trns_pric, l.listed_price, pp.usual_price, 1) as price,
                   p.purc_retn_stoin_time as receipt, p.purc_invo_no as invoice_no,
                   pr.generic_name, pr.dosage_form, pr.spec, pr.pack_spec, pr.manufacturer, pr.aprvno, pr.pack_unit
            from purchases p
            join institutions i using (fixmedins_code)
            join products pr using (med_list_codg)
            left join listed l using (fixmedins_code, fixmedins_bchno)
            left join product_price pp using (med_list_codg)
            where p.infno = '3503' and p.platform_order_no is not null
            order by p.purc_retn_stoin_time, p.fixmedins_code, p.fixmedins_bchno
            """).fetchall()
        columns = [d[0] for d in con.description]
        lines = [dict(zip(columns, row)) for row in lines]
        catalogue: list = con.execute(
            """select l.med_list_codg, l.listed_price, l.valid_from, l.valid_to, p.generic_name, p.dosage_form,
                      p.spec, p.pack_spec, p.aprvno, p.convrat, p.min_unit, p.pack_unit, p.manufacturer
               from listed_prices l join products p using (med_list_codg)
               order by l.med_list_codg, l.valid_from""").fetchall()
        cat_columns = [d[0] for d in con.description]
        catalogue = [dict(zip(cat_columns, row)) for row in catalogue]
    finally:
        con.close()
    return _derive(lines, catalogue, as_of, np.random.default_rng(seed))


def _derive(lines: list[dict], catalogue: list[dict], as_of: dt.date, rng: np.random.Generator) -> PlatformDataset:
    as_of_end = dt.datetime.combine(as_of, dt.time(23, 59, 59))
    n = len(lines)
    if n < 50:
        raise ValueError("the landing directory has too few platform purchase lines to emulate a platform")
    hours = lambda h: dt.timedelta(seconds=int(h * 3600))  # noqa: E731
    for line in lines:
        receipt = line["receipt"]
        line["qty"] = int(line["qty"]) if float(line["qty"]).is_integer() else float(line["qty"])
        line["price"] = float(line["price"])
        line["order_time"] = receipt - hours(rng.uniform(24, 96))
        line["send_out"] = receipt - hours(rng.uniform(2, 20))
        line["receive_at"] = receipt - hours(rng.uniform(0.1, 1.5))
        line["confirm_at"] = receipt
        line["ordered"] = line["qty"]
        line["delivered"] = line["qty"]
        line["pay_days"] = [(1.0, float(rng.uniform(3, 28)))]  # (share of the invoice, days after confirmation)
        line["confirmed"] = True

    # Candidates for planted cases: received well before the as-of date.
    settled = [k for k, line in enumerate(lines) if line["receipt"] <= as_of_end - dt.timedelta(days=100)]
    recent = [k for k, line in enumerate(lines)
              if as_of_end - dt.timedelta(days=100) < line["receipt"] <= as_of_end - dt.timedelta(days=45)]
    if len(settled) < 30 or len(recent) < 10:
        raise ValueError("the landing directory does not cover enough months before the as-of date")
    picks = iter(rng.permutation(settled).tolist())
    picks_recent = iter(rng.permutation(recent).tolist())
    taken: set[int] = set()

    def pick(source) -> int:
        for k in source:
            if k not in taken:
                taken.add(k)
                return k
        raise ValueError("not enough purchase lines to plant the discrepancies")

    truth: dict = {"as_of": as_of.isoformat(), "payment_due_days": PAYMENT_DUE_DAYS}

    # 1. Receipt lines claiming an order number the platform does not have.
    unknown = [pick(picks) for _ in range(5)]

    # 2. Quantity delivered ≠ quantity received.
    mismatch = []
    for delta in (2, -1, 5, -2):
        k = pick(picks)
        line = lines[k]
        delivered = max(1, int(line["qty"]) + delta)
        if delivered == line["qty"]:
            delivered = int(line["qty"]) + 1
        line["delivered"] = line["ordered"] = delivered
        mismatch.append((line["fixmedins_code"], line["platform_order_no"], delivered, line["qty"]))
    truth["qty_mismatch"] = sorted(mismatch)

    # 3. A supplier that delivers short: ordered more than it delivered.
    by_supplier = defaultdict(list)
    for k, line in enumerate(lines):
        by_supplier[line["supplier"]].append(k)
    suppliers = sorted(by_supplier, key=lambda s: (-len(by_supplier[s]), s))
    short_supplier = suppliers[min(2, len(suppliers) - 1)]
    for k in by_supplier[short_supplier]:
        if k not in taken and rng.random() < 0.3:
            line = lines[k]
            line["ordered"] = int(line["delivered"]) + max(1, int(math.ceil(float(line["delivered"]) * 0.5)))
    truth["short_fill_supplier"] = short_supplier

    # 4. Payments: late, unpaid, in instalments, and a slow-paying institution.
    for _ in range(5):
        lines[pick(picks)]["pay_days"] = [(1.0, float(rng.uniform(40, 90)))]
    for _ in range(4):
        lines[pick(picks_recent)]["pay_days"] = []          # never paid (confirmed 45-100 days before as_of)
    for _ in range(3):
        lines[pick(picks)]["pay_days"] = [(0.5, float(rng.uniform(8, 15))), (0.5, float(rng.uniform(45, 60)))]
    by_institution: dict[str, int] = defaultdict(int)
    for line in lines:
        by_institution[line["fixmedins_code"]] += 1
    # a busy institution, so its share paid on time stands out in the demo
    slow = sorted(by_institution, key=lambda code: (-by_institution[code], code))[int(rng.integers(1, 4))]
    for k, line in enumerate(lines):
        if (line["fixmedins_code"] == slow and k not in taken and rng.random() < 0.4
                and as_of_end - dt.timedelta(days=150) < line["receipt"] <= as_of_end):
            line["pay_days"] = [(1.0, float(rng.uniform(35, 55)))]
    truth["slow_paying_institution"] = slow

    # Invoice numbers: the receipt line's, made unique per supplier.
    seen_invoices: dict[tuple[str, str], int] = defaultdict(int)
    for k, line in enumerate(lines):
        base = str(line["invoice_no"] or f"{90000000 + k}")
        seen_invoices[(line["supplier"], base)] += 1
        count = seen_invoices[(line["supplier"], base)]
        line["invoice"] = base if count == 1 else f"{base}-{count}"
        line["invoice_code"] = f"0{44000000000 + k:011d}"

    versions: dict[str, list[Version]] = {"orders": [], "deliveries": [], "payments": [], "catalogue": []}
    dropped = set(unknown)
    pay_seq = 0
    overdue = []
    for k, line in enumerate(lines):
        if k in dropped:
            continue
        detail_id = f"{line['platform_order_no']}01"
        _order_versions(versions["orders"], line, detail_id, confirmed=True)
        shipment_id = f"PS{line['platform_order_no'][2:]}"
        _delivery_versions(versions["deliveries"], line, detail_id, shipment_id)
        total = _money(line["delivered"] * line["price"])
        paid_at, paid = None, 0.0
        for number, (share, days) in enumerate(line["pay_days"], 1):
            pay_seq += 1
            pay_at = line["confirm_at"] + dt.timedelta(days=days)
            amount = _money(total - paid) if number == len(line["pay_days"]) else _money(total * share)
            paid = _money(paid + amount)
            versions["payments"].append(Version(_ts(pay_at), f"ZF{pay_seq:010d}", None, {
                "payOrderId": f"ZF{pay_seq:010d}", "invoiceNo": line["invoice"], "invoiceCode": line["invoice_code"],
                "hospitalCode": line["fixmedins_code"], "companyNamePs": line["supplier"], "payAmount": amount,
                "payAt": _ts(pay_at), "payStatus": "已支付", "updateTime": _ts(pay_at)}))
            paid_at = pay_at
        fully_paid = paid_at is not None and paid_at <= as_of_end
        confirm_day = line["confirm_at"].date()
        if fully_paid and (paid_at.date() - confirm_day).days > PAYMENT_DUE_DAYS:
            overdue.append((line["fixmedins_code"], line["supplier"], line["invoice"], "paid_late"))
        elif not fully_paid and line["confirm_at"] <= as_of_end and (as_of - confirm_day).days > PAYMENT_DUE_DAYS:
            overdue.append((line["fixmedins_code"], line["supplier"], line["invoice"], "unpaid"))
    truth["overdue_invoices"] = sorted(overdue)

    # 5. Orders delivered that no institution received (extra orders).
    never = []
    templates = [pick(picks) for _ in range(4)]
    for number, k in enumerate(templates, 1):
        base_line = dict(lines[k])
        sent = as_of_end - dt.timedelta(days=float(rng.uniform(12, 60)))
        order_no = f"PT{base_line['platform_order_no'][2:4]}{sent:%Y%m%d}99990{number:04d}"
        base_line.update(platform_order_no=order_no, order_time=sent - hours(30), send_out=sent, confirmed=False,
                    invoice=f"9{number:07d}", invoice_code=f"0{45000000000 + number:011d}")
        detail_id = f"{order_no}01"
        _order_versions(versions["orders"], base_line, detail_id, confirmed=False)
        _delivery_versions(versions["deliveries"], base_line, detail_id, f"PS{order_no[2:]}")
        never.append((base_line["fixmedins_code"], order_no))
    truth["never_received"] = sorted(never)
    # the order lines of the planted unknown receipts were never placed
    truth["unknown_orders"] = sorted((lines[k]["fixmedins_code"], lines[k]["platform_order_no"]) for k in unknown)

    for number, item in enumerate(catalogue, 1):
        _catalogue_versions(versions["catalogue"], item, f"GW{number:08d}")

    for endpoint_versions in versions.values():
        _link_versions(endpoint_versions)
    truth["counts"] = {endpoint: len({v.key for v in vs}) for endpoint, vs in versions.items()}
    return PlatformDataset(versions, truth, as_of)


def _link_versions(versions: list[Version]) -> None:
    """Each version is valid until the next version of the same key."""
    by_key: dict[str, list[Version]] = defaultdict(list)
    for v in versions:
        by_key[v.key].append(v)
    for group in by_key.values():
        group.sort(key=lambda v: v.updated)
        for older, newer in zip(group, group[1:]):
            older.until = newer.updated


def _order_versions(out: list[Version], line: dict, detail_id: str, confirmed: bool) -> None:
    record = {
        "ordorderdetailid": detail_id, "ordorderno": line["platform_order_no"],
        "hospitalcode": line["fixmedins_code"], "hospitalname": line["fixmedins_name"], "entname": line["supplier"],
        "ybbm": line["med_list_codg"], "pruductname": line["generic_name"], "medpreparation": line["dosage_form"],
        "medtypespec": line["spec"], "packagspecifications": line["pack_spec"],
        "productiveentname": line["manufacturer"], "approvedno": line["aprvno"], "unit": line["pack_unit"],
        "purquantity": line["ordered"], "purprice": round(line["price"], 6), "quantityfeedback": None,
        "createtime": _ts(line["order_time"]), "ordorderstatus": "待配送", "updatetime": _ts(line["order_time"]),
    }
    out.append(Version(record["updatetime"], detail_id, None, record))
    delivered = dict(record, quantityfeedback=line["delivered"], ordorderstatus="已配送", updatetime=_ts(line["send_out"]))
    out.append(Version(delivered["updatetime"], detail_id, None, delivered))
    if confirmed:
        done = dict(delivered, ordorderstatus="已完成", updatetime=_ts(line["confirm_at"]))
        out.append(Version(done["updatetime"], detail_id, None, done))


def _delivery_versions(out: list[Version], line: dict, detail_id: str, shipment_id: str) -> None:
    total = _money(line["delivered"] * line["price"])
    record = {
        "shipmentId": shipment_id, "tpOrderNo": line["platform_order_no"], "orderDetailId": detail_id,
        "hospitalCode": line["fixmedins_code"], "companyNamePs": line["supplier"], "ybbm": line["med_list_codg"],
        "shipmentAmount": line["delivered"], "sendOutAt": _ts(line["send_out"]), "receiveAt": None, "confirmAt": None,
        "shipmentStatus": "已发货", "invoiceNo": line["invoice"], "invoiceCode": line["invoice_code"],
        "invoiceDate": line["send_out"].strftime("%Y-%m-%d"), "invoiceTotal": total,
        "updateTime": _ts(line["send_out"]),
    }
    out.append(Version(record["updateTime"], shipment_id, None, record))
    if line["confirmed"]:
        confirmed = dict(record, receiveAt=_ts(line["receive_at"]), confirmAt=_ts(line["confirm_at"]),
                         shipmentStatus="已入库", updateTime=_ts(line["confirm_at"]))
        out.append(Version(confirmed["updateTime"], shipment_id, None, confirmed))


def _catalogue_versions(out: list[Version], item: dict, catalogue_id: str) -> None:
    listed_from = dt.datetime.combine(item["valid_from"], dt.time(0, 0, 0))
    record = {
        "procurecatalogId": catalogue_id, "ybbm": item["med_list_codg"], "genname": item["generic_name"],
        "dosform": item["dosage_form"], "spec": item["spec"], "pac": item["pack_spec"], "aprvno": item["aprvno"],
        "convrat": item["convrat"], "minuntName": item["min_unit"], "minpacName": item["pack_unit"],
        "enterprise_name": item["manufacturer"], "minPacPubonlnPric": float(item["listed_price"]),
        "pubonlnTime": _ts(listed_from), "stopPubonln": None, "policyAtt": "挂网", "updateTime": _ts(listed_from),
    }
    out.append(Version(record["updateTime"], catalogue_id, None, record))
    if item["valid_to"] is not None:
        stopped = dt.datetime.combine(item["valid_to"], dt.time(0, 0, 0))
        out.append(Version(_ts(stopped), catalogue_id, None, dict(record, stopPubonln=_ts(stopped),
                                                                 updateTime=_ts(stopped))))

