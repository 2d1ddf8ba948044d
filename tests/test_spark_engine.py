"""`yaocai run --engine spark` publishes what `yaocai run` (DuckDB) publishes
(issue 17; docs/scale-out.md "Running yaocai on Spark").

One small demo landing, with the provincial platform's tables pulled from
the emulated platform (so the reconciliation marts are not empty), is run
on DuckDB; the very lake it made is then built on Spark (local[2], driver
1 GB) in a second warehouse, through the same gate, publish and reports.
The two published files must have the same tables and columns (names,
types, comments) and the same rows: doubles to 1e-9 relative (1e-9
absolute near 0), decimals to one cent (docs/scale-out.md, "Money rounding
across engines").

The landing's last day of purchase lines is held back (root/night/night.csv,
as in tests/test_incremental.py), so a nightly test on Spark can deliver it
to the module's Spark warehouse (``spark_runs``) and build again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from benchmarks.nightly import split_night
from foundation.layout import DBT_PROJECT_DIR, REPO_ROOT
from tests.platform_support import PUBLISHED as PLATFORM_MARTS
from tests.platform_support import client_env, start_emulator
from yaocai.pipeline import InvalidRunArguments, run_pipeline, start_run
from yaocai_demo import generate_demo_landing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AS_OF = dt.date(2026, 10, 31)
# Spark's build time is dbt's per-node overhead (~200 nodes), not data: a
# small landing keeps the module near 3 minutes on 2 cores.
DEMO_LINES = 6_000
sys.path.insert(0, str(REPO_ROOT / "scripts"))
import compare_publications  # noqa: E402


@pytest.fixture(scope="module")
def spark_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_engine")
    landing = root / "landing"
    generate_demo_landing(landing, purchase_lines=DEMO_LINES, as_of=AS_OF)
    night = split_night(landing, root / "night", AS_OF.isoformat(), lines=100)
    as_of = dt.date.fromisoformat(night["from_day"]) - dt.timedelta(days=1)

    duckdb_warehouse = root / "duckdb"
    platform = start_emulator(landing, as_of)
    saved = dict(os.environ)
    os.environ.update(client_env(platform))
    try:
        run_pipeline(landing, duckdb_warehouse, as_of, source="both")
    finally:
        os.environ.clear()
        os.environ.update(saved)
        platform.stop()

    # The same lake built on Spark (a fresh ingest could order conflicting
    # lines differently; the builds are what is compared).
    spark_warehouse = root / "spark"
    (spark_warehouse / "state").mkdir(parents=True)
    shutil.copyfile(duckdb_warehouse / "state" / "lake.duckdb", spark_warehouse / "state" / "lake.duckdb")
    lines: list[str] = []
    started = time.monotonic()
    ctx = run_pipeline(landing, spark_warehouse, as_of, on_step=lines.append, engine="spark")
    print(f"spark run: {time.monotonic() - started:.1f}s", *lines, sep="\n  ")
    return {"root": root, "landing": landing, "night": root / "night" / "night.csv", "as_of": as_of,
            "duckdb_warehouse": duckdb_warehouse, "spark_warehouse": spark_warehouse, "spark_run_id": ctx.run_id,
            "spark_lines": lines}


def test_the_spark_publication_equals_the_duckdb_publication(spark_runs):
    problems, stats = compare_publications.compare(
        spark_runs["duckdb_warehouse"] / "yaocai.duckdb", spark_runs["spark_warehouse"] / "yaocai.duckdb",
        compare_publications.ACROSS_ENGINES_DECIMAL_TOL, compare_publications.ACROSS_ENGINES_FLOAT_ABS_TOL)
    # the run history differs by design: the Spark warehouse's lake also holds the DuckDB run
    problems = [p for p in problems if not p.startswith("main.runs:")]
    assert problems == [], "\n".join(problems[:20])
    assert stats["tables"] >= 50 and stats["rows"] > 10_000, stats


def test_the_spark_run_went_through_spark_the_gate_and_the_reports(spark_runs):
    build_line = next(line for line in spark_runs["spark_lines"] if line.startswith("dbt build:"))
    assert "on Spark" in build_line, build_line
    run_dir = spark_runs["spark_warehouse"] / "state" / "runs" / spark_runs["spark_run_id"]
    log = (run_dir / "dbt_build.log").read_text()
    assert "spark: session local[2]" in log, log[-2000:]
    results = json.loads((run_dir / "dbt_target" / "build_results.json").read_text())
    assert results["args"]["target"] == "spark"
    gate = json.loads((run_dir / "gate" / "gate_result.json").read_text())
    duckdb_runs = spark_runs["duckdb_warehouse"] / "state" / "runs"
    duckdb_gate = json.loads(next(duckdb_runs.glob("*/gate/gate_result.json")).read_text())
    # the same suites over the same tables; the landed_* suites check what the
    # run itself ingested, and the Spark run's ingest found everything loaded
    def built(result: dict) -> list[str]:
        return sorted(c["suite"] for c in result["checks"] if not c["suite"].startswith("landed_"))

    assert gate["passed"] and built(gate) == built(duckdb_gate) and len(built(gate)) > 100
    assert (spark_runs["spark_warehouse"] / "reports" / spark_runs["as_of"].isoformat()).is_dir()


def test_the_fixture_has_what_spark_used_to_get_wrong(spark_runs):
    """Non-empty platform marts, and published text with a % and an
    apostrophe (seed text; detector text): compared equal above."""
    con = duckdb.connect(str(spark_runs["spark_warehouse"] / "yaocai.duckdb"), read_only=True)
    try:
        for table in PLATFORM_MARTS:
            assert con.execute(f"select count(*) from {table}").fetchone()[0] > 0, table
        assert con.execute("select count(*) from settlement_rules_applied where source like '%''%'").fetchone()[0]
        assert con.execute("select count(*) from anomalies where detail like '%\\%%' escape '\\'").fetchone()[0]
    finally:
        con.close()


def test_an_unknown_engine_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(InvalidRunArguments, match="engine must be one of duckdb, spark"):
        start_run(tmp_path, tmp_path / "warehouse", AS_OF, engine="hive")
    assert not (tmp_path / "warehouse").exists()


def test_dbt_parses_the_project_for_spark(tmp_path):
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "parse", "--target", "spark", "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(tmp_path / "target"),
         "--log-path", str(tmp_path / "logs"), "--no-use-colors"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "spark"


def _restate_without_lines(path: Path) -> None:
    """A hospital's file restated with its header only: every line of it withdrawn."""
    header = path.read_text(encoding="utf-8-sig").splitlines()[0]
    path.write_text(header + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def spark_night(spark_runs):
    """The held-back night delivered to the Spark warehouse, with a month's
    only file restated without lines (so that month's partitions must go),
    built again on Spark; and the same lake built in full on DuckDB."""
    landing, spark_warehouse = spark_runs["landing"], spark_runs["spark_warehouse"]
    shutil.copyfile(spark_runs["night"], landing / "purchases" / f"{AS_OF}_night.csv")
    emptied = sorted((landing / "purchases").glob("2026-01_*"))
    assert [p.name for p in emptied] == ["2026-01_a.csv"], emptied  # the month's only delivery
    _restate_without_lines(emptied[0])
    size_before = (spark_warehouse / "yaocai.duckdb").stat().st_size
    lines: list[str] = []
    started = time.monotonic()
    ctx = run_pipeline(landing, spark_warehouse, AS_OF, on_step=lines.append, engine="spark")
    print(f"spark night: {time.monotonic() - started:.1f}s", *lines, sep="\n  ")
    plan = json.loads((spark_warehouse / "state" / "runs" / ctx.run_id / "build_plan.json").read_text())

    rebuilt = spark_runs["root"] / "duckdb_full"
    (rebuilt / "state").mkdir(parents=True)
    shutil.copyfile(spark_warehouse / "state" / "lake.duckdb", rebuilt / "state" / "lake.duckdb")
    os.environ["YAOCAI_FULL_REBUILD"] = "1"
    try:
        run_pipeline(landing, rebuilt, AS_OF)
    finally:
        del os.environ["YAOCAI_FULL_REBUILD"]
    return {"plan": plan, "lines": lines, "duckdb_full": rebuilt, "size_before": size_before}


def test_a_night_on_spark_is_incremental_and_publishes_what_a_full_duckdb_build_does(spark_runs, spark_night):
    plan = spark_night["plan"]
    assert plan["mode"] == "incremental", plan
    assert {"2026-01-01", "2026-10-01"} <= set(plan["rebuild_months"]) <= {
        "2026-01-01", "2026-10-01", "2026-11-01", "2026-12-01"}, plan
    build_line = next(line for line in spark_night["lines"] if line.startswith("dbt build:"))
    assert "on Spark: incremental" in build_line, build_line
    # the lake's Parquet: the emptied month's partition is gone, the others are there
    partitions = {p.name for p in (spark_runs["spark_warehouse"] / "state" / "spark" / "lake" / "purchases").iterdir()}
    assert "_month=2026-01-01" not in partitions and {"_month=2025-12-01", "_month=2026-10-01"} <= partitions

    problems, stats = compare_publications.compare(
        spark_night["duckdb_full"] / "yaocai.duckdb", spark_runs["spark_warehouse"] / "yaocai.duckdb",
        compare_publications.ACROSS_ENGINES_DECIMAL_TOL, compare_publications.ACROSS_ENGINES_FLOAT_ABS_TOL)
    # how each file was built, and the run history, differ by design
    problems = [p for p in problems if not p.startswith(("main.runs:", "main.build_info:"))]
    assert problems == [], "\n".join(problems[:20])
    assert stats["tables"] >= 50 and stats["rows"] > 10_000, stats
    # the night's file is built anew, not on a copy of the last one with every
    # table replaced (which was twice the size: freed blocks stay in the file)
    published = spark_runs["spark_warehouse"] / "yaocai.duckdb"
    assert published.stat().st_size < 1.5 * spark_night["size_before"], (published.stat().st_size,
                                                                        spark_night["size_before"])
    con = duckdb.connect(str(spark_runs["spark_warehouse"] / "yaocai.duckdb"), read_only=True)
    try:
        months = {m for (m,) in con.execute("select distinct month from purchase_lines").fetchall()}
        assert dt.date(2026, 1, 1) not in months and dt.date(2025, 12, 1) in months
        assert con.execute("select count(*) from purchase_lines where receipt_date > ?",
                           [spark_runs["as_of"]]).fetchone()[0] > 0  # the night is in
    finally:
        con.close()
