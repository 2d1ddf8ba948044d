"""The quality gate: validate the build file before it is published.

GX's SQL datasource does not work on DuckDB through duckdb-engine (every
expectation errors in resolve_metric_bundle), so tables are read from
DuckDB into pandas and validated as DataFrames. Memory stays bounded:
marts are aggregates; purchase_lines and the landed purchases are checked on
a fixed-size reproducible sample, while their exact facts (keys, counts,
accounting) are computed in SQL and validated as small frames.

An incremental build (yaocai/incremental.py) changes the month-incremental
tables only in the months it rebuilt; their other rows are byte for byte
those of the previous publication, which passed this gate. For those tables
the gate validates the rebuilt months' rows (``rebuilt_months``), so its
cost follows the night's data, not history. Every other table is validated
whole, and the SQL facts (row counts, lake vs published lines, accounting)
always cover everything.

Results go to OUT_DIR/gate_result.json and GX Data Docs under OUT_DIR/gx.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from foundation.faults import failpoint

log = logging.getLogger("yaocai.gate")

SAMPLE_ROWS = 200_000  # upper bound on the rows one run landed, validated in pandas (a night is ~60 k: all of them)
# Published tables too large to validate whole are validated on a sample of
# this size: their keys and counts are checked exactly in SQL (dbt tests,
# run_completeness), the sample is for value ranges, where a fault in 1 row
# in 10,000 still shows ~5 times. GX's time grows with the rows (~1 s per
# 100 k rows per suite), and it is paid every night.
PUBLISHED_SAMPLE_ROWS = 50_000
DATA_DOCS_SITE = "local_site"
DATA_DOCS_DIR = Path("gx", "uncommitted", "data_docs", DATA_DOCS_SITE)  # under the run's gate folder (README)
GATE_DUCKDB_MEMORY_LIMIT = "1GB"  # DuckDB's share of the gate's memory (frames come on top)
# Suites named after a published table validate that table; these read a
# bounded sample instead (the table can hold tens of millions of rows).
SAMPLED_TABLES = {"purchase_lines_sample": "purchase_lines",
                  # price monitoring: institution × product × month grains
                  "price_benchmarks_sample": "price_benchmarks", "price_savings_sample": "price_savings"}


@dataclass
class GateOutcome:
    passed: bool
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    data_docs: str | None = None
    seconds_by_suite: dict[str, float] = field(default_factory=dict)  # reading + validating, for profiles


def _reader(build: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> Callable[[], pd.DataFrame]:
    return lambda: build.execute(sql, params or []).df()


def _rebuilt_rows(table: str, rebuilt: dict[str, list[str]]) -> str:
    """Predicate: every row, or only the rebuilt months' rows when an incremental build left the rest unchanged."""
    if table not in rebuilt:
        return "true"
    months = ", ".join(f"date '{dt.date.fromisoformat(m)}'" for m in rebuilt[table]) or "null"
    return f"month in ({months})"


def _table_sql(table: str, rebuilt: dict[str, list[str]]) -> str:
    """The table, or only its rebuilt months when an incremental build left the rest unchanged."""
    if table not in rebuilt:
        return f"main.{table}"
    return f"(select * from main.{table} where {_rebuilt_rows(table, rebuilt)})"


def _sample_sql(table: str, condition: str, rows: int) -> str:
    """A reproducible uniform sample of at most ``rows`` of the table's rows
    meeting ``condition``. The sample is drawn over row ids, then those rows
    are read: a reservoir over whole rows moved every column of every
    qualifying row through the sampler, 10x slower (price_savings' rebuilt
    months at 20 M lines: 5.3 s against 0.45 s; issue 18). The condition is
    applied in a subquery because DuckDB samples a table before its WHERE
    (that once validated 874 of a night's 76,522 lines at 20 M)."""
    return (f"select * from {table} where rowid in (select rowid from (select rowid from {table} "
            f"where {condition}) using sample reservoir({rows} rows) repeatable (42))")


def _frames(build: duckdb.DuckDBPyConnection, run_id: str, previous_db: Path | None,
            published_suite_names: list[str],
            rebuilt: dict[str, list[str]] | None = None) -> dict[str, pd.DataFrame | Callable[[], pd.DataFrame]]:
    """Everything the suites validate, keyed by suite name. The tables are
    given as readers, called when their suite runs, so one table is in memory
    at a time: the published marts grow with institutions × months of
    history, and holding them all at once does not stay bounded."""
    frames: dict[str, pd.DataFrame | Callable[[], pd.DataFrame]] = {}
    # Landed rows of this run (files loaded by this run), bounded.
    for feed in ("institutions", "products", "listed_prices", "vbp_results", "vbp_agreed_volumes", "purchases"):
        frames[f"landed_{feed}"] = _reader(
            build,
            _sample_sql(f"lake.main.{feed}", "_file_id in (select file_id from lake.main.ingest_manifest "
                                             "where run_id = ? and status = 'loaded')", SAMPLE_ROWS),
            [run_id],
        )
    rebuilt = rebuilt or {}
    for name in published_suite_names:
        if name in SAMPLED_TABLES:
            table = SAMPLED_TABLES[name]
            frames[name] = _reader(build, _sample_sql(f"main.{table}", _rebuilt_rows(table, rebuilt),
                                                      PUBLISHED_SAMPLE_ROWS))
        else:
            frames[name] = _reader(build, f"select * from {_table_sql(name, rebuilt)}")
    frames["run_accounting"] = build.execute(
        """select source_file, rows_in, rows_loaded, rows_quarantined,
                  rows_in = rows_loaded + rows_quarantined as balanced
           from lake.main.ingest_manifest where run_id = ?""", [run_id]).df()
    frames["run_completeness"] = build.execute(
        """select (select count(*) from lake.main.purchases) as lake_lines,
                  (select count(*) from main.purchase_lines) as published_lines,
                  (select count(*) from lake.main.purchases) = (select count(*) from main.purchase_lines) as lines_kept""").df()
    published_tables = [r[0] for r in build.execute(
        "select table_name from duckdb_tables() where database_name = current_database() and schema_name = 'main' "
        "order by table_name").fetchall()]
    counts = {t: build.execute(f"select count(*) from main.{t}").fetchone()[0] for t in published_tables}
    rows = []
    if previous_db is not None:
        build.execute(f"attach '{previous_db}' as previous (read_only)")
        try:
            previous_tables = {r[0] for r in build.execute(
                "select table_name from duckdb_tables() where database_name = 'previous'").fetchall()}
            for table, current in counts.items():
                if table in previous_tables:
                    before = build.execute(f"select count(*) from previous.main.{table}").fetchone()[0]
                    rows.append({"table": table, "current": current, "previous": before,
                                 "ratio_to_previous": (current / before) if before else None})
        finally:
            build.execute("detach previous")
    frames["row_counts_vs_previous"] = pd.DataFrame(rows, columns=["table", "current", "previous", "ratio_to_previous"])
    return frames


def run_gate(build_db: Path, lake_db: Path, previous_db: Path | None, run_id: str, as_of: dt.date, out_dir: Path,
             rebuilt: dict[str, list[str]] | None = None) -> GateOutcome:
    """``rebuilt``: table → months rebuilt by an incremental build, for the
    month-incremental tables (validated on those months only); None or {}
    validates every table whole."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    from expectations.suites import published_suites

    out_dir.mkdir(parents=True, exist_ok=True)
    build = duckdb.connect(str(build_db), read_only=True)
    try:
        # The gate only streams tables into bounded frames (reservoir samples
        # of the large ones); DuckDB would otherwise keep the blocks it scanned
        # cached up to its limit (GBs at province scale) on top of the frames.
        build.execute(f"set memory_limit = '{GATE_DUCKDB_MEMORY_LIMIT}'")
        build.execute(f"attach '{lake_db}' as lake (read_only)")
        frames = _frames(build, run_id, previous_db, list(published_suites()), rebuilt)
        failpoint("gate.after_read")
        return _validate(frames, run_id, as_of, out_dir)
    finally:
        build.close()


def _validate(frames: dict, run_id: str, as_of: dt.date, out_dir: Path) -> GateOutcome:
    """Each suite on its frame (read from the still-open build file when its turn comes)."""
    import great_expectations as gx  # heavy import, only for the gate

    from great_expectations.data_context.types.base import ProgressBarsConfig

    from expectations.suites import landed_suites, published_suites, run_suites

    # An in-memory context: a file context rewrote its whole project YAML
    # for every asset, suite and checkpoint added (quadratic in the ~40
    # suites; a third of the gate's CPU time, issue 18). Only the Data Docs
    # site is written to disk, once, at the path a file context used.
    context = gx.get_context(mode="ephemeral")
    # GX's per-metric progress bars would flood the run and task logs.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.data_docs_sites = {DATA_DOCS_SITE: {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(out_dir / DATA_DOCS_DIR)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }}
    datasource = context.data_sources.add_or_update_pandas("yaocai")
    outcome = GateOutcome(passed=True)
    suites = {**landed_suites(), **published_suites(), **run_suites()}
    for name, suite in suites.items():
        started = time.monotonic()
        frame = frames.pop(name)
        if callable(frame):
            frame = frame()  # read now: one table in memory at a time
        if frame.empty and name.startswith(("landed_", "row_counts")):
            continue  # nothing new landed in this feed / no previous publication
        asset = datasource.add_dataframe_asset(name)
        batch_definition = asset.add_batch_definition_whole_dataframe(name)
        suite = context.suites.add(suite)
        validation = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch_definition, suite=suite))
        # No per-checkpoint UpdateDataDocsAction: it re-renders the whole
        # site after every suite (quadratic; most of the gate's time). The
        # site is built once below from the stored results, same pages.
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=name, validation_definitions=[validation], actions=[], result_format="SUMMARY"))
        result = checkpoint.run(batch_parameters={"dataframe": frame})
        for validation_result in result.run_results.values():
            for check in validation_result.results:
                config = check.expectation_config
                # GX's severity: critical (the default) fails the gate, warning and info are reported
                level = "fail" if str(getattr(config, "severity", "critical") or "critical").lower().endswith("critical") else "warn"
                column = config.kwargs.get("column") or config.kwargs.get("column_list")
                entry = {"suite": name, "expectation": config.type, "column": column, "level": level,
                         "success": bool(check.success), "rows": len(frame),
                         "unexpected_count": (check.result or {}).get("unexpected_count"),
                         "partial_unexpected_list": [str(v) for v in ((check.result or {}).get("partial_unexpected_list") or [])[:5]]}
                outcome.checks.append(entry)
                if not check.success:
                    text = f"{name}: {config.type}({column}) unexpected={entry['unexpected_count']} e.g. {entry['partial_unexpected_list']}"
                    (outcome.failures if level == "fail" else outcome.warnings).append(text)
        outcome.seconds_by_suite[name] = round(time.monotonic() - started, 3)
    outcome.passed = not outcome.failures
    context.build_data_docs()
    docs = out_dir / DATA_DOCS_DIR / "index.html"
    outcome.data_docs = str(docs) if docs.exists() else None
    (out_dir / "gate_result.json").write_text(json.dumps(
        {"run_id": run_id, "as_of": as_of.isoformat(), **asdict(outcome)}, ensure_ascii=False, indent=2, default=str))
    log.info("gate: %s, %d failures, %d warnings", "passed" if outcome.passed else "FAILED",
             len(outcome.failures), len(outcome.warnings))
    return outcome
