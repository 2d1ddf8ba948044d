"""The nightly pipeline as plain functions: start, then the steps of the one
step table in yaocai/steps.py (platform pull → ingest → reviews → dbt build
→ gate → publish → reports). ``yaocai run`` calls them in sequence
(:func:`run_pipeline`); the Airflow DAG calls the same functions, one task
each (dags/yaocai_nightly.py). Every step returns a dict whose ``line`` is its
one-line result. :func:`record_run` is the one writer of the ``runs`` table.

Every step is safe to repeat: ingest skips files it has seen, build starts
from an empty build file (full rebuild) or a fresh copy of the publication
(incremental: yaocai/incremental.py), the gate only reads, and publish swaps
in a complete file with one atomic rename, so the previous publication stays
intact until the new one is whole.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from ingest.lake import ensure_lake
from ingest.loader import ingest_landing
from foundation.layout import DBT_PROJECT_DIR, Layout, duckdb_memory_limit, duckdb_threads
from foundation.faults import failpoint
from foundation.locking import warehouse_lock
from yaocai.steps import ENGINES, SOURCES, STEPS

if TYPE_CHECKING:
    from yaocai.incremental import BuildPlan

log = logging.getLogger("yaocai.pipeline")

# Schemas dbt builds besides the published ones. Their views point into the
# lake, which analysts do not attach, so they never reach the publication: on
# DuckDB dbt builds them in a scratch file (dbt_project/macros/
# generate_database_name.sql), on Spark they are left out of the copy
# (yaocai/spark_engine.py), and the build step drops any that reach the
# build file all the same.
WORKING_SCHEMAS = ("staging", "intermediate", "seeds")


class PipelineError(RuntimeError):
    pass


class PermanentFailure(PipelineError):
    """Retrying cannot help: the same input fails the same way again (bad
    configuration, dbt models or tests failed, quality gate failed). The
    Airflow DAG fails such a task at once instead of retrying it; transient
    failures (a busy warehouse lock, I/O) stay plain errors and are retried."""


class ConfigurationError(PermanentFailure):
    pass


class BuildFailed(PermanentFailure):
    """dbt built a model wrongly or a dbt test failed (dbt exit status 1)."""


class GateFailed(PermanentFailure):
    pass


class InvalidRunArguments(ConfigurationError):
    """The run was asked for something it must refuse (an as-of date in the
    future, a bad setting); retrying cannot help."""


class ReportsFailed(PipelineError):
    """The publication stands, but the workbook/HTML report (or the docs copy)
    could not be made; recorded in the run's message."""


@dataclass
class RunContext:
    landing: str
    warehouse: str
    as_of: str  # ISO date
    run_id: str
    trigger: str = "cli"
    source: str = "files"  # files | api | both: where tonight's data come from (SOURCES)
    engine: str = "duckdb"  # duckdb | spark: which engine runs the dbt build (ENGINES)

    @property
    def layout(self) -> Layout:
        return Layout(Path(self.warehouse))

    def to_dict(self) -> dict:
        return asdict(self)


def new_run_id(as_of: dt.date) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return f"{as_of.isoformat()}_{now.strftime('%Y%m%dT%H%M%S%fZ')}"


def _lake(layout: Layout, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(layout.lake), read_only=read_only)
    con.execute(f"set memory_limit = '{duckdb_memory_limit()}'")
    return con




# Data are delivered for days that have ended, in China time. One day of
# slack covers a run started just after midnight UTC+8 with the next day's
# date; anything later is a mistyped date (2099-12-31 was accepted, and every
# "overdue" rule then fired: issue 13, item 7).
CHINA_TIME = "Asia/Shanghai"


def latest_allowed_as_of(now: dt.datetime | None = None) -> dt.date:
    from zoneinfo import ZoneInfo

    now = now or dt.datetime.now(dt.timezone.utc)
    return now.astimezone(ZoneInfo(CHINA_TIME)).date() + dt.timedelta(days=1)


def check_as_of(as_of: dt.date, now: dt.datetime | None = None) -> None:
    """Refuse an as-of date later than tomorrow in China time."""
    latest = latest_allowed_as_of(now)
    if as_of > latest:
        raise InvalidRunArguments(f"as-of date {as_of} is in the future: the latest allowed is {latest} "
                                  f"(tomorrow in {CHINA_TIME}); nothing was run")


def start_run(landing: str | Path | None, warehouse: str | Path, as_of: dt.date, trigger: str = "cli",
              run_id: str | None = None, source: str = "files", engine: str = "duckdb") -> RunContext:
    if source not in SOURCES:
        raise ConfigurationError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    if engine not in ENGINES:
        raise InvalidRunArguments(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    check_as_of(as_of)
    from foundation.publication import PublicationModeError, published_file_mode

    try:
        published_file_mode()  # a bad setting fails now, not after the build
    except PublicationModeError as exc:
        raise InvalidRunArguments(str(exc)) from None
    landing_path = Path(landing).resolve() if landing else None
    if source != "api" and (landing_path is None or not landing_path.is_dir()):
        raise ConfigurationError(f"landing directory {landing_path} does not exist")
    ctx = RunContext(str(landing_path) if landing_path else "", str(Path(warehouse).resolve()), as_of.isoformat(),
                     run_id or new_run_id(as_of), trigger, source, engine)
    layout = ctx.layout
    layout.ensure()
    with warehouse_lock(layout.lock, f"run {ctx.run_id} start", wait_seconds=600):
        con = _lake(layout)
        try:
            ensure_lake(con)
            record_run(con, ctx.run_id, opening_as_of=ctx.as_of, trigger=trigger)
        finally:
            con.close()
    layout.run_dir(ctx.run_id).mkdir(parents=True, exist_ok=True)
    (layout.run_dir(ctx.run_id) / "context.json").write_text(json.dumps(ctx.to_dict(), indent=2))
    return ctx


def record_run(con: duckdb.DuckDBPyConnection, run_id: str, fields: dict[str, object] | None = None, *,
               opening_as_of: str | None = None, trigger: str | None = None, only_while: str | None = None) -> None:
    """The one writer of the lake's ``runs`` table (published as ``runs``):
    opens a run's record (``opening_as_of`` given: status running, started
    now) and/or sets ``fields`` of it; with ``only_while`` only while the
    record still has that status (a record another process closed stays)."""
    if opening_as_of is not None:
        con.execute("insert or replace into runs (run_id, as_of, status, started_at, trigger) "
                    "values (?, ?, 'running', current_timestamp, ?)", [run_id, opening_as_of, trigger])
    if fields:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        condition, values = (" and status = ?", [only_while]) if only_while else ("", [])
        con.execute(f"update runs set {assignments} where run_id = ?{condition}", [*fields.values(), run_id, *values])


def _update_run(layout: Layout, run_id: str, **fields: object) -> None:
    con = _lake(layout)
    try:
        record_run(con, run_id, fields)
    finally:
        con.close()


def fail_run(ctx: RunContext, message: str) -> None:
    """Record a failed run; the previous publication is untouched."""
    with warehouse_lock(ctx.layout.lock, f"run {ctx.run_id} fail", wait_seconds=600):
        _update_run(ctx.layout, ctx.run_id, status="failed", finished_at=dt.datetime.now(), message=message[:4000])


def pull_platform_step(ctx: RunContext, client=None, progress=None) -> dict:
    """Pull what is new on the provincial platform's API (orders, deliveries,
    payments, catalogue) into the lake (ingest/platform_loader.py). Each page
    commits with its watermark, so a failure keeps what was committed and the
    next pull resumes there. Does nothing when the run's source is files."""
    if ctx.source not in ("api", "both"):
        return {"skipped": True, "line": f"skipped (source={ctx.source})"}
    from ingest.platform_client import PlatformClient
    from ingest.platform_loader import pull_platform

    layout = ctx.layout
    client = client or PlatformClient.from_environment()
    report = None
    with warehouse_lock(layout.lock, f"run {ctx.run_id} platform pull", wait_seconds=600):
        con = _lake(layout)
        try:
            report = pull_platform(con, client, ctx.run_id, progress=progress)
            con.execute("checkpoint")
        except Exception as exc:
            report = getattr(exc, "report", report)  # the pages committed before the failure
            raise
        finally:
            con.close()
            if report is not None:
                (layout.run_dir(ctx.run_id) / "platform_pull.json").write_text(
                    json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str))
    line = report.line()
    log.info("platform pull: %s", line)
    return {"records_in": report.records_in, "quarantined": report.quarantined, "totals": report.totals(),
            "line": line}


INGEST_STAGE_DIR = "ingest_stage"


def ingest_step(ctx: RunContext, progress=None) -> dict:
    if ctx.source == "api":
        return {"summary": "landing files not read (source=api)", "rows_in": 0, "rows_loaded": 0,
                "rows_quarantined": 0, "line": "skipped (source=api)"}
    layout = ctx.layout
    with warehouse_lock(layout.lock, f"run {ctx.run_id} ingest", wait_seconds=600):
        # Files are staged in the run's folder; what a killed ingest left
        # there is removed by the next one (it holds the lock: no other
        # ingest is staging).
        for leftover in (layout.state / "runs").glob(f"*/{INGEST_STAGE_DIR}"):
            shutil.rmtree(leftover, ignore_errors=True)
        con = _lake(layout)
        try:
            report = ingest_landing(Path(ctx.landing), con, ctx.run_id, progress=progress,
                                    stage_dir=layout.run_dir(ctx.run_id) / INGEST_STAGE_DIR)
            loaded_files = sum(1 for f in report.files if f.status == "loaded")
            record_run(con, ctx.run_id, {"rows_in": report.rows_in, "rows_loaded": report.rows_loaded,
                                         "rows_quarantined": report.rows_quarantined, "files_loaded": loaded_files})
            con.execute("checkpoint")
        finally:
            con.close()
    files = [asdict(f) for f in report.files]
    (layout.run_dir(ctx.run_id) / "ingest.json").write_text(json.dumps(files, ensure_ascii=False, indent=2))
    log.info("ingest: %s", report.summary())
    return {"summary": report.summary(), "rows_in": report.rows_in, "rows_loaded": report.rows_loaded,
            "rows_quarantined": report.rows_quarantined, "line": _ingest_line(report)}


def _ingest_line(report) -> str:
    by_status: dict[str, int] = {}
    for f in report.files:
        by_status[f.status] = by_status.get(f.status, 0) + 1
    loaded = by_status.pop("loaded", 0)
    files = f"{loaded} new file{'s' if loaded != 1 else ''}"
    others = {"duplicate_delivery": "already loaded", "rejected": "rejected", "already_rejected": "rejected before",
              "skipped_incomplete": "still being written"}
    extra = ", ".join(f"{n} {others.get(status, status)}" for status, n in sorted(by_status.items()))
    return (f"{files}{f' ({extra})' if extra else ''}, {report.rows_in:,} rows → {report.rows_loaded:,} loaded, "
            f"{report.rows_quarantined:,} quarantined")


def reviews_step(ctx: RunContext) -> dict:
    """Apply the review workbooks officers dropped into WAREHOUSE/review_inbox/
    (yaocai/reviews.py), before the build so tonight's publication shows them.
    A workbook with a bad row is not applied and is kept in
    review_inbox/needs_fix/ with its errors listed; the run goes on and its
    message says so."""
    from yaocai.reviews import outcome_json, process_inbox

    layout = ctx.layout
    outcome = process_inbox(layout.warehouse, run_id=ctx.run_id, wait_seconds=600)
    if outcome.workbooks:
        (layout.run_dir(ctx.run_id) / "reviews.json").write_text(outcome_json(outcome))
    if outcome.needs_fix:
        note = "; ".join(f"review workbook {w.file} NOT applied ({len(w.problems)} row(s) to fix: "
                         f"{w.problems[0]}; see {w.moved_to}.errors.txt)" for w in outcome.needs_fix)
        with warehouse_lock(layout.lock, f"run {ctx.run_id} reviews", wait_seconds=600):
            _update_run(layout, ctx.run_id, message=note[:4000])
    line = outcome.line()
    (log.warning if outcome.needs_fix else log.info)("reviews: %s", line)
    return {"workbooks": len(outcome.workbooks), "decisions": outcome.decisions,
            "needs_fix": [w.moved_to for w in outcome.needs_fix], "line": line}


def dbt_env(ctx: RunContext, lines_recomputed: int, incremental: bool = False) -> dict[str, str]:
    """Environment of the dbt process; ``lines_recomputed``: the purchase
    lines of the months the build recomputes (all the lake's in a full
    build); ``incremental``: the build recomputes some months only."""
    layout = ctx.layout
    run_dir = layout.run_dir(ctx.run_id)
    return {
        "YAOCAI_BUILD_DB": str(layout.build_db(ctx.run_id)),
        # where the working schemas go (dbt_project/macros/generate_database_name.sql)
        "YAOCAI_WORK_DB": IN_MEMORY if incremental else str(_work_db(run_dir)),
        "YAOCAI_WORKING_SCHEMAS": ",".join(WORKING_SCHEMAS),
        "YAOCAI_LAKE_DB": str(layout.lake),
        "YAOCAI_DBT_TARGET_PATH": str(run_dir / "dbt_target"),
        "YAOCAI_DUCKDB_MEMORY_LIMIT": duckdb_memory_limit(),
        "YAOCAI_DUCKDB_THREADS": str(duckdb_threads()),
        "YAOCAI_DUCKDB_TEMP_DIR": str(run_dir / "duckdb_tmp"),
        "YAOCAI_DBT_THREADS": os.environ.get("YAOCAI_DBT_THREADS") or str(_dbt_threads(lines_recomputed)),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


# An incremental build keeps its working tables in memory: they hold the
# rebuilt months only, and DuckDB writes a table to memory in about half the
# time it takes to compress it into a file (issue 18: the 20 M night's dbt
# build 59.8 → 56.0 s, the publication IDENTICAL). A full rebuild's working
# tables (1.1 GB compressed at 20 M lines) go to a scratch file: in memory
# they raised its peak RSS by 0.4 GiB, to 5.7 GiB of the 6 GiB target, for
# 6 % of its time.
IN_MEMORY = ":memory:"


def _work_db(run_dir: Path) -> Path:
    return run_dir / "work.duckdb"


def _remove_database_file(path: Path) -> None:
    """A DuckDB file and its write-ahead log, if there."""
    for name in (path.name, path.name + ".wal"):
        path.with_name(name).unlink(missing_ok=True)


# When a build recomputes this many purchase lines, dbt builds one model at
# a time: each heavy model then has DuckDB's whole memory limit and every
# core; two at once split the memory and spill (a full rebuild of 20 M lines
# on 2 cores: 431 s with two dbt threads, 249 s with one; benchmarks/
# RESULTS.md). Smaller builds keep two, which hides dbt's per-model
# overhead: a night at 20 M recomputes October and November, 1.3 M lines,
# and its dbt build took 34.5–36.2 s with two threads against 39.1–40.4 s
# with one (issue 18, three runs each way, alternating).
DBT_ONE_THREAD_FROM_LINES = 2_000_000


def _dbt_threads(lines: int) -> int:
    return 1 if lines >= DBT_ONE_THREAD_FROM_LINES else 2


def lines_recomputed(plan: BuildPlan, composition: set[tuple[str, dt.date, int]]) -> int:
    """Purchase lines of the months ``plan`` recomputes: the lake's
    ``composition`` (file, month, lines) in the rebuilt months, or all of it
    for a full build."""
    rebuilt = {dt.date.fromisoformat(month) for month in plan.rebuild_months}
    return sum(lines for _, month, lines in composition if not plan.incremental or month in rebuilt)


def build_step(ctx: RunContext) -> dict:
    """dbt build (seeds, models, data tests, unit tests) into the build file:
    a full rebuild into an empty file, or an incremental build into a copy
    of the previous publication that recomputes only the months whose lines
    changed (yaocai/incremental.py decides which).

    dbt runs in its own process: dbt-duckdb keeps its DuckDB instance (with
    the lake attached) open for the life of the process, which would block
    this process from writing the lake afterwards."""
    from yaocai.incremental import plan_build, purchase_composition, record_build
    from foundation.publication import copy_verified, discard_retired, readable_path, take_retired_publication

    layout = ctx.layout
    run_dir = layout.run_dir(ctx.run_id)
    build_db = layout.build_db(ctx.run_id)
    as_of = dt.date.fromisoformat(ctx.as_of)
    with warehouse_lock(layout.lock, f"run {ctx.run_id} build", wait_seconds=600):
        work_db = _work_db(run_dir)
        for leftover in (build_db, work_db):  # a crashed earlier attempt of this step
            _remove_database_file(leftover)
        # The previous publication is copied as bytes, not opened in place (an
        # analyst's read-write connection holds a lock on it), and trusted
        # only if it is what was published (foundation/publication.py). It is
        # only replaced under this lock, so the copy is whole.
        previous = run_dir / "previous.duckdb"
        # On Spark the build file starts empty either way: the incremental
        # build is in Spark's tables, and every published table is copied
        # in whole (a copy of the previous file would carry its replaced
        # tables' freed blocks: twice the size). So on Spark the publication
        # is only hashed and read in place, never copied.
        starts_from_copy = ctx.engine == "duckdb"
        # The publication the last publish replaced, if it is still good
        # (foundation/publication.py take_retired_publication), else a copy.
        # It is moved away when taken and removed when stale; Spark never uses it.
        if starts_from_copy:
            check = take_retired_publication(layout.published, layout.warehouse, layout.retired_publication, previous)
        else:
            check = None
            discard_retired(layout.retired_publication)
        copy_source = "the publication before the last" if check else "a copy of the publication"
        if check is None and layout.published.exists():
            check = copy_verified(layout.published, layout.warehouse, previous if starts_from_copy else None)
        try:
            with contextlib.ExitStack() as stack:
                if check is None:  # no previous publication: the plan is a full build
                    planned_from = layout.published
                elif starts_from_copy:  # the copy just hashed
                    planned_from = previous
                else:  # read in place (a copy only when an analyst's read-write connection locks it)
                    planned_from = stack.enter_context(readable_path(layout.published))
                lake = _lake(layout, read_only=True)
                try:
                    composition = purchase_composition(lake)
                    plan = plan_build(lake, planned_from, as_of, composition,
                                      unverified=check.reason if check and not check.verified else None)
                finally:
                    lake.close()
                if ctx.engine == "spark" and plan.incremental:
                    # Spark's incremental build starts from Spark's own tables, not
                    # from the publication (docs/scale-out.md, "Incremental builds on Spark")
                    from yaocai.spark_engine import incremental_refusal

                    refusal = incremental_refusal(layout, planned_from)
                    if refusal:
                        plan = replace(plan, mode="full", rebuild_months=[], reason=refusal)
            started_from = copy_source if plan.incremental and starts_from_copy else None
            (run_dir / "build_plan.json").write_text(json.dumps({**asdict(plan), "started_from": started_from},
                                                                indent=2))
            if plan.incremental and starts_from_copy:
                os.replace(previous, build_db)
        finally:
            previous.unlink(missing_ok=True)
        # dbt build, then dbt docs generate, copied to WAREHOUSE/docs/ by the
        # reports step; one subprocess: yaocai/dbt_runner.py. An incremental
        # build has the very project of the last full build (same code
        # fingerprint), so it skips what depends on the code alone: the docs
        # (WAREHOUSE/docs/ stays valid) and the unit tests, which ran on
        # fixtures, not data, and passed then.
        same_code = ["--skip-docs", "--exclude-resource-type", "unit_test"] if plan.incremental else []
        command = [sys.executable, "-m", "yaocai.dbt_runner", *same_code,
                   "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                   "--vars", json.dumps(plan.dbt_vars(ctx.as_of)), "--no-use-colors",
                   "--log-path", str(run_dir / "dbt_logs"),
                   "--parse-cache", str(_dbt_parse_cache(layout, plan.code_fingerprint))]
        env = {**os.environ, **dbt_env(ctx, lines_recomputed(plan, composition), incremental=plan.incremental)}
        if ctx.engine == "spark":
            command, env = _spark_command(ctx, plan, env)
        try:
            returncode = _run_streamed(command, env=env, cwd=run_dir, log_path=run_dir / "dbt_build.log")
        finally:
            _remove_database_file(work_db)
        if returncode != 0:
            failures = _dbt_failures(run_dir / "dbt_target" / "build_results.json")
            # exit 1: a model or test failed, which the same data repeat; 2: dbt
            # itself stopped (e.g. I/O), which a retry may get past.
            error = BuildFailed if returncode == 1 else PipelineError
            raise error(f"dbt build failed (exit {returncode}; log {run_dir / 'dbt_build.log'}): "
                        + ("; ".join(failures[:10]) or _tail(run_dir / "dbt_build.log")))
        failpoint("build.after_dbt")
        con = duckdb.connect(str(build_db))
        try:
            record_build(con, plan, ctx.run_id, as_of, composition)
            for schema in WORKING_SCHEMAS:
                con.execute(f"drop schema if exists {schema} cascade")
            con.execute("checkpoint")
        finally:
            con.close()
    line = (f"{plan.line()}{f' (from {started_from})' if started_from else ''}; "
            f"{_build_line(run_dir / 'dbt_target', docs_expected=not plan.incremental)}")
    if ctx.engine == "spark":
        line = f"on Spark: {line}"
    log.info("dbt build: %s (%s)", line, build_db)
    return {"build_db": str(build_db), "build_mode": plan.mode, "rebuild_months": plan.rebuild_months, "line": line}


def _dbt_parse_cache(layout: Layout, code_fingerprint: str) -> Path:
    """The folder of dbt's parse for yaocai/dbt_runner.py --parse-cache,
    emptied whenever the dbt project or the DuckDB/dbt versions changed
    (yaocai/incremental.py code_fingerprint): dbt's partial parsing then
    only ever reuses a parse of these very files."""
    cache = layout.dbt_parse_cache
    stamp = cache / "code_fingerprint"
    if not stamp.exists() or stamp.read_text() != code_fingerprint:
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        stamp.write_text(code_fingerprint)
    return cache


def _spark_command(ctx: RunContext, plan, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The build on Spark: yaocai/spark_engine.py in its own process, which
    leaves the marts in the build file as DuckDB's build would."""
    from yaocai.spark_engine import spark_env

    layout = ctx.layout
    run_dir = layout.run_dir(ctx.run_id)
    if "YAOCAI_DBT_THREADS" not in os.environ:  # the spark target's own default (profiles.yml)
        env.pop("YAOCAI_DBT_THREADS", None)
    command = [sys.executable, "-m", "yaocai.spark_engine", "--warehouse", str(layout.warehouse),
               "--build-db", str(layout.build_db(ctx.run_id)), "--vars", json.dumps(plan.dbt_vars(ctx.as_of)),
               "--target-path", str(run_dir / "dbt_target"), "--log-path", str(run_dir / "dbt_logs"),
               "--working-schemas", ",".join(WORKING_SCHEMAS), "--run-id", ctx.run_id]
    return command, {**env, **spark_env(layout)}


dbt_log = logging.getLogger("yaocai.dbt")


def _run_streamed(command: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> int:
    """Run ``command``; every line it prints goes to ``log_path`` and to the
    ``yaocai.dbt`` logger, so an Airflow task log shows dbt's output as it
    comes (``yaocai run`` shows it with --verbose)."""
    with log_path.open("w") as log_file, subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace", bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            log_file.write(line)
            dbt_log.info("%s", line.rstrip())
        return process.wait()


def _build_line(target: Path, docs_expected: bool = True) -> str:
    results_file = target / "build_results.json"
    results = json.loads(results_file.read_text()).get("results", []) if results_file.exists() else []
    results = [r for r in results if not r["unique_id"].startswith("exposure.")]  # documentation, not built
    ok = sum(1 for r in results if r.get("status") in ("success", "pass"))
    tests = sum(1 for r in results if r["unique_id"].split(".")[0] in ("test", "unit_test"))
    warned = sum(1 for r in results if r.get("status") == "warn")
    skipped = sum(1 for r in results if r.get("status") == "skipped")
    line = f"{ok} nodes ok ({len(results) - tests} models/seeds, {tests} tests)"
    if warned:
        line += f", {warned} warning{'s' if warned != 1 else ''}"
    if skipped:
        line += f", {skipped} skipped"
    if not docs_expected:
        return line + "; docs unchanged" + _freshness_note(target)
    docs_file = target / "docs_result.json"
    docs = json.loads(docs_file.read_text()) if docs_file.exists() else {"ok": False, "error": "not generated"}
    return (line + ("; docs generated" if docs["ok"] else f"; docs NOT generated ({str(docs.get('error'))[:200]})")
            + _freshness_note(target))


def _freshness_note(target: Path) -> str:
    """Feeds `dbt source freshness` found stale (warn/error), e.g. '; stale
    feeds: purchases (error, 70 days)'; empty when all are fresh."""
    path = target / "sources.json"
    if not path.exists():
        return ""
    report = json.loads(path.read_text())
    if "results" not in report:
        return f"; source freshness not checked ({str(report.get('error'))[:200]})"
    stale = [f"{r['unique_id'].split('.')[-1]} ({r['status']}, {(r.get('max_loaded_at_time_ago_in_s') or 0) / 86400:.0f} days)"
             for r in report["results"] if r.get("status") in ("warn", "error", "runtime error")]
    return f"; stale feeds: {', '.join(stale)}" if stale else "; feeds fresh"


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _dbt_failures(run_results: Path) -> list[str]:
    if not run_results.exists():
        return []
    results = json.loads(run_results.read_text()).get("results", [])
    return [f"{r['unique_id']}: {r['status']} {(r.get('message') or '')[:300]}".strip()
            for r in results if r.get("status") in ("error", "fail")]


def gate_step(ctx: RunContext) -> dict:
    """Great Expectations checks on the build file; results kept with the run."""
    from expectations.gate import run_gate

    from yaocai.incremental import rebuilt_tables

    from foundation.publication import readable_path

    layout = ctx.layout
    run_dir = layout.run_dir(ctx.run_id)
    with contextlib.ExitStack() as stack:
        # a copy when an analyst's read-write connection locks the publication
        previous_db = stack.enter_context(readable_path(layout.published)) if layout.published.exists() else None
        outcome = run_gate(
            build_db=layout.build_db(ctx.run_id),
            lake_db=layout.lake,
            previous_db=previous_db,
            run_id=ctx.run_id,
            as_of=dt.date.fromisoformat(ctx.as_of),
            out_dir=layout.gate_dir(ctx.run_id),
            rebuilt=rebuilt_tables(run_dir / "build_plan.json", run_dir / "dbt_target" / "manifest.json"),
        )
    with warehouse_lock(layout.lock, f"run {ctx.run_id} gate", wait_seconds=600):
        _update_run(layout, ctx.run_id, gate_passed=outcome.passed)
    for failure in outcome.failures:
        log.info("gate: FAILED %s", failure)
    for warning in outcome.warnings:
        log.info("gate: warning %s", warning)
    log.info("gate: %d checks, %d failed, %d warnings; results in %s", len(outcome.checks), len(outcome.failures),
             len(outcome.warnings), layout.gate_dir(ctx.run_id))
    if not outcome.passed:
        raise GateFailed("quality gate failed: " + "; ".join(outcome.failures[:10]))
    n = len(outcome.warnings)
    line = f"passed, {n} warning{'s' if n != 1 else ''}" + (f" ({'; '.join(outcome.warnings[:3])[:300]})" if n else "")
    return {"passed": True, "warnings": outcome.warnings, "line": line}


def publish_step(ctx: RunContext) -> dict:
    """Swap the validated build file in as WAREHOUSE/yaocai.duckdb.

    The file gets the run history first (table ``runs``), then is flushed and
    renamed over the old publication in one step (POSIX rename is atomic).
    Readers that hold the old file open keep their consistent view; the next
    open sees the new file. The file is made read-only first
    (YAOCAI_PUBLISHED_FILE_MODE, default 0444) and its sha256 recorded in
    WAREHOUSE/state/publication.json, which the next incremental build
    checks (foundation/publication.py)."""
    from foundation.publication import (discard_retired, keep_retired_publication, move_stale_wal, published_file_mode,
                                        record_retired, retire_publication, write_record)
    from foundation.files import sha256_of

    layout = ctx.layout
    build_db = layout.build_db(ctx.run_id)
    gate_file = layout.gate_dir(ctx.run_id) / "gate_result.json"
    if not gate_file.exists() or not json.loads(gate_file.read_text())["passed"]:
        raise PermanentFailure("refusing to publish: this run has no passing quality gate result")
    if not build_db.exists():
        raise PipelineError(f"refusing to publish: build file {build_db} is missing")
    build_db.chmod(build_db.stat().st_mode | 0o200)  # a retry after a failure past the chmod below
    with warehouse_lock(layout.lock, f"run {ctx.run_id} publish", wait_seconds=600):
        published_at = dt.datetime.now().replace(microsecond=0)
        con = duckdb.connect(str(build_db))
        try:
            con.execute(f"attach '{layout.lake}' as lake (read_only)")
            con.execute(
                """create or replace table main.runs as
                   select run_id, as_of,
                          case when run_id = $1 then 'published' else status end as status,
                          rows_in, rows_loaded, rows_quarantined,
                          case when run_id = $1 then true else gate_passed end as gate_passed,
                          case when run_id = $1 then $2 else published_at end as published_at,
                          started_at, case when run_id = $1 then $2 else finished_at end as finished_at,
                          files_loaded, trigger, message
                   from lake.main.runs order by started_at""",
                [ctx.run_id, published_at],
            )
            con.execute("detach lake")
            # how this very file was built (yaocai/incremental.py record_build)
            build_mode = con.execute("select build_mode from main.build_info").fetchone()[0]
            from yaocai.documentation import comment_runs_table

            comment_runs_table(con)
            con.execute("checkpoint")
        finally:
            con.close()
        mode = published_file_mode()
        os.chmod(build_db, mode)
        # Hashing (CPU; hashlib releases the GIL) overlaps flushing the file
        # to disk (I/O): the file is final once its connection is closed.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="yaocai-sha256") as hasher:
            pending_sha256 = hasher.submit(sha256_of, build_db)
            _fsync(build_db)
            sha256, size = pending_sha256.result(), build_db.stat().st_size
        failpoint("publish.before_rename")
        # The file being replaced is kept for the next build to start from
        # (foundation/publication.py take_retired_publication); only after an
        # incremental build: then it has this build's dbt project and
        # dimensions, so the next night can build on it incrementally too
        # (after a full rebuild it would force another).
        if ctx.engine == "duckdb" and build_mode == "incremental" and keep_retired_publication():
            retirement = retire_publication(layout.published, layout.warehouse, layout.retired_publication)
        else:
            retirement = None
            discard_retired(layout.retired_publication)
        os.replace(build_db, layout.published)
        _fsync(layout.warehouse)
        write_record(layout.warehouse, ctx.run_id, sha256, size, mode, layout.published)
        if retirement:
            record_retired(layout.retired_publication, retirement)
        stale_wal = move_stale_wal(layout.published, layout.run_dir(ctx.run_id))
        if stale_wal:
            log.warning("publish: a read-write connection to the previous publication left %s; moved to %s so "
                        "readers of the new file never replay it", layout.published.name + ".wal", stale_wal)
        failpoint("publish.after_rename")
        _update_run(layout, ctx.run_id, status="published", published_at=published_at, finished_at=published_at)
    _clean_old_builds(layout, keep=ctx.run_id)
    log.info("published %s", layout.published)
    line = (f"{layout.published} ({size / 1e6:,.1f} MB, mode {mode:04o}, sha256 {sha256[:12]}…), as of {ctx.as_of}"
            + (f"; a write-ahead log of the previous file, left by a read-write connection, moved to {stale_wal}"
               if stale_wal else ""))
    return {"published": str(layout.published), "published_at": published_at.isoformat(), "sha256": sha256,
            "line": line}


def reports_step(ctx: RunContext) -> dict:
    """After publishing: the officers' workbook and HTML report in
    WAREHOUSE/reports/<as-of>/ (reports/), and the dbt docs of this build in
    WAREHOUSE/docs/. A failure here does not undo the publication: it is
    recorded in the run's message and raised as ReportsFailed."""
    layout = ctx.layout
    try:
        from reports.build import generate_reports

        files = generate_reports(layout.warehouse)
        docs = publish_docs(layout.run_dir(ctx.run_id) / "dbt_target", layout.docs)
    except Exception as exc:
        message = f"published, but the reports failed: {type(exc).__name__}: {exc}"
        log.error("reports: %s", message)
        with warehouse_lock(layout.lock, f"run {ctx.run_id} reports", wait_seconds=600):
            _update_run(layout, ctx.run_id, message=message[:4000])
        raise ReportsFailed(f"{message} (regenerate with: yaocai report --warehouse {layout.warehouse})") from exc
    if docs:
        docs_note = f"; dbt docs in {docs.relative_to(layout.warehouse)}/"
    elif (layout.docs / "index.html").exists():  # incremental build: same project, docs kept
        docs_note = f"; dbt docs in {layout.docs.relative_to(layout.warehouse)}/ (unchanged)"
    else:
        docs_note = "; dbt docs not available for this build"
    line = files.line(layout.warehouse) + docs_note
    log.info("reports: %s", line)
    return {"workbook": str(files.workbook), "html": str(files.html), "docs": str(docs) if docs else None,
            "line": line}


DOCS_FILES = ("index.html", "static_index.html", "manifest.json", "catalog.json")


def publish_docs(target: Path, docs_dir: Path) -> Path | None:
    """Copy the build's dbt docs (index.html + manifest.json + catalog.json,
    and static_index.html which opens from disk without a web server) to
    WAREHOUSE/docs/, each file through a temporary name."""
    if not all((target / name).exists() for name in ("index.html", "manifest.json", "catalog.json")):
        return None
    docs_dir.mkdir(parents=True, exist_ok=True)
    for name in DOCS_FILES:
        if (target / name).exists():
            tmp = docs_dir / f".{name}.tmp"
            shutil.copyfile(target / name, tmp)
            os.replace(tmp, docs_dir / name)
    return docs_dir


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _clean_old_builds(layout: Layout, keep: str) -> None:
    """Build files of finished runs are large and no longer needed; gate
    results and logs stay for the record."""
    runs_dir = layout.state / "runs"
    for run_dir in runs_dir.iterdir():
        if run_dir.name == keep:
            continue
        for name in ("build.duckdb", "build.duckdb.wal"):
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "duckdb_tmp", ignore_errors=True)
        # the dbt docs pages (~5 MB, the current ones are in WAREHOUSE/docs/);
        # manifest.json and catalog.json stay with the run
        for name in ("index.html", "static_index.html"):
            (run_dir / "dbt_target" / name).unlink(missing_ok=True)
    prune_run_folders(layout, keep=keep)


# Run folders (state/runs/<run_id>/: gate results, dbt logs, run log) are
# kept this many days; YAOCAI_RUN_RETENTION_DAYS overrides.
RUN_RETENTION_DAYS = 30


def prune_run_folders(layout: Layout, keep: str, retention_days: float | None = None,
                      now: float | None = None) -> list[str]:
    """Delete run folders older than the retention, never ``keep`` (the run
    just published: the last successful one). A run's age is that of its
    context.json, written when it started (the folder's own mtime changes
    whenever a later run cleans it)."""
    if retention_days is None:
        retention_days = float(os.environ.get("YAOCAI_RUN_RETENTION_DAYS") or RUN_RETENTION_DAYS)
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    pruned = []
    for run_dir in sorted((layout.state / "runs").iterdir()):
        if run_dir.name == keep or not run_dir.is_dir():
            continue
        started = run_dir / "context.json"
        if (started if started.exists() else run_dir).stat().st_mtime < cutoff:
            shutil.rmtree(run_dir, ignore_errors=True)
            pruned.append(run_dir.name)
    if pruned:
        log.info("pruned %d run folder(s) older than %g days from %s", len(pruned), retention_days,
                 layout.state / "runs")
    return pruned


def run_pipeline(landing: str | Path | None, warehouse: str | Path, as_of: dt.date, progress=None,
                 on_step: Callable[[str], None] | None = None, source: str = "files",
                 engine: str = "duckdb") -> RunContext:
    """The whole pipeline in one process (``yaocai run``). Raises on failure
    after recording it; the previous publication is then untouched. After
    publishing, a reports failure raises ReportsFailed (the publication
    stands). ``on_step`` gets each step's one-line result."""
    layout = Layout(Path(warehouse).resolve())
    layout.ensure()
    # A second ``yaocai run`` on the same warehouse refuses at once with a
    # clear message (run lock); each step also takes the write lock, which
    # orders it against Airflow tasks writing the same warehouse.
    with warehouse_lock(layout.run_lock, "yaocai run"):
        _close_abandoned_runs(layout)
        return _run_steps(landing, warehouse, as_of, progress, on_step, source, engine)


def _close_abandoned_runs(layout: Layout) -> None:
    """A ``yaocai run`` killed mid-way leaves its run record at 'running'.
    Holding the run lock proves no other CLI run is alive, so such records
    are closed as failed; nothing else needs cleaning (the lake's unfinished
    transaction was rolled back, the half-built file is simply ignored)."""
    if not layout.lake.exists():
        return
    from foundation.publication import read_only

    published_run = None
    if layout.published.exists():
        # Killed between the rename and the run record: the file says it
        # was published, and it was. (read_only: a copy when an analyst's
        # read-write connection holds the file's lock.)
        with read_only(layout.published) as reader:
            published_run = reader.execute("select run_id, published_at from runs where status = 'published' "
                                           "order by published_at desc limit 1").fetchone()
    with warehouse_lock(layout.lock, "close abandoned runs", wait_seconds=600):
        con = _lake(layout)
        try:
            ensure_lake(con)
            if published_run:
                record_run(con, published_run[0], {"status": "published", "gate_passed": True,
                                                   "published_at": published_run[1], "finished_at": published_run[1]},
                           only_while="running")
            abandoned = con.execute("select run_id from runs where status = 'running' and trigger = 'cli'").fetchall()
            for (run_id,) in abandoned:
                record_run(con, run_id, {"status": "failed", "finished_at": dt.datetime.now(),
                                         "message": "abandoned: the process ended before the run finished (killed or crashed)"},
                           only_while="running")
        finally:
            con.close()


def _timed(name: str, step: Callable[[], dict], on_step: Callable[[str], None] | None) -> dict:
    started = time.monotonic()
    result = step()
    if on_step is not None:
        try:
            on_step(f"{name}: {result.get('line', 'done')} ({time.monotonic() - started:.1f}s)")
        except Exception as exc:  # noqa: BLE001 - showing a step's result never fails the run (a closed pipe)
            log.warning("could not show the %s line: %s: %s", name, type(exc).__name__, exc)
    return result


def _run_steps(landing: str | Path | None, warehouse: str | Path, as_of: dt.date, progress=None,
               on_step: Callable[[str], None] | None = None, source: str = "files",
               engine: str = "duckdb") -> RunContext:
    ctx = start_run(landing, warehouse, as_of, source=source, engine=engine)
    for step in STEPS:
        if not step.runs_for(ctx.source):
            continue
        function = globals()[step.function]
        run = (lambda f=function: f(ctx, progress=progress)) if step.reports_progress else (lambda f=function: f(ctx))
        if step.after_publish:
            # raises ReportsFailed; the publication stands
            _timed(step.label, run, on_step)
            continue
        try:
            _timed(step.label, run, on_step)
        except BaseException as exc:
            fail_run(ctx, f"{type(exc).__name__}: {exc}")
            raise
    return ctx
