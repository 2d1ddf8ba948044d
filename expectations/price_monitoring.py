"""GX suites of the price-monitoring tables (issue 3), merged into
``expectations.suites.published_suites``. Each expectation's level and the
reason for it are next to it (``fail`` stops publishing, ``warn`` is
recorded and published anyway). ``*_sample`` suites get a bounded sample of
their table (``expectations.gate.SAMPLED_TABLES``): those tables grow with
institutions × products × months, and their keys are checked in full by the
dbt tests (unique_combination) during the build."""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations.levels import FAIL, WARN



def _suite(name: str, expectations: list) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(name=name, expectations=expectations)


def _not_null(*columns: str) -> list:
    return [gxe.ExpectColumnValuesToNotBeNull(column=c, severity=FAIL) for c in columns]


def price_monitoring_suites() -> dict[str, gx.ExpectationSuite]:
    return {
        "price_spec_normalisation": _suite("price_spec_normalisation", [
            # One row per catalogue product, each with a status: the
            # generic-level benchmarks rely on it.
            *_not_null("med_list_codg", "normalisation_status"),
            # A price ratio is a positive number by construction (K = c^log2 X).
            gxe.ExpectColumnValuesToBeBetween(column="unit_price_ratio", min_value=0, strict_min=True, severity=FAIL),
            # Ratios beyond 1:50 mean a strength parsed in the wrong unit
            # (e.g. g read as mg) more often than a real spec range: warn.
            gxe.ExpectColumnValuesToBeBetween(column="unit_price_ratio", min_value=0.02, max_value=50, severity=WARN),
            # Most drug specs of a real catalogue parse; many that do not
            # mean a new spec notation the parser should learn: warn.
            gxe.ExpectColumnValuesToNotBeInSet(column="normalisation_status", value_set=["unparsed"],
                                               mostly=0.9, severity=WARN),
        ]),
        "price_spec_unparsed": _suite("price_spec_unparsed", [
            # Every listed product carries its reason: the table exists to say why.
            *_not_null("med_list_codg", "exception_reason"),
        ]),
        "price_benchmarks_sample": _suite("price_benchmarks_sample", [
            *_not_null("benchmark_level", "benchmark_key", "month", "region_level", "median_unit_price",
                       "p10_unit_price", "min_unit_price", "institutions", "min_institutions"),
            # The benchmark rule: never published below its minimum number of
            # institutions; order statistics are ordered.
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="institutions", column_B="min_institutions",
                                                        or_equal=True, severity=FAIL),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="median_unit_price", column_B="p10_unit_price",
                                                        or_equal=True, severity=FAIL),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="p10_unit_price", column_B="min_unit_price",
                                                        or_equal=True, severity=FAIL),
            # Paid prices of 0 (non-gift lines at 0 yuan) are possible but odd.
            gxe.ExpectColumnValuesToBeBetween(column="min_unit_price", min_value=0, strict_min=True,
                                              mostly=0.999, severity=WARN),
        ]),
        "price_deviation_index_region": _suite("price_deviation_index_region", [
            *_not_null("region_level", "month", "category_group", "coverage"),
            # Formula guarantees: coverage is a share, pdi a ratio of sums of
            # non-negative amounts.
            gxe.ExpectColumnValuesToBeBetween(column="coverage", min_value=0, max_value=1.000001, severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="pdi", min_value=0, severity=FAIL),
            # A region paying over 3× or under a fifth of its references is
            # possible but worth a look before publishing.
            gxe.ExpectColumnValuesToBeBetween(column="pdi", min_value=0.2, max_value=3, mostly=0.99, severity=WARN),
        ]),
        "price_deviation_index_product": _suite("price_deviation_index_product", [
            *_not_null("med_list_codg", "month", "coverage"),
            gxe.ExpectColumnValuesToBeBetween(column="coverage", min_value=0, max_value=1.000001, severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="pdi", min_value=0, severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="pdi", min_value=0.2, max_value=3, mostly=0.99, severity=WARN),
        ]),
        "price_index": _suite("price_index", [
            *_not_null("region_level", "category_group", "month", "base_month", "index_value", "product_index_value"),
            # A chained index of positive prices is positive.
            gxe.ExpectColumnValuesToBeBetween(column="index_value", min_value=0, strict_min=True, severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="product_index_value", min_value=0, strict_min=True, severity=FAIL),
            # A month-on-month link beyond ×0.5 … ×2 is possible (a big VBP
            # round) but usually a unit or quantity error: warn.
            gxe.ExpectColumnValuesToBeBetween(column="link_relative", min_value=0.5, max_value=2, mostly=0.99,
                                              severity=WARN),
        ]),
        "price_savings_sample": _suite("price_savings_sample", [
            *_not_null("fixmedins_code", "med_list_codg", "month", "qty_min_units", "amount"),
            # max(0, …) × quantity: never negative.
            gxe.ExpectColumnValuesToBeBetween(column="savings_vs_product_p10", min_value=0, severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="savings_vs_generic_p10", min_value=0, severity=FAIL),
            gxe.ExpectColumnValuesToBeBetween(column="above_listed_amount", min_value=0, severity=FAIL),
            # Savings cannot exceed what was paid.
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="amount", column_B="savings_vs_product_p10",
                                                        or_equal=True, ignore_row_if="either_value_is_missing",
                                                        severity=FAIL),
        ]),
        "monitoring_thresholds_applied": _suite("monitoring_thresholds_applied", [
            *_not_null("name", "value", "effective_from", "in_force"),
        ]),
    }
