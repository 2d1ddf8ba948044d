"""GX suites of the money and enforcement tables (issue 16;
docs/money-and-enforcement.md), merged into
``expectations.suites.published_suites``. The per-line tables
(settlement_direct_ledger, payment_standard_excess_lines) grow with every
shipment and purchase line; their grain and codes are dbt data tests
(their model YAML), so the gate reads only the bounded tables here.
Levels (expectations/levels.py): FAIL = a promise of the published interface; WARN = worth a look."""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations.levels import FAIL, WARN

AGREEMENT = ["batch_code", "group_code", "fixmedins_code", "period_start"]


def _suite(name: str, expectations: list) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(name=name, expectations=expectations)


def _not_null(*columns: str) -> list:
    return [gxe.ExpectColumnValuesToNotBeNull(column=c, severity=FAIL) for c in columns]


def money_enforcement_suites() -> dict[str, gx.ExpectationSuite]:
    return {
        "settlement_direct_summary": _suite("settlement_direct_summary", [
            *_not_null("rollup_level", "month", "amount_payable", "amount_outstanding"),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["rollup_level", "party_code", "month"],
                                                ignore_row_if="never", severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="amount_outstanding", min_value=0, severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="share_settled_on_time", min_value=0, max_value=1, severity=FAIL),
        ]),
        "settlement_prepayment": _suite("settlement_prepayment", [
            *_not_null(*AGREEMENT, "prepayment_status", "unrecovered_amount"),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=AGREEMENT, severity=FAIL),
            gxe.ExpectColumnValuesToBeInSet(column="prepayment_status",
                                            value_set=["to_recover", "ahead", "covered", "in_progress"], severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="unrecovered_amount", min_value=0, severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="prepayment_share", min_value=0, max_value=1, severity=FAIL),
        ]),
        "settlement_retained_savings": _suite("settlement_retained_savings", [
            *_not_null(*AGREEMENT, "retention_status", "retained_amount"),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=AGREEMENT, severity=FAIL),
            gxe.ExpectColumnValuesToBeInSet(column="retention_status", value_set=["granted", "pending", "refused"],
                                            severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="retained_amount", min_value=0, severity=FAIL),
        ]),
        "credit_evaluation_evidence": _suite("credit_evaluation_evidence", [
            *_not_null("evidence_id", "evidence_type", "party_type", "review_status"),
            gxe.ExpectColumnValuesToBeUnique(column="evidence_id", severity=FAIL),
            gxe.ExpectColumnValuesToBeInSet(column="proposed_level", value_set=["一般", "中等", "严重", "特别严重"],
                                            severity=FAIL),
            # a row without a level means the seed has no row for its evidence type
            gxe.ExpectColumnValuesToNotBeNull(column="proposed_level", severity=WARN),
        ]),
    }
