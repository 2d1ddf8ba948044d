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
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.reference.boring import compute_reference
from yaocai.demo_data import generate_demo_landing

pytestmark = pytest.mark.integration

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
    env = airflow_env(home)
    subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([str(VENV_BIN / "airflow"), "pools", "set", "yaocai_duckdb_writer", "1", "duckdb writer"],
                   env=env, check=True, capture_output=True)
    conf = json.dumps({"landing": str(landing), "warehouse": str(warehouse), "as_of": AS_OF.isoformat()})
    completed = subprocess.run([str(VENV_BIN / "airflow"), "dags", "test", "yaocai_nightly", AS_OF.isoformat(), "-c", conf],
                               env=env, capture_output=True, text=True, cwd=root)
    log = completed.stdout + completed.stderr
    assert completed.returncode == 0 and "state=failed" not in log, log[-5000:]
    return {"root": root, "landing": landing, "warehouse": warehouse, "truth": truth, "dag_log": log}


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
    assert anomalies["detail"].str.contains("请说明").all()


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
    completed = run_cli("run", "--landing", str(landing), "--warehouse", str(warehouse), "--as-of", AS_OF.isoformat(), "--quiet")
    assert completed.returncode == 0, completed.stderr
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
    from yaocai.layout import Layout
    from yaocai.locking import warehouse_lock

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
