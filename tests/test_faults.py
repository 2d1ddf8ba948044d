"""Kill the pipeline (SIGKILL) at every step: the previous publication stays
intact, the next run recovers without manual cleanup, and the figures end
up exactly those of a clean run (issue: nothing lost, nothing wrong
published)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.platform_support import PUBLISHED as PLATFORM_TABLES
from foundation.faults import FAULT_ENV, POINTS
from yaocai_demo import generate_demo_landing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AS_OF = dt.date(2026, 10, 31)
YAOCAI = str(Path(sys.executable).with_name("yaocai"))
FIGURES = {
    "platform_purchase_ratio": "select * from platform_purchase_ratio order by all",
    "platform_purchase_ratio_region": "select * from platform_purchase_ratio_region order by all",
    "price_deviation_index": "select * from price_deviation_index order by all",
    "vbp_completion": "select * from vbp_completion order by all",
    "anomalies": "select * exclude (detail) from anomalies order by all",
    "purchase_lines": "select fixmedins_code, fixmedins_bchno, net_amount, net_qty_min_units from purchase_lines order by all",
}


def run(landing: Path, warehouse: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run([YAOCAI, "run", "--landing", str(landing), "--warehouse", str(warehouse),
                           "--as-of", AS_OF.isoformat(), "--quiet"], env=env, capture_output=True, text=True)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def figures(published: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(published), read_only=True)
    try:
        return {name: con.execute(sql).df() for name, sql in FIGURES.items()}
    finally:
        con.close()


def test_kill_at_every_step_keeps_publication_and_recovers(tmp_path):
    full = tmp_path / "full"
    generate_demo_landing(full, purchase_lines=1500, as_of=AS_OF)
    # The clean answer: one run over everything on a fresh warehouse.
    assert run(full, tmp_path / "clean").returncode == 0
    expected = figures(tmp_path / "clean" / "yaocai.duckdb")
    # Issue 8: without a platform pull the reconciliation tables exist, empty.
    clean = duckdb.connect(str(tmp_path / "clean" / "yaocai.duckdb"), read_only=True)
    try:
        for table in PLATFORM_TABLES:
            assert clean.execute(f"select count(*) from {table}").fetchone()[0] == 0, table
    finally:
        clean.close()

    # Baseline publication without the last two months; they arrive later.
    landing = tmp_path / "landing"
    shutil.copytree(full, landing)
    held_back = sorted((landing / "purchases").iterdir())[-2:]
    parked = tmp_path / "parked"
    parked.mkdir()
    for path in held_back:
        path.rename(parked / path.name)
    warehouse = tmp_path / "warehouse"
    assert run(landing, warehouse).returncode == 0
    published = warehouse / "yaocai.duckdb"
    for path in parked.iterdir():
        path.rename(landing / "purchases" / path.name)

    results = {}
    for point in POINTS:
        before = digest(published)
        completed = run(landing, warehouse, fault=point)
        assert completed.returncode == -signal.SIGKILL, (point, completed.stderr[-2000:])
        if point == "publish.after_rename":
            # The new file is whole: it opens and carries the new figures.
            assert digest(published) != before
            for name, frame in figures(published).items():
                pd.testing.assert_frame_equal(frame, expected[name], check_exact=True, obj=f"{point}: {name}")
        else:
            assert digest(published) == before, f"{point} touched the publication"
            figures(published)  # still opens and reads
        results[point] = "publication intact"

    completed = run(landing, warehouse)
    assert completed.returncode == 0, completed.stderr[-3000:]
    for name, frame in figures(published).items():
        pd.testing.assert_frame_equal(frame, expected[name], check_exact=True, obj=name)

    lake = duckdb.connect(str(warehouse / "state" / "lake.duckdb"), read_only=True)
    try:
        # Every delivery balanced and loaded exactly once, despite the kills.
        unbalanced = lake.execute("select count(*) from ingest_manifest where rows_in <> rows_loaded + rows_quarantined").fetchone()[0]
        assert unbalanced == 0
        loaded = lake.execute("select count(*) from ingest_manifest where status = 'loaded' and feed = 'purchases'").fetchone()[0]
        assert loaded == len(list((landing / "purchases").iterdir()))
        statuses = [r[0] for r in lake.execute("select status from runs order by started_at").fetchall()]
    finally:
        lake.close()
    # baseline + one killed run per point + the recovery run. Killed runs
    # are closed by the next run, none is left 'running': as failed, except
    # the one killed after its file was swapped in, which did publish.
    assert statuses[0] == "published" and statuses[-1] == "published"
    assert "running" not in statuses and statuses.count("failed") == len(POINTS) - 1
    assert statuses[POINTS.index("publish.after_rename") + 1] == "published"
