"""Incremental nightly builds give the publication a full rebuild gives
(issue 6): history is published, then a night's delivery, a late
correction restating an old month's file and a late file for another old
month arrive, with the as-of date moving forward. The incremental run
recomputes just those months; every published table must equal the one a
full rebuild of the same lake makes."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.nightly import split_night
from foundation.layout import DBT_PROJECT_DIR
from yaocai import incremental
from yaocai.pipeline import run_pipeline
from yaocai_demo import generate_demo_landing

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AS_OF = dt.date(2026, 10, 31)
# Columns that say when or in which run something happened, not what was computed.
RUN_COLUMNS = {"run_id", "loaded_at", "quarantined_at", "published_at", "started_at", "finished_at", "built_at"}
NOT_FIGURES = {"runs", "build_info"}  # the run history and how the file was built differ by design


def _rewrite_csv(path: Path, edit) -> None:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], edit(rows[0], rows[1:])
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *body])


def _correct_old_month(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    """A hospital's corrected file: one line withdrawn and the prices of the
    largest lines halved, which makes the next month's prices look like
    rises (so the month after a correction must be rebuilt too)."""
    price, count = header.index("finl_trns_pric"), header.index("purc_retn_cnt")
    corrected = [list(r) for r in rows[1:]]
    largest = sorted(range(len(corrected)), key=lambda i: -float(corrected[i][price] or 0) * float(corrected[i][count]))
    for i in largest[:10]:
        corrected[i][price] = f"{float(corrected[i][price]) * 0.5:.2f}"
    return corrected


def _late_lines(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    """Lines of an old month delivered late (new batch numbers)."""
    bchno = header.index("fixmedins_bchno")
    late = [list(r) for r in rows[:25]]
    for row in late:
        row[bchno] = "LATE" + row[bchno]
    return late


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    landing = root / "landing"
    generate_demo_landing(landing, as_of=AS_OF)
    night = split_night(landing, root / "night", AS_OF.isoformat(), lines=600)
    history_as_of = dt.date.fromisoformat(night["from_day"]) - dt.timedelta(days=1)

    warehouse = root / "warehouse"
    run_pipeline(landing, warehouse, history_as_of)  # history: a full rebuild
    first = json.loads(next((warehouse / "state" / "runs").glob("*/build_plan.json")).read_text())

    # An earlier night: the first lines of the night's delivery. Built from a
    # copy of the publication (the one before it was a full rebuild), it
    # leaves that publication retired for the next night to start from.
    shutil.copyfile(root / "night" / "night.csv", landing / "purchases" / f"{AS_OF}_night_a.csv")
    _rewrite_csv(landing / "purchases" / f"{AS_OF}_night_a.csv", lambda header, rows: rows[:150])
    earlier_ctx = run_pipeline(landing, warehouse, AS_OF)
    earlier = json.loads((warehouse / "state" / "runs" / earlier_ctx.run_id / "build_plan.json").read_text())

    # The night: the rest of its deliveries, a restated old file, a late file
    # for another old month; built from the publication before the last.
    shutil.copyfile(root / "night" / "night.csv", landing / "purchases" / f"{AS_OF}_night.csv")
    _rewrite_csv(landing / "purchases" / f"{AS_OF}_night.csv", lambda header, rows: rows[150:])
    _rewrite_csv(landing / "purchases" / "2025-08_a.csv", _correct_old_month)
    shutil.copyfile(landing / "purchases" / "2026-02_a.csv", landing / "purchases" / "2026-02_late.csv")
    _rewrite_csv(landing / "purchases" / "2026-02_late.csv", _late_lines)
    ctx = run_pipeline(landing, warehouse, AS_OF)
    second = json.loads((warehouse / "state" / "runs" / ctx.run_id / "build_plan.json").read_text())

    # The same lake, built in full. (Not a fresh ingest of the final landing:
    # the order files arrive in decides which of two conflicting lines is
    # kept, so only the same lake is a fair comparison of builds.)
    rebuilt = root / "rebuilt"
    (rebuilt / "state").mkdir(parents=True)
    shutil.copyfile(warehouse / "state" / "lake.duckdb", rebuilt / "state" / "lake.duckdb")
    os.environ["YAOCAI_FULL_REBUILD"] = "1"
    try:
        full_ctx = run_pipeline(landing, rebuilt, AS_OF)
    finally:
        del os.environ["YAOCAI_FULL_REBUILD"]
    assert json.loads((rebuilt / "state" / "runs" / full_ctx.run_id / "build_plan.json").read_text())["mode"] == "full"
    return {"warehouse": warehouse, "rebuilt": rebuilt, "first": first, "earlier": earlier, "second": second,
            "second_run_id": ctx.run_id, "history_as_of": history_as_of,
            "full_run_dir": rebuilt / "state" / "runs" / full_ctx.run_id}


def test_the_night_is_built_incrementally_over_the_months_it_touched(runs):
    assert runs["first"]["mode"] == "full"
    plan = runs["second"]
    assert plan["mode"] == "incremental", plan
    # The earlier night copied the publication; the night started from the
    # one the earlier night's publish replaced, with no copy (issue 18), and
    # rebuilt what both nights changed since that one.
    assert runs["earlier"]["mode"] == "incremental"
    assert runs["earlier"]["started_from"] == "a copy of the publication"
    assert plan["started_from"] == "the publication before the last"
    assert (runs["warehouse"] / "state" / "retired_publication.duckdb").exists()  # kept for the next night
    months = set(plan["rebuild_months"])
    # the restated and the late months, and the as-of month's lines (from the night on)
    assert {"2025-08-01", "2026-02-01", "2026-10-01"} <= months
    # nothing else of the 16 months: only what the night touched (and lines after the as-of date)
    assert months - {"2025-08-01", "2026-02-01", "2026-10-01"} <= {"2026-11-01", "2026-12-01"}
    con = duckdb.connect(str(runs["warehouse"] / "yaocai.duckdb"), read_only=True)
    try:
        mode, rebuilt = con.execute("select build_mode, rebuilt_months from build_info").fetchone()
    finally:
        con.close()
    assert mode == "incremental" and {m.isoformat() for m in rebuilt} == months


def test_nights_reuse_the_parse_yet_compile_with_their_own_vars(runs):
    """dbt's parse is made without the run's vars and kept in state/dbt_parse
    for the next build (yaocai/dbt_runner.py --parse-cache): the night's
    parse reused it and parsed no file, yet every build compiled its models
    with its own as-of date and months, not the project's default."""
    runs_dir = runs["warehouse"] / "state" / "runs"
    cache = runs["warehouse"] / "state" / "dbt_parse"
    assert json.loads((cache / "perf_info.json").read_text())["parsed_path_count"] == 0  # the night's parse
    history_as_of = runs["history_as_of"]
    project_default = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["as_of"]
    assert history_as_of.isoformat() != project_default
    compiled = Path("dbt_target", "compiled", "yaocai", "models")
    [history_run] = [d for d in runs_dir.iterdir() if d.name.startswith(history_as_of.isoformat())]
    priced = (history_run / compiled / "intermediate" / "core" / "int_purchase_lines_priced.sql").read_text()
    assert f"date '{history_as_of}'" in priced and project_default not in priced
    night = runs_dir / runs["second_run_id"]
    lines = (night / compiled / "marts" / "core" / "purchase_lines.sql").read_text()
    months = ", ".join(f"date '{m}'" for m in runs["second"]["rebuild_months"])
    assert f"where month in ({months})" in lines


def test_the_nights_data_tests_read_the_rebuilt_months_of_incremental_tables(runs):
    """dbt's generic tests on a month-incremental table read its rebuilt
    months at night (macros/incremental.sql, default__get_where_subquery),
    the whole table in a full rebuild, and tables rebuilt whole always whole."""
    runs_dir = runs["warehouse"] / "state" / "runs"
    tests = Path("dbt_target", "compiled", "yaocai", "models", "marts", "core")
    months = ", ".join(f"date '{m}'" for m in runs["second"]["rebuild_months"])

    def compiled(run_dir: Path, schema_file: str, prefix: str) -> list[str]:
        found = sorted((run_dir / tests / schema_file).glob(f"{prefix}*.sql"))
        assert found, (run_dir, schema_file, prefix)
        return [path.read_text() for path in found]

    night, full = runs_dir / runs["second_run_id"], runs["full_run_dir"]
    for prefix in ("relationships_purchase_lines", "accepted_values_purchase_lines", "not_null_purchase_lines",
                   "unique_combination"):
        for sql in compiled(night, "purchase_lines.yml", prefix):
            assert f"where month in ({months})) dbt_subquery" in sql, sql
        for sql in compiled(full, "purchase_lines.yml", prefix):
            assert "dbt_subquery" not in sql and "month in" not in sql, sql
    for sql in compiled(night, "anomalies.yml", "not_null_anomalies"):  # a table rebuilt whole
        assert "month in" not in sql, sql


def test_the_gate_validates_the_rebuilt_months_of_incremental_tables(runs):
    gate = json.loads((runs["warehouse"] / "state" / "runs" / runs["second_run_id"] / "gate" / "gate_result.json").read_text())
    rows = {check["suite"]: check["rows"] for check in gate["checks"]}
    months = [dt.date.fromisoformat(m) for m in runs["second"]["rebuild_months"]]
    con = duckdb.connect(str(runs["warehouse"] / "yaocai.duckdb"), read_only=True)
    try:
        count = lambda sql, *args: con.execute(sql, list(args)).fetchone()[0]  # noqa: E731
        # a month-incremental table: only its rebuilt months (the rest passed the gate before)
        in_months = count("select count(*) from price_deviation_index where list_contains(?, month)", months)
        assert 0 < rows["price_deviation_index"] == in_months < count("select count(*) from price_deviation_index")
        # a table rebuilt whole: validated whole
        assert rows["platform_purchase_ratio"] == count("select count(*) from platform_purchase_ratio")
    finally:
        con.close()
    # every line the night landed (fewer than the sample size), not a sample of the lake filtered afterwards
    lake = duckdb.connect(str(runs["warehouse"] / "state" / "lake.duckdb"), read_only=True)
    try:
        landed = lake.execute("select sum(rows_loaded) from ingest_manifest where run_id = ? and feed = 'purchases' "
                              "and status = 'loaded'", [runs["second_run_id"]]).fetchone()[0]
    finally:
        lake.close()
    assert rows["landed_purchases"] == landed > 600


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for table, column in con.execute(
            "select table_name, column_name from duckdb_columns() where database_name = ? and schema_name = 'main' "
            "order by table_name, column_index", [database]).fetchall():
        columns.setdefault(table, []).append(column)
    return columns


def _figures(con: duckdb.DuckDBPyConnection, database: str, table: str, columns: list[str]) -> pd.DataFrame:
    """The table's figures in a canonical row order: numbers as floats, sorted
    by every column with numbers rounded to 6 significant digits (so the
    order does not hinge on their last bits)."""
    kept = ", ".join(f'"{c}"' for c in columns if c not in RUN_COLUMNS)
    frame = con.execute(f'select {kept} from {database}.main."{table}"').df()
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    for column in numeric:
        frame[column] = frame[column].astype(float)
    sort_keys = frame.copy()
    for column in numeric:
        sort_keys[column] = sort_keys[column].map(lambda x: float(f"{x:.6g}") if pd.notna(x) else x)
    sort_keys = sort_keys.astype(str)
    order = sort_keys.sort_values(list(sort_keys.columns)).index
    return frame.loc[order].reset_index(drop=True)


def test_incremental_publication_equals_a_full_rebuild(runs):
    con = duckdb.connect()
    con.execute(f"attach '{runs['warehouse'] / 'yaocai.duckdb'}' as incr (read_only)")
    con.execute(f"attach '{runs['rebuilt'] / 'yaocai.duckdb'}' as rebuilt (read_only)")
    incr_tables, full_tables = _tables(con, "incr"), _tables(con, "rebuilt")
    assert incr_tables == full_tables
    compared, differences = 0, {}
    for table, columns in full_tables.items():
        if table in NOT_FIGURES:
            continue
        incr, full = _figures(con, "incr", table, columns), _figures(con, "rebuilt", table, columns)
        if len(incr) != len(full):
            differences[table] = f"{len(incr)} rows incremental, {len(full)} full"
            continue
        for column in full.columns:
            a, b = incr[column], full[column]
            if column in full.select_dtypes("number").columns:
                # Doubles summed in another row order differ in the last
                # bits, and a cent-rounded amount computed from them can tip
                # by one cent: equal within 1e-9 relative or one cent.
                same = np.isclose(a, b, rtol=1e-9, atol=0.0100001, equal_nan=True)
            else:
                same = ((a == b).fillna(False) | (a.isna() & b.isna())).to_numpy(dtype=bool)
            if not same.all():
                differences[f"{table}.{column}"] = f"{int((~same).sum())} of {len(full)} rows differ"
        compared += len(full)
    assert not differences, differences
    assert compared > 50_000  # the comparison saw the data, not empty tables
    # the correction's consequence in the month after it was rebuilt too
    assert con.execute("select count(*) from incr.main.anomalies where anomaly_type = 'price_rise_institution' "
                       "and month = date '2025-09-01'").fetchone()[0] > 0
    # the late lines made it in
    assert con.execute("select count(*) from incr.main.purchase_lines where fixmedins_bchno like 'LATE%'").fetchone()[0] == 25


def test_anything_but_new_purchase_lines_forces_a_full_rebuild(runs, tmp_path):
    warehouse = runs["warehouse"]
    lake_copy = tmp_path / "lake.duckdb"
    shutil.copyfile(warehouse / "state" / "lake.duckdb", lake_copy)
    published = warehouse / "yaocai.duckdb"
    lake = duckdb.connect(str(lake_copy))
    try:
        composition = incremental.purchase_composition(lake)
        assert incremental.plan_build(lake, published, AS_OF, composition).line() == "incremental: 0 months rebuilt (none)"
        assert incremental.plan_build(lake, published, runs["history_as_of"], composition).mode == "full"
        assert incremental.plan_build(lake, tmp_path / "missing.duckdb", AS_OF, composition).mode == "full"
        # one more day moves the as-of month: November is rebuilt (its lines' as-of flags change)
        later = incremental.plan_build(lake, published, dt.date(2026, 11, 1), composition)
        assert later.mode == "incremental" and "2026-11-01" in later.rebuild_months
        # a new listed-price delivery
        lake.execute("""insert into ingest_manifest (file_id, feed, source_file, status, rows_in, rows_loaded,
                        rows_quarantined, run_id, loaded_at)
                        values ('x', 'listed_prices', 'listed_prices/new.csv', 'loaded', 1, 1, 0, 'r', now())""")
        plan = incremental.plan_build(lake, published, AS_OF, composition)
        assert plan.mode == "full" and "listed-price" in plan.reason
    finally:
        lake.close()


def test_a_threshold_coming_into_force_between_two_nights_forces_a_full_rebuild(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "monitoring_thresholds.csv").write_text(
        "name,value,unit,effective_from,effective_to,source,description\n"
        "anomaly_peer_outlier_ratio,1.5,multiple,2020-01-01,2026-11-01,s,d\n"
        "anomaly_peer_outlier_ratio,1.4,multiple,2026-11-01,,s,d\n")
    (seeds / "plan_targets.csv").write_text("city_admdvs,target_2025\n141100,0.9\n")  # not dated: ignored
    day = dt.date
    assert incremental.dated_seed_rows_changing(day(2026, 10, 1), day(2026, 10, 31), tmp_path) == []
    changed = incremental.dated_seed_rows_changing(day(2026, 10, 31), day(2026, 11, 1), tmp_path)
    assert changed == ["monitoring_thresholds anomaly_peer_outlier_ratio from 2020-01-01",
                       "monitoring_thresholds anomaly_peer_outlier_ratio from 2026-11-01"]
    # the project's own seeds parse (every dated row has ISO dates)
    assert isinstance(incremental.dated_seed_rows_changing(day(2020, 1, 1), day(2030, 1, 1)), list)
