"""GX suites of the reconciliation tables with the provincial platform
(issue 8: 三流合一), merged into ``expectations.suites.published_suites``.
Every table is empty when no platform data were pulled; the checks hold
trivially then. ``fail`` = a promise of the published interface (grain,
codes the formulas produce); ``warn`` = plausible but worth a look."""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations.levels import FAIL, WARN



def _suite(name: str, expectations: list) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(name=name, expectations=expectations)


def _not_null(*columns: str) -> list:
    return [gxe.ExpectColumnValuesToNotBeNull(column=c, severity=FAIL) for c in columns]


def platform_reconciliation_suites() -> dict[str, gx.ExpectationSuite]:
    return {
        "platform_unmatched_receipts": _suite("platform_unmatched_receipts", [
            *_not_null("fixmedins_code", "fixmedins_bchno", "platform_order_no", "unmatched_reason"),
        ]),
        "platform_order_reconciliation": _suite("platform_order_reconciliation", [
            *_not_null("fixmedins_code", "order_no", "med_list_codg", "recon_status", "order_qty", "delivered_qty",
                       "received_qty"),
            gxe.ExpectColumnValuesToBeBetween(column="delivered_qty", min_value=0, severity=FAIL),
            # Most platform orders should reconcile; many discrepancies mean a
            # matching problem (e.g. the platform's order numbers changed shape).
            gxe.ExpectColumnValuesToBeInSet(column="recon_status", value_set=[
                "not_delivered", "matched", "in_transit"], mostly=0.9, severity=WARN),
        ]),
        "platform_invoice_payments": _suite("platform_invoice_payments", [
            *_not_null("fixmedins_code", "invoice_no", "payment_status", "is_overdue"),
            gxe.ExpectColumnValuesToBeBetween(column="outstanding_amount", min_value=0, severity=FAIL),
            # A payment before the receipt was confirmed is possible
            # (prepayment) but unusual: warn.
            gxe.ExpectColumnValuesToBeBetween(column="days_to_payment", min_value=0, mostly=0.99, severity=WARN),
        ]),
        "platform_payment_timeliness": _suite("platform_payment_timeliness", [
            *_not_null("fixmedins_code", "month", "invoices"),
            gxe.ExpectColumnValuesToBeBetween(column="share_paid_on_time", min_value=0, max_value=1, severity=FAIL),
        ]),
        "platform_supplier_fill_rate": _suite("platform_supplier_fill_rate", [
            *_not_null("supplier_name", "month", "order_lines"),
            gxe.ExpectColumnValuesToBeBetween(column="fill_rate", min_value=0, severity=FAIL),
            # Delivering more than ordered happens (rounding to whole cases)
            # but not by much: warn above 1.2.
            gxe.ExpectColumnValuesToBeBetween(column="fill_rate", min_value=0, max_value=1.2, severity=WARN),
        ]),
        "platform_purchase_ratio_by_orders": _suite("platform_purchase_ratio_by_orders", [
            *_not_null("fixmedins_code", "month", "category_group", "platform_order_amount", "numerator_basis"),
        ]),
    }
