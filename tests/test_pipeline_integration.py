"""The whole pipeline on a small generated dataset, run through the real
Airflow DAG (`airflow dags test`), checked against the independent "boring"
reference implementation of data-contract.md §2 (tests/reference/boring.py),
plus re-runs, a broken feed, a failing gate, a busy warehouse and a reader
holding the file open during a publish."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.platform_support import PUBLISHED as PLATFORM_TABLES
from tests.platform_support import TOKEN as PLATFORM_TOKEN
from tests.platform_support import assert_complete, client_env, quarantined_keys, start_emulator, transient_faults
from tests.reference.boring import compute_reference
from yaocai_demo import generate_demo_landing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
AS_OF = dt.date(2026, 10, 31)
FEEDS = ("institutions", "products", "listed_prices", "vbp_results", "vbp_agreed_volumes", "purchases")


def airflow_env(home: Path) -> dict[str, str]:
    return {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs")}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Demo landing + one nightly run through `airflow dags test`."""
    root = tmp_path_factory.mktemp("pipeline")
    landing, warehouse, home = root / "landing", root / "warehouse", root / "airflow"
    home.mkdir()
    truth = generate_demo_landing(landing, purchase_lines=4000, as_of=AS_OF)
    # Issue 8: the provincial platform, emulated on loopback with one of each
    # transient fault; the DAG pulls it before reading the files (source=both).
    platform = start_emulator(landing, AS_OF, transient_faults(slow_seconds=3.0))
    env = {**airflow_env(home), **client_env(platform, timeout=2.0)}
    subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([str(VENV_BIN / "airflow"), "pools", "set", "yaocai_duckdb_writer", "1", "duckdb writer"],
                   env=env, check=True, capture_output=True)
    conf = json.dumps({"landing": str(landing), "warehouse": str(warehouse), "as_of": AS_OF.isoformat(),
                       "source": "both"})
    completed = subprocess.run([str(VENV_BIN / "airflow"), "dags", "test", "yaocai_nightly", AS_OF.isoformat(), "-c", conf],
                               env=env, capture_output=True, text=True, cwd=root)
    log = completed.stdout + completed.stderr
    assert completed.returncode == 0 and "state=failed" not in log, log[-5000:]
    yield {"root": root, "landing": landing, "warehouse": warehouse, "truth": truth, "dag_log": log,
           "platform": platform, "airflow_home": home}
    platform.stop()


def published(warehouse: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse / "yaocai.duckdb"), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def lake_tables(warehouse: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(warehouse / "state" / "lake.duckdb"), read_only=True)
    try:
        return {feed: con.execute(f"select * from {feed}").df() for feed in FEEDS}
    finally:
        con.close()


def _key_text(value) -> str | None:
    """Keys compared as text; dates and timestamps as YYYY-MM-DD."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, (dt.date, pd.Timestamp)):
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    return str(value)


def assert_frames_match(ours: pd.DataFrame, theirs: pd.DataFrame, keys: list[str], values: list[str]) -> None:
    """Same keys, and every value equal (floats to 1e-9 relative)."""
    ours = ours[keys + values].copy()
    theirs = theirs[keys + values].copy()
    for frame in (ours, theirs):
        for key in keys:
            frame[key] = frame[key].map(_key_text)
    merged = ours.merge(theirs, on=keys, how="outer", suffixes=("_ours", "_ref"), indicator=True)
    unmatched = merged[merged["_merge"] != "both"]
    assert unmatched.empty, f"rows only on one side:\n{unmatched.head(10)}"
    for value in values:
        a = pd.to_numeric(merged[f"{value}_ours"].astype("float64"), errors="coerce")
        b = pd.to_numeric(merged[f"{value}_ref"].astype("float64"), errors="coerce")
        same = np.isclose(a, b, rtol=1e-9, atol=1e-6, equal_nan=True)
        assert same.all(), f"{value} differs:\n{merged.loc[~same, keys + [f'{value}_ours', f'{value}_ref']].head(10)}"


@pytest.fixture(scope="module")
def reference(demo):
    plan_targets = pd.read_csv(REPO / "dbt_project" / "seeds" / "plan_targets.csv", dtype={"city_admdvs": str})
    return compute_reference(lake_tables(demo["warehouse"]), AS_OF, plan_targets)


def test_dag_published_every_contract_table_documented(demo):
    tables = published(demo["warehouse"], "select table_name, comment from duckdb_tables() where schema_name = 'main'")
    names = set(tables["table_name"])
    assert names >= {"platform_purchase_ratio", "platform_purchase_ratio_region", "price_deviation_index", "vbp_completion",
                     "purchase_lines", "anomalies", "quarantine", "runs"}
    assert tables["comment"].str.contains("/").all()  # 中文 / English
    undocumented = published(demo["warehouse"], "select table_name, column_name from duckdb_columns() "
                             "where schema_name = 'main' and not internal and (comment is null or comment = '')")
    assert undocumented.empty, undocumented
    views = published(demo["warehouse"], "select view_name from duckdb_views() where not internal")
    assert views.empty  # nothing that points into the lake
    runs = published(demo["warehouse"], "select * from runs")
    assert list(runs["status"]) == ["published"] and runs["gate_passed"].all()
    assert runs.loc[0, "rows_in"] == runs.loc[0, "rows_loaded"] + runs.loc[0, "rows_quarantined"]


def test_platform_ratio_equals_independent_computation(demo, reference):
    ours = published(demo["warehouse"], "select * from platform_purchase_ratio")
    assert len(ours) > 100
    assert_frames_match(ours, reference["platform_purchase_ratio"], ["fixmedins_code", "month", "category_group"],
                        ["platform_amount", "total_amount", "ratio"])


def test_platform_ratio_region_equals_independent_computation(demo, reference):
    ours = published(demo["warehouse"], "select * from platform_purchase_ratio_region")
    assert set(ours["region_level"]) == {"county", "city", "all"}
    assert_frames_match(ours, reference["platform_purchase_ratio_region"], ["region_level", "admdvs", "month", "category_group"],
                        ["platform_amount", "total_amount", "ratio", "ytd_ratio", "target"])


def test_price_deviation_equals_independent_computation(demo, reference):
    ours = published(demo["warehouse"], "select * from price_deviation_index")
    assert ours["pdi"].notna().sum() > 100
    assert_frames_match(ours, reference["price_deviation_index"], ["fixmedins_code", "month", "category_group"],
                        ["actual_amount", "reference_amount", "pdi", "coverage"])


def test_vbp_completion_equals_independent_computation(demo, reference):
    ours = published(demo["warehouse"], "select * from vbp_completion")
    assert len(ours) > 10
    ours["is_lagging"] = ours["is_lagging"].astype(float)
    theirs = reference["vbp_completion"].copy()
    theirs["is_lagging"] = theirs["is_lagging"].astype(float)
    assert_frames_match(ours, theirs, ["batch_code", "group_code", "fixmedins_code", "period_start"],
                        ["agreed_qty", "purchased_qty", "completion_rate", "expected_progress", "is_lagging",
                         "nonwinning_qty", "nonwinning_share"])


def test_planted_anomalies_are_found(demo):
    truth = demo["truth"]
    anomalies = published(demo["warehouse"], "select * from anomalies")
    found = set(zip(anomalies["anomaly_type"], anomalies["fixmedins_code"], anomalies["med_list_codg"].fillna(""),
                    anomalies["month"].astype(str).str[:10]))
    for planted in truth["above_listed"]:
        assert ("price_above_listed", planted["fixmedins_code"], planted["med_list_codg"], planted["month"]) in found
    spike = truth["price_spike"]
    assert ("price_peer_outlier", spike["fixmedins_code"], spike["med_list_codg"], spike["month"]) in found
    lagging = anomalies[anomalies["anomaly_type"] == "vbp_lagging"]
    for planted in truth["vbp_lagging"]:
        assert ((lagging["fixmedins_code"] == planted["fixmedins_code"]) & (lagging["group_code"] == planted["group_code"])).any()
    low = anomalies[anomalies["anomaly_type"] == "platform_ratio_below_target"]
    for planted in truth["low_platform_ratio"]:
        assert planted["fixmedins_code"] in set(low["fixmedins_code"])
    substitution = anomalies[anomalies["anomaly_type"] == "vbp_nonwinning_substitution"]
    assert set(zip(substitution["fixmedins_code"], substitution["group_code"])) == {
        (p["fixmedins_code"], p["group_code"]) for p in truth["vbp_nonwinning_substitution"]}
    assert anomalies["detail"].str.contains("请说明").all()


PRICE_TYPES = ("price_above_listed", "price_peer_outlier", "price_rise_institution", "price_rise_product",
               "listed_price_rise")
PRICE_TABLES = ("price_spec_normalisation", "price_spec_unparsed", "price_benchmarks", "price_deviation_index_region",
                "price_deviation_index_product", "price_index", "price_savings", "monitoring_thresholds_applied")


def test_price_anomalies_are_exactly_the_planted_ones(demo):
    """At the default thresholds (seeds/monitoring_thresholds.csv) every
    planted price anomaly is found, and nothing else of a price type is
    flagged on the generator's clean data (issue 3)."""
    truth = demo["truth"]
    above = {(p["fixmedins_code"], p["med_list_codg"], p["month"]) for p in truth["above_listed"]}
    spike = truth["price_spike"]
    spike_key = (spike["fixmedins_code"], spike["med_list_codg"], spike["month"])
    anomalies = published(demo["warehouse"], "select * from anomalies where anomaly_type in "
                          f"{PRICE_TYPES} order by anomaly_type, fixmedins_code, med_list_codg, month")
    anomalies["key"] = list(zip(anomalies["fixmedins_code"], anomalies["med_list_codg"],
                                anomalies["month"].astype(str).str[:10]))
    found = set(zip(anomalies["anomaly_type"], anomalies["key"]))
    assert {("price_above_listed", k) for k in above} <= found
    assert ("price_peer_outlier", spike_key) in found
    # The spike is also a jump against the institution's own previous month (×1.75).
    assert spike["ratio_to_previous_month"] >= 1.3 and ("price_rise_institution", spike_key) in found
    unexpected = anomalies[~anomalies["key"].isin(above | {spike_key})]
    assert unexpected.empty, unexpected[["anomaly_type", "key", "gap", "detail"]].to_string()
    # Evidence on every row: the benchmark, the threshold that fired, the letter text.
    assert anomalies["benchmark_level"].notna().all() and anomalies["threshold_value"].notna().all()
    thresholds = published(demo["warehouse"], "select name, value from monitoring_thresholds_applied where in_force")
    in_force = dict(zip(thresholds["name"], thresholds["value"]))
    assert (anomalies["threshold_value"] == anomalies["threshold_name"].map(in_force)).all()
    assert anomalies["detail"].str.contains("请说明").all() and anomalies["anomaly_id"].is_unique
    peer = anomalies[anomalies["anomaly_type"] == "price_peer_outlier"].iloc[0]
    assert peer["benchmark_institutions"] == spike["public_institutions_buying"]
    assert np.isclose(peer["reference_value"], spike["peer_median_unit_price"], rtol=1e-5)


def test_price_monitoring_tables_published_with_every_column_documented(demo):
    columns = published(demo["warehouse"], "select table_name, column_name, comment from duckdb_columns() "
                        f"where schema_name = 'main' and table_name in {PRICE_TABLES}")
    assert set(columns["table_name"]) == set(PRICE_TABLES)
    assert columns["comment"].fillna("").str.contains(" / ").all()  # 中文 / English
    thresholds = published(demo["warehouse"], "select name, count(*) filter (where in_force) n "
                           "from monitoring_thresholds_applied group by name")
    assert (thresholds["n"] == 1).all()


def _institution_prices(demo) -> pd.DataFrame:
    """Each public institution's quantity-weighted unit price per product and
    month over the price-eligible lines, recomputed from purchase_lines."""
    lines = published(demo["warehouse"], "select fixmedins_code, med_list_codg, month, amount, qty_min_units "
                      "from purchase_lines where is_price_eligible and category_group is not null and ownership = 'public'")
    lines[["amount", "qty_min_units"]] = lines[["amount", "qty_min_units"]].astype(float)
    per = lines.groupby(["med_list_codg", "month", "fixmedins_code"])[["amount", "qty_min_units"]].sum().reset_index()
    per["upp"] = per["amount"] / per["qty_min_units"]
    return per


def test_product_benchmarks_equal_a_plain_recomputation_and_the_peer_median(demo):
    per = _institution_prices(demo)
    stats = per.groupby(["med_list_codg", "month"])["upp"].agg(
        median="median", p10=lambda v: float(np.percentile(v, 10)), low="min", n="count").reset_index()
    stats = stats[stats["n"] >= 3]
    ours = published(demo["warehouse"], "select * from price_benchmarks where benchmark_level = 'product' "
                     "and region_level = 'all'")
    assert len(ours) > 20 and (ours["min_institutions"] == 3).all()
    merged = stats.merge(ours, left_on=["med_list_codg", "month"], right_on=["benchmark_key", "month"], how="outer",
                         indicator=True)
    assert (merged["_merge"] == "both").all()
    assert np.allclose(merged["median"], merged["median_unit_price"], rtol=1e-9)
    assert np.allclose(merged["p10"], merged["p10_unit_price"], rtol=1e-9)
    assert np.allclose(merged["low"], merged["min_unit_price"], rtol=1e-9)
    assert (merged["n"] == merged["institutions"]).all()
    peer = published(demo["warehouse"], "select distinct med_list_codg, month, peer_median_unit_price from purchase_lines "
                     "where peer_median_unit_price is not null and category_group is not null")
    check = peer.merge(ours, left_on=["med_list_codg", "month"], right_on=["benchmark_key", "month"])
    assert len(check) == len(peer) and np.allclose(check["peer_median_unit_price"], check["median_unit_price"])


def test_2452_normalisation_puts_one_makers_listed_prices_on_one_level(demo):
    """The demo catalogue prices each maker's strengths and pack sizes with the
    2452号 ratios (yaocai_demo/reference.py), so a maker's first listed price per
    minimum unit divided by unit_price_ratio is the same for all its specs of
    a group, up to rounding to cents. (合剂 is left out: the generator prices
    oral liquids' pack counts linearly, 2.0, where dosage_forms.csv applies
    the oral 1.95.)"""
    specs = published(demo["warehouse"], "select * from price_spec_normalisation")
    lake = lake_tables(demo["warehouse"])
    first = lake["listed_prices"].sort_values("valid_from").groupby("med_list_codg").first().reset_index()
    data = specs.merge(first[["med_list_codg", "listed_price"]], on="med_list_codg").merge(
        lake["products"][["med_list_codg", "manufacturer"]], on="med_list_codg")
    data = data[data["generic_group"].notna() & (data["dosage_form"] != "合剂")]
    data["normalised"] = data["listed_price"].astype(float) / data["convrat"].astype(float) / data["unit_price_ratio"]
    spread = data.groupby(["generic_group", "manufacturer"])["normalised"].agg(["min", "max", "count"])
    spread = spread[spread["count"] > 1]
    assert len(spread) > 5 and (data["normalisation_status"] == "normalised").sum() > 10
    assert (spread["max"] / spread["min"] < 1.01).all(), spread[spread["max"] / spread["min"] >= 1.01]
    assert set(specs["normalisation_status"]) <= {"representative", "normalised", "unparsed", "incomparable",
                                                 "not_applicable"}


def test_deviation_index_region_and_product_add_up_from_the_same_lines(demo):
    institutions = published(demo["warehouse"], "select * from price_deviation_index where ownership = 'public'")
    region = published(demo["warehouse"], "select * from price_deviation_index_region where region_level = 'all'")
    sums = institutions.groupby(["month", "category_group"])[["actual_amount", "reference_amount", "eligible_amount"]] \
        .sum().reset_index()
    check = sums.merge(region, on=["month", "category_group"], suffixes=("_sum", ""))
    assert len(check) == len(region) == len(sums)
    for column in ("actual_amount", "reference_amount", "eligible_amount"):
        assert np.allclose(check[f"{column}_sum"].astype(float), check[column].astype(float))
    assert np.allclose(check["actual_amount"].astype(float) / check["reference_amount"].astype(float), check["pdi"])
    products = published(demo["warehouse"], "select month, category_group, sum(actual_amount) a, sum(reference_amount) r, "
                         "sum(eligible_amount) e from price_deviation_index_product group by all")
    check = products.merge(region, on=["month", "category_group"])
    assert len(check) == len(region)
    assert np.allclose(check["a"].astype(float), check["actual_amount"].astype(float))
    assert np.allclose(check["e"].astype(float), check["eligible_amount"].astype(float))
    savings = published(demo["warehouse"], "select month, category_group, sum(amount) e from price_savings "
                        "where ownership = 'public' group by all")
    check = savings.merge(region, on=["month", "category_group"])
    assert len(check) == len(region) and np.allclose(check["e"].astype(float), check["eligible_amount"].astype(float))


def test_savings_are_the_excess_over_p10_times_quantity(demo):
    savings = published(demo["warehouse"], "select * from price_savings")
    has = savings[savings["product_p10_unit_price"].notna()]
    expected = np.maximum(0, has["unit_price"] - has["product_p10_unit_price"]) * has["qty_min_units"].astype(float)
    assert len(has) > 50 and np.allclose(expected, has["savings_vs_product_p10"])
    assert savings.loc[savings["product_p10_unit_price"].isna(), "savings_vs_product_p10"].isna().all()
    # 超挂网价 in the savings table is the planted excess (other lines are at or below the listed price).
    above = savings[savings["above_listed_amount"].astype(float) > 0]
    planted = {(p["fixmedins_code"], p["med_list_codg"], p["month"]) for p in demo["truth"]["above_listed"]}
    assert set(zip(above["fixmedins_code"], above["med_list_codg"], above["month"].astype(str).str[:10])) == planted


def test_product_price_index_equals_a_plain_chained_laspeyres(demo):
    per = _institution_prices(demo)
    groups = published(demo["warehouse"], "select med_list_codg, category_group from price_spec_normalisation")
    items = per.merge(groups, on="med_list_codg").groupby(["category_group", "month", "med_list_codg"])[
        ["amount", "qty_min_units"]].sum().reset_index()
    items["p"] = items["amount"] / items["qty_min_units"]
    ours = published(demo["warehouse"], "select * from price_index where region_level = 'all' order by category_group, month")
    for group, series in ours.groupby("category_group"):
        level, expected = 1.0, []
        months = list(series["month"])
        for k, month in enumerate(months):
            if k > 0:
                now = items[(items["category_group"] == group) & (items["month"] == month)]
                before = items[(items["category_group"] == group)
                               & (items["month"] == (pd.Timestamp(month) - pd.DateOffset(months=1)))]
                pairs = now.merge(before, on="med_list_codg", suffixes=("", "_prev"))
                if len(pairs):
                    level *= (pairs["p"] * pairs["qty_min_units_prev"]).sum() / pairs["amount_prev"].sum()
            expected.append(100 * level)
        assert np.allclose(expected, series["product_index_value"], rtol=1e-9), group
        assert series["base_month"].iloc[0] == series["month"].iloc[0]


def test_planted_invalid_rows_are_quarantined_with_reasons(demo):
    quarantine = published(demo["warehouse"], "select source_file, row_number, reason from quarantine")
    rows = set(zip(quarantine["source_file"], quarantine["row_number"]))
    for planted in demo["truth"]["invalid_rows"]:
        file = planted["file"] if planted["file"].startswith("purchases/") else f"purchases/{planted['file']}"
        assert (file, planted["row_number"]) in rows, planted
    assert quarantine["reason"].str.len().min() > 5


def test_gate_results_and_data_docs_kept_with_the_run(demo):
    runs_dir = demo["warehouse"] / "state" / "runs"
    (run_dir,) = [d for d in runs_dir.iterdir() if d.is_dir()]
    result = json.loads((run_dir / "gate" / "gate_result.json").read_text())
    assert result["passed"] is True and result["checks"]
    assert all(c["success"] for c in result["checks"] if c["level"] == "fail")
    assert (run_dir / "gate" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").exists()


# --- issue 8: pulled from the provincial platform, three flows reconciled --
# (before the tests below add deliveries to the shared warehouse)

def test_dag_pulled_the_platform_completely_despite_every_fault(demo):
    platform = demo["platform"]
    assert {r.fault for r in platform.requests if r.fault} == {
        "error500", "repeat_page", "slow", "rate_limited", "expired_token", "rename_field"}
    lake = duckdb.connect(str(demo["warehouse"] / "state" / "lake.duckdb"), read_only=True)
    try:
        renamed = quarantined_keys(lake, "catalogue")
        assert len(renamed) == 2 and all("minPacPubonlnPric (listed_price)" in r for r in renamed.values())
        # every record the platform shows is landed once, in its current version
        assert_complete(lake, platform, {"catalogue": set(renamed)})
        pulls = lake.execute("select count(*), count(*) filter (where records_in <> inserted + updated + unchanged "
                             "+ quarantined) from platform_pulls").fetchone()
        assert pulls[0] > 10 and pulls[1] == 0
    finally:
        lake.close()
    counts = published(demo["warehouse"], "select count(*) n from quarantine where source_file like 'api:catalogue?%'")
    assert counts["n"][0] == 2  # published with the other rejected rows
    assert "pull_platform" in demo["dag_log"]


def test_reconciliation_tables_find_exactly_what_the_platform_planted(demo):
    truth = demo["platform"].dataset.truth
    wh = demo["warehouse"]
    unmatched = published(wh, "select distinct fixmedins_code, platform_order_no from platform_unmatched_receipts")
    assert set(map(tuple, unmatched.values.tolist())) == {tuple(t) for t in truth["unknown_orders"]}
    recon = published(wh, "select fixmedins_code, order_no, delivered_qty, received_qty, recon_status "
                          "from platform_order_reconciliation where is_discrepancy")
    not_received = recon[recon["recon_status"] == "not_received"]
    mismatch = recon[recon["recon_status"] == "qty_mismatch"]
    assert set(zip(not_received["fixmedins_code"], not_received["order_no"])) == {tuple(t) for t in truth["never_received"]}
    assert {(c, o, int(d), int(r)) for c, o, d, r in
            mismatch[["fixmedins_code", "order_no", "delivered_qty", "received_qty"]].values.tolist()} == {
        tuple(t) for t in truth["qty_mismatch"]}
    overdue = published(wh, "select fixmedins_code, supplier_name, invoice_no, payment_status "
                            "from platform_invoice_payments where is_overdue")
    assert {(c, s, i, "paid_late" if st == "paid_late" else "unpaid") for c, s, i, st in overdue.values.tolist()} == {
        tuple(t) for t in truth["overdue_invoices"]}
    anomalies = published(wh, "select * from anomalies where anomaly_type = 'payment_overdue'")
    assert set(zip(anomalies["fixmedins_code"], anomalies["invoice_no"])) == set(
        zip(overdue["fixmedins_code"], overdue["invoice_no"]))
    assert anomalies["detail"].str.contains("请说明拖欠货款的原因").all() and anomalies["anomaly_id"].is_unique
    fill = published(wh, "select supplier_name, sum(delivered_qty) / sum(ordered_qty) as rate "
                         "from platform_supplier_fill_rate group by all order by rate limit 1")
    assert fill["supplier_name"][0] == truth["short_fill_supplier"] and fill["rate"][0] < 0.95
    timeliness = published(wh, "select sum(paid_on_time) on_time, sum(invoices_decided) decided, "
                               "sum(paid_late + unpaid_overdue) late from platform_payment_timeliness")
    assert timeliness["late"][0] == len(truth["overdue_invoices"])
    assert timeliness["on_time"][0] + timeliness["late"][0] == timeliness["decided"][0]
    # the alternative ratio sits beside the contract's, which it never changes
    side = published(wh, "select b.ratio, r.ratio as contract_ratio, b.numerator_basis, b.ratio_selected "
                         "from platform_purchase_ratio_by_orders b join platform_purchase_ratio r "
                         "using (fixmedins_code, month, category_group)")
    assert len(side) > 100 and (side["numerator_basis"] == "receipts").all()
    assert np.allclose(side["ratio"], side["contract_ratio"], equal_nan=True)
    assert np.allclose(side["ratio_selected"], side["ratio"], equal_nan=True)
    tables = published(wh, "select table_name, comment from duckdb_tables() where schema_name = 'main'")
    documented = dict(zip(tables["table_name"], tables["comment"]))
    assert all(" / " in (documented.get(t) or "") for t in PLATFORM_TABLES)


def test_no_credential_in_any_log(demo):
    """The token reached the client (the pull worked) but no log line, task
    log, run file or published table carries it."""
    texts = [demo["dag_log"]]
    for folder in (demo["airflow_home"] / "logs", demo["warehouse"] / "state" / "runs"):
        texts += [p.read_text(errors="replace") for p in folder.rglob("*")
                  if p.is_file() and p.suffix in (".log", ".json", ".txt", "")]
    assert len(texts) > 5 and not any(PLATFORM_TOKEN in text for text in texts)
    runs = published(demo["warehouse"], "select message from runs")
    quarantine = published(demo["warehouse"], "select raw_content, reason from quarantine")
    assert not runs["message"].fillna("").str.contains(PLATFORM_TOKEN).any()
    assert not quarantine.fillna("").apply(lambda c: c.str.contains(PLATFORM_TOKEN)).any().any()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


FIGURES = {
    "platform_purchase_ratio": "select * from platform_purchase_ratio order by all",
    "platform_purchase_ratio_region": "select * from platform_purchase_ratio_region order by all",
    "price_deviation_index": "select * from price_deviation_index order by all",
    "vbp_completion": "select * from vbp_completion order by all",
    "anomalies": "select * from anomalies order by all",
}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "yaocai"), *args], capture_output=True, text=True)


def test_rerun_same_as_of_loads_nothing_and_gives_identical_figures(demo):
    before = {name: published(demo["warehouse"], sql) for name, sql in FIGURES.items()}
    completed = run_cli("run", "--landing", str(demo["landing"]), "--warehouse", str(demo["warehouse"]),
                        "--as-of", AS_OF.isoformat(), "--quiet")
    assert completed.returncode == 0, completed.stderr
    runs = published(demo["warehouse"], "select * from runs order by started_at")
    assert len(runs) == 2 and runs.iloc[-1]["rows_in"] == 0
    for name, sql in FIGURES.items():
        pd.testing.assert_frame_equal(before[name], published(demo["warehouse"], sql), check_exact=True, obj=name)


def test_broken_feed_ends_in_quarantine_and_failing_gate_keeps_publication(demo, monkeypatch):
    warehouse, landing = demo["warehouse"], demo["landing"]
    broken = landing / "purchases" / "zz-broken.csv"
    broken.write_text("infno,fixmedins_code,fixmedins_bchno,med_list_codg,finl_trns_pric,purc_retn_cnt,purc_retn_stoin_time\n"
                      "3503,H00000000000,ZZ1,XNOPE,abc,-1,not-a-date\n", encoding="utf-8")
    (landing / "products" / "zz-empty.csv").write_bytes(b"")
    # A valid line worth over a million yuan (100 stents) must not overflow
    # any amount computation.
    institution, product = published(warehouse, "select fixmedins_code, med_list_codg from purchase_lines "
                                                "where category_group = 'hvc' limit 1").iloc[0]
    (landing / "purchases" / "zz-stents.csv").write_text(
        "infno,fixmedins_code,fixmedins_bchno,med_list_codg,finl_trns_pric,purc_retn_cnt,purc_retn_stoin_time,platform_order_no\n"
        f"3503,{institution},ZZ-BIG-1,{product},12345.67,100,2026-10-20 10:00:00,PO-BIG-1\n", encoding="utf-8")
    completed = run_cli("run", "--landing", str(landing), "--warehouse", str(warehouse), "--as-of", AS_OF.isoformat(), "--quiet")
    assert completed.returncode == 0, completed.stderr
    big = published(warehouse, "select amount from purchase_lines where fixmedins_bchno = 'ZZ-BIG-1'")
    assert float(big["amount"][0]) == 1234567.0
    quarantine = published(warehouse, "select * from quarantine where source_file in ('purchases/zz-broken.csv', 'products/zz-empty.csv')")
    assert len(quarantine) == 2
    reasons = " ".join(quarantine["reason"])
    assert "unknown" in reasons or "cannot read" in reasons
    assert "empty file" in reasons

    # Now a gate that fails: the publication must stay byte for byte.
    digest = file_digest(warehouse / "yaocai.duckdb")
    import expectations.suites as suites
    import great_expectations.expectations as gxe

    original = suites.published_suites

    def with_impossible_check():
        result = original()
        result["anomalies"].expectations.append(
            gxe.ExpectTableRowCountToEqual(value=-1, meta={"level": "fail"}))
        return result

    monkeypatch.setattr(suites, "published_suites", with_impossible_check)
    from yaocai.pipeline import PipelineError, run_pipeline

    with pytest.raises(PipelineError, match="quality gate failed"):
        run_pipeline(landing, warehouse, AS_OF)
    assert file_digest(warehouse / "yaocai.duckdb") == digest
    con = duckdb.connect(str(warehouse / "state" / "lake.duckdb"), read_only=True)
    status, gate_passed, message = con.execute(
        "select status, gate_passed, message from runs order by started_at desc limit 1").fetchone()
    con.close()
    assert (status, gate_passed) == ("failed", False) and "expect_table_row_count_to_equal" in message


def test_second_run_refuses_while_one_is_running(demo):
    from foundation.layout import Layout
    from foundation.locking import warehouse_lock

    with warehouse_lock(Layout(demo["warehouse"]).run_lock, "test holder"):
        completed = run_cli("run", "--landing", str(demo["landing"]), "--warehouse", str(demo["warehouse"]),
                            "--as-of", AS_OF.isoformat(), "--quiet")
    assert completed.returncode == 3
    assert "another yaocai run is writing" in completed.stderr and "test holder" in completed.stderr


def test_reader_keeps_a_consistent_view_during_publish(demo):
    warehouse = demo["warehouse"]
    reader = duckdb.connect(str(warehouse / "yaocai.duckdb"), read_only=True)
    try:
        runs_before = reader.execute("select count(*) from runs").fetchone()[0]
        completed = run_cli("run", "--landing", str(demo["landing"]), "--warehouse", str(warehouse),
                            "--as-of", AS_OF.isoformat(), "--quiet")
        assert completed.returncode == 0, completed.stderr
        # The open reader still sees its snapshot, completely.
        assert reader.execute("select count(*) from runs").fetchone()[0] == runs_before
        assert reader.execute("select count(*) from purchase_lines").fetchone()[0] > 0
    finally:
        reader.close()
    assert published(warehouse, "select count(*) n from runs")["n"][0] > runs_before


def test_target_comparison_shows_each_seed_city_against_its_own_plan_figure(demo):
    plan = pd.read_csv(REPO / "dbt_project" / "seeds" / "plan_targets.csv", dtype={"city_admdvs": str})
    comparison = published(demo["warehouse"], "select * from plan_target_comparison")
    merged = plan.merge(comparison, on=["city_admdvs", "indicator", "category_group"], suffixes=("_plan", ""))
    assert len(merged) == len(plan) == len(comparison)
    assert np.allclose(merged["target_2025_plan"].astype(float), merged["target_2025"].astype(float), equal_nan=True)
    ratios = comparison[comparison["indicator"] == "platform_purchase_ratio"]
    region = published(demo["warehouse"], "select admdvs, category_group, ytd_ratio from platform_purchase_ratio_region "
                       "where region_level = 'city' and year(month) = 2026 "
                       "qualify month = max(month) over (partition by admdvs, category_group)")
    check = ratios.merge(region, left_on=["city_admdvs", "category_group"], right_on=["admdvs", "category_group"])
    assert len(check) == len(ratios) and np.allclose(check["actual_value"], check["ytd_ratio"])
    assert ((check["actual_value"] >= check["target_2025"]) == check["meets_target"]).all()
    lvliang = comparison[(comparison["city_admdvs"] == "141100") & (comparison["indicator"] == "vbp_varieties_implemented")
                         & (comparison["category_group"] == "drug")].iloc[0]
    assert lvliang["target_2025"] == 800 and lvliang["meets_target"] == (lvliang["actual_value"] >= 800)


def test_vbp_region_rollups_add_up_from_public_agreements(demo):
    detail = published(demo["warehouse"], "select * from vbp_completion where ownership = 'public'")
    region = published(demo["warehouse"], "select * from vbp_completion_region where region_level = 'city' and group_code is not null")
    detail["city"] = detail["admdvs"].str[:4] + "00"
    sums = detail.groupby(["city", "batch_code", "group_code"])[["agreed_qty", "purchased_qty"]].sum().reset_index()
    check = sums.merge(region, left_on=["city", "batch_code", "group_code"], right_on=["admdvs", "batch_code", "group_code"],
                       suffixes=("_sum", ""))
    assert len(check) == len(region) == len(sums)
    assert np.allclose(check["agreed_qty_sum"].astype(float), check["agreed_qty"].astype(float))
    assert np.allclose(check["purchased_qty"].astype(float) / check["agreed_qty"].astype(float), check["completion_rate"])
    lagging = set(zip(detail.loc[detail["is_lagging"], "fixmedins_code"], detail.loc[detail["is_lagging"], "group_code"]))
    assert {(p["fixmedins_code"], p["group_code"]) for p in demo["truth"]["vbp_lagging"]} == lagging


def test_missing_uploads_are_listed_never_a_zero_ratio(demo):
    completeness = published(demo["warehouse"], "select * from upload_completeness")
    ratios = published(demo["warehouse"], "select fixmedins_code, month from platform_purchase_ratio")
    missing = completeness[~completeness["has_uploads"]]
    clash = missing.merge(ratios, on=["fixmedins_code", "month"])
    assert clash.empty  # no ratio row where nothing was uploaded
    lines = published(demo["warehouse"], "select fixmedins_code, month, count(*) n from purchase_lines "
                      "where not is_after_as_of group by all")
    uploaded = completeness[completeness["has_uploads"]].merge(lines, on=["fixmedins_code", "month"])
    assert len(uploaded) == completeness["has_uploads"].sum() and (uploaded["n"] == uploaded["line_count"]).all()


def test_money_and_enforcement_tables_show_each_demo_case(demo):
    """Issue 16 (docs/money-and-enforcement.md): with the emulated platform the
    demo has an overdue settlement, a prepayment to recover, a refused
    retention with its failed condition, a purchase above its payment standard
    and a supplier with 断供 evidence; the direct settlement ledger is
    recomputed here from the lake's platform records (amounts, days, status)."""
    wh = demo["warehouse"]

    def count(sql: str) -> int:
        return int(published(wh, f"select count(*) as n from ({sql})")["n"][0])

    assert count("select * from settlement_direct_ledger where is_overdue") > 0
    assert count("select * from settlement_prepayment where prepayment_status = 'to_recover' and unrecovered_amount > 0") > 0
    assert count("select * from settlement_retained_savings where retention_status = 'refused' "
                 "and failed_conditions is not null and retained_amount = 0") > 0
    assert count("select * from payment_standard_excess_lines where extra_cost > 0 "
                 "and unit_price > standard_unit_price") > 0
    # the supplier the emulator plants as delivering short (platform_emulator/dataset.py)
    short = demo["platform"].dataset.truth["short_fill_supplier"]
    evidence = published(wh, "select * from credit_evaluation_evidence where evidence_type = 'supply_shortfall'")
    assert short in set(evidence["party_code"]) and evidence["proposed_level"].notna().all()

    con = duckdb.connect(str(wh / "state" / "lake.duckdb"), read_only=True)
    try:
        shipments = con.execute("select * from platform_deliveries").df()
        payments = con.execute("select * from platform_payments").df()
        winners = con.execute("select med_list_codg, winning_price, cycle_start, cycle_end from vbp_results").df()
    finally:
        con.close()
    shipments = shipments[shipments["confirm_at"].notna()].copy()
    shipments["receipt"] = shipments["confirm_at"].dt.date
    shipments = shipments[shipments["receipt"] <= AS_OF]
    priced = shipments.merge(winners, on="med_list_codg")
    priced = priced[(priced["receipt"] >= priced["cycle_start"].dt.date) & (priced["receipt"] <= priced["cycle_end"].dt.date)]
    priced = priced.sort_values("winning_price").drop_duplicates("shipment_id")
    totals = shipments.groupby(["fixmedins_code", "supplier_name", "invoice_no"])["invoice_total"].max().rename("total")
    paid = payments[payments["pay_at"].dt.date <= AS_OF].sort_values(["pay_at", "pay_order_id"]).copy()
    paid["running"] = paid.groupby(["fixmedins_code", "supplier_name", "invoice_no"])["pay_amount"].cumsum()
    paid = paid.join(totals, on=["fixmedins_code", "supplier_name", "invoice_no"])
    settled = (paid[paid["running"].astype(float) >= paid["total"].astype(float) - 0.01]
               .groupby(["fixmedins_code", "supplier_name", "invoice_no"])["pay_at"].min().dt.date.rename("settled"))
    ref = priced.join(settled, on=["fixmedins_code", "supplier_name", "invoice_no"])
    ref["amount_payable"] = (ref["shipped_qty"].astype(float) * ref["winning_price"].astype(float)).round(2)
    ref["days"] = [((s if isinstance(s, dt.date) else AS_OF) - r).days for s, r in zip(ref["settled"], ref["receipt"])]
    ref["status"] = np.where(ref["settled"].notna(), np.where(ref["days"] <= 30, "settled_on_time", "settled_late"),
                             np.where(ref["days"] > 30, "unsettled_overdue", "unsettled_not_due"))

    ledger = published(wh, "select shipment_id, amount_payable, coalesce(days_to_settlement, days_outstanding) as days, "
                           "settlement_status as status from settlement_direct_ledger")
    assert len(ledger) == len(ref) > 0
    merged = ledger.merge(ref[["shipment_id", "amount_payable", "days", "status"]], on="shipment_id", suffixes=("", "_ref"))
    assert len(merged) == len(ledger)
    assert np.allclose(merged["amount_payable"].astype(float), merged["amount_payable_ref"])
    assert (merged["days"] == merged["days_ref"]).all() and (merged["status"] == merged["status_ref"]).all()
