"""Great Expectations suites as code, one per validated table.

Every expectation carries GX's own ``severity``:
- ``critical`` (FAIL; level ``fail`` in gate_result.json): a broken promise
  of the published interface (ranges the formulas guarantee, accounting).
  Publishing stops.
- ``warning`` (WARN; level ``warn``): plausibility (ratios outside 0..1 because of returns, many
  missing prices, a table much smaller than last night). Reported in the run
  record and the Data Docs, published anyway.
The reason for each check's level is written next to it.

Keys (grain) and accepted values are dbt tests, in each model's YAML beside
its SQL (dbt_project/models/): they run during the build and fail it. A
check written there is not repeated here. The gate keeps what dbt's tests
do not say: value rules on the built tables, plausibility (warn, `mostly`),
the rows this run landed, accounting, completeness and the comparison with
the previous publication.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations.levels import FAIL, WARN

from expectations.money_enforcement import money_enforcement_suites
from expectations.platform_reconciliation import platform_reconciliation_suites
from expectations.price_monitoring import price_monitoring_suites



def _suite(name: str, expectations: list) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(name=name, expectations=expectations)


def _not_null(*columns: str) -> list:
    return [gxe.ExpectColumnValuesToNotBeNull(column=c, severity=FAIL) for c in columns]


# --- landed feeds: the rows this run loaded into the lake -----------------
# Ingest already quarantines rows that break these rules, so a failure here
# means the loader itself is wrong: fail.

def landed_suites() -> dict[str, gx.ExpectationSuite]:
    return {
        "landed_institutions": _suite("landed_institutions", [
            *_not_null("fixmedins_name", "admdvs"),  # fixmedins_code: key of stg_lake__institutions (dbt)
            gxe.ExpectColumnValuesToMatchRegex(column="admdvs", regex=r"^\d{6}$", severity=FAIL),
            gxe.ExpectColumnValuesToBeInSet(column="ownership", value_set=["public", "private"], severity=FAIL),
            gxe.ExpectColumnValuesToBeInSet(column="hosp_lv", value_set=["1", "2", "3", "9"], severity=FAIL),
        ]),
        "landed_products": _suite("landed_products", [
            *_not_null("category", "generic_name", "convrat"),  # med_list_codg: key of stg_lake__products (dbt)
            gxe.ExpectColumnValuesToBeBetween(column="convrat", min_value=0, strict_min=True, severity=FAIL),
            gxe.ExpectColumnValuesToBeInSet(column="category", value_set=[
                "western", "chinese_patent", "herbal_pieces", "formula_granules", "hvc", "lvc", "ivd"], severity=FAIL),
        ]),
        "landed_listed_prices": _suite("landed_listed_prices", [
            *_not_null("med_list_codg", "listed_price", "valid_from"),
            gxe.ExpectColumnValuesToBeBetween(column="listed_price", min_value=0, strict_min=True, severity=FAIL),
        ]),
        "landed_vbp_results": _suite("landed_vbp_results", [
            *_not_null("batch_code", "group_code", "med_list_codg", "winning_price", "cycle_start", "cycle_end"),
            gxe.ExpectColumnValuesToBeBetween(column="winning_price", min_value=0, strict_min=True, severity=FAIL),
        ]),
        "landed_vbp_agreed_volumes": _suite("landed_vbp_agreed_volumes", [
            *_not_null("batch_code", "group_code", "fixmedins_code", "period_start", "period_end", "agreed_qty"),
            gxe.ExpectColumnValuesToBeBetween(column="agreed_qty", min_value=0, strict_min=True, severity=FAIL),
        ]),
        "landed_purchases": _suite("landed_purchases", [
            *_not_null("infno", "fixmedins_code", "fixmedins_bchno", "med_list_codg", "purc_retn_cnt", "purc_retn_stoin_time"),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["fixmedins_code", "fixmedins_bchno"], severity=FAIL),
            gxe.ExpectColumnValuesToBeInSet(column="infno", value_set=["3503", "3504"], severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="purc_retn_cnt", min_value=0, strict_min=True, severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="finl_trns_pric", min_value=0, severity=FAIL),
            # Missing prices are allowed (priced from the listed price) but
            # many of them make the price indicators thin: warn above 5 %.
            gxe.ExpectColumnValuesToNotBeNull(column="finl_trns_pric", mostly=0.95, severity=WARN),
        ]),
    }


# --- published tables ----------------------------------------------------

def published_suites() -> dict[str, gx.ExpectationSuite]:
    return {
        "platform_purchase_ratio": _suite("platform_purchase_ratio", [
            *_not_null("category_group", "total_amount", "platform_amount"),
            # Net of returns a month can leave 0..1 (returns of platform
            # purchases booked in a later month): plausible, so warn.
            gxe.ExpectColumnValuesToBeBetween(column="ratio", min_value=0, max_value=1, mostly=0.99, severity=WARN),
        ]),
        "platform_purchase_ratio_region": _suite("platform_purchase_ratio_region", [
            *_not_null("region_level", "category_group"),
            gxe.ExpectColumnValueLengthsToEqual(column="admdvs", value=6, severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="target", min_value=0, max_value=1, severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="ytd_ratio", min_value=0, max_value=1, severity=WARN),
        ]),
        "price_deviation_index": _suite("price_deviation_index", [
            *_not_null("month", "category_group", "coverage"),
            # An institution-month paying over 3× or under a fifth of the
            # references is possible but worth a look before publishing.
            gxe.ExpectColumnValuesToBeBetween(column="pdi", min_value=0.2, max_value=3, mostly=0.99, severity=WARN),
        ]),
        "vbp_completion": _suite("vbp_completion", [
            *_not_null("period_start", "agreed_qty", "expected_progress", "is_lagging"),
            gxe.ExpectColumnValuesToBeBetween(column="agreed_qty", min_value=0, strict_min=True, severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="nonwinning_share", min_value=0, max_value=1, mostly=0.99, severity=WARN),
            # Net returns can push completion below 0 in a period: warn.
            gxe.ExpectColumnValuesToBeBetween(column="completion_rate", min_value=0, severity=WARN),
        ]),
        "anomalies": _suite("anomalies", [
            *_not_null("anomaly_type", "severity"),
            gxe.ExpectColumnValuesToMatchRegex(column="anomaly_id", regex=r"^AN-[0-9A-F]{16}$", severity=FAIL),
        ]),
        "quarantine": _suite("quarantine", [
            *_not_null("feed", "source_file"),
        ]),
        "deliveries": _suite("deliveries", [
            *_not_null("feed", "status"),
        ]),
        "upload_completeness": _suite("upload_completeness", [
            *_not_null("fixmedins_code", "month", "has_uploads"),
            # Many institution-months without any upload means a delivery
            # is missing, not that hospitals stopped buying: warn above 10 %.
            gxe.ExpectColumnValuesToBeInSet(column="data_status", value_set=["uploaded"], mostly=0.9, severity=WARN),
        ]),
        "offplatform_purchases": _suite("offplatform_purchases", [
            *_not_null("fixmedins_code", "month", "category_group"),
            gxe.ExpectColumnValuesToBeBetween(column="offplatform_listed_share", min_value=0, max_value=1, mostly=0.99, severity=WARN),
        ]),
        "vbp_progress_monthly": _suite("vbp_progress_monthly", [
            *_not_null("batch_code", "group_code", "fixmedins_code", "period_start", "month", "expected_progress"),
            gxe.ExpectColumnValuesToBeBetween(column="expected_progress", min_value=0, max_value=1, severity=FAIL),
        ]),
        "vbp_completion_region": _suite("vbp_completion_region", [
            *_not_null("region_level", "batch_code", "completion_rate", "expected_progress"),
            gxe.ExpectColumnValuesToBeBetween(column="expected_progress", min_value=0, max_value=1, severity=FAIL),
        ]),
        "vbp_savings": _suite("vbp_savings", [
            *_not_null("batch_code", "group_code", "fixmedins_code", "period_start"),
            # VBP prices are far below pre-VBP prices; negative savings mean
            # the winning price is above the old price: worth a look.
            gxe.ExpectColumnValuesToBeBetween(column="savings_amount", min_value=0, mostly=0.95, severity=WARN),
        ]),
        "vbp_savings_region": _suite("vbp_savings_region", [
            *_not_null("region_level", "batch_code", "agreements"),
        ]),
        "vbp_varieties_implemented": _suite("vbp_varieties_implemented", [
            *_not_null("city_admdvs", "category_group", "varieties_implemented"),
            gxe.ExpectColumnValuesToBeBetween(column="varieties_implemented", min_value=0, severity=FAIL),
        ]),
        "plan_target_comparison": _suite("plan_target_comparison", [
            *_not_null("city_admdvs", "indicator", "category_group"),
            # Every seed city has its platform figure once data exist.
            gxe.ExpectColumnValuesToNotBeNull(column="actual_value", mostly=0.5, severity=WARN),
        ]),
        "purchase_lines_sample": _suite("purchase_lines_sample", [
            *_not_null("month", "qty_min_units", "source_file"),
            gxe.ExpectColumnValuesToBeBetween(column="qty_min_units", min_value=0, strict_min=True, severity=FAIL),
        ]),
        **price_monitoring_suites(),
        **platform_reconciliation_suites(),
        **money_enforcement_suites(),
    }


# --- run-level facts, computed in SQL and checked as small frames --------

def run_suites() -> dict[str, gx.ExpectationSuite]:
    return {
        "run_accounting": _suite("run_accounting", [
            # Every delivery: rows in = rows loaded + rows quarantined.
            gxe.ExpectColumnValuesToBeInSet(column="balanced", value_set=[True], severity=FAIL),
        ]),
        "run_completeness": _suite("run_completeness", [
            # Every accepted purchase line reaches purchase_lines (no join
            # silently drops one).
            gxe.ExpectColumnValuesToBeInSet(column="lines_kept", value_set=[True], severity=FAIL),
        ]),
        "row_counts_vs_previous": _suite("row_counts_vs_previous", [
            # A published table shrinking by more than 10 % since the last
            # publication is suspicious (restatements can shrink it): warn.
            gxe.ExpectColumnValuesToBeBetween(column="ratio_to_previous", min_value=0.9, severity=WARN),
        ]),
    }
