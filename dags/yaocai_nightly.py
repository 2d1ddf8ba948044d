"""
### yaocai nightly (药采 每日批处理)

Every night at 02:00 Asia/Shanghai: **ingest** the new landing files into the
lake (raw + quarantine), apply officers' **reviews** (workbooks dropped into
`WAREHOUSE/review_inbox/`), **build** the dbt models on DuckDB (and the dbt
docs), run the **gate** (Great Expectations), **publish** the new DuckDB file
atomically when the gate passes, then make the officers' **reports** (Excel
workbook + HTML report in `WAREHOUSE/reports/<as-of>/`, dbt docs in
`WAREHOUSE/docs/`). A failed step before publish leaves the previous
publication untouched and marks the run failed in the `runs` table; a failed
`reports` task leaves the publication in place and notes the failure in the
run's message.

Parameters (trigger with config to override):
- `landing`: landing directory (default `$YAOCAI_LANDING`, else `demo/landing`)
- `warehouse`: warehouse directory (default `$YAOCAI_WAREHOUSE`, else `demo/warehouse`)
- `as_of`: data through this day; default the day before the run's date in
  Asia/Shanghai (its logical date; for runs triggered without one, e.g. the
  UI's ▶ or `POST /api/v2/dags/yaocai_nightly/dagRuns`, when it was triggered)
- `source`: `files` (default) the landing directory; `api` the provincial
  platform's API (task `pull_platform`: connection `yaocai_platform` or
  `YAOCAI_PLATFORM_URL` / `YAOCAI_PLATFORM_TOKEN`); `both`. With `files` the
  `pull_platform` task is skipped.
- `engine`: `duckdb` (default) builds the dbt models on DuckDB; `spark` on
  Apache Spark through dbt-spark (docs/scale-out.md); anything else fails
  the run at once.

Failing well: a failure that repeats on retry (bad configuration or `as_of`,
dbt models/tests failed, gate failed, refused platform token) fails its task
at once; others (busy warehouse, I/O) retry with exponential backoff
(`YAOCAI_RETRY_DELAY_SECONDS`, default 60, doubling, at most 30 min). Each
task has a timeout sized for a province (~20 M lines), the run 12 hours.
A task that fails for good sends an alert (connections `yaocai_alert_smtp`,
`yaocai_alert_webhook`); a night not done by `YAOCAI_DEADLINE` (default
07:00 Asia/Shanghai) sends one too (deadline alert, scheduled runs).

The task bodies are in `yaocai.pipeline`, the Airflow glue (as_of, alerts,
which failures retry) in `yaocai.airflow_support`; this file only wires them.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Asset, Param, chain, dag, get_current_context, task

from yaocai.airflow_support import (
    as_of_from_context,
    fail_at_once_when_retrying_cannot_help,
    nightly_deadline,
    notify_failure,
)
from yaocai.steps import ENGINES, STEPS, Step

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LANDING = os.environ.get("YAOCAI_LANDING", str(REPO_ROOT / "demo" / "landing"))
DEFAULT_WAREHOUSE = os.environ.get("YAOCAI_WAREHOUSE", str(REPO_ROOT / "demo" / "warehouse"))
# DuckDB allows one writing process per file: every task that writes the
# lake or the publication runs in this one-slot pool.
# scripts/airflow.sh creates it at every start.
DUCKDB_WRITER_POOL = "yaocai_duckdb_writer"
# The pipeline steps' timeouts are in the step table (yaocai/steps.py); these
# are the DAG's own tasks around them.
OWN_TASK_TIMEOUT = {"start": timedelta(minutes=15), "record_failure": timedelta(minutes=15),
                    "summary": timedelta(minutes=10)}
RETRY_DELAY = timedelta(seconds=float(os.environ.get("YAOCAI_RETRY_DELAY_SECONDS") or 60))

REPORT_ASSETS = [Asset("yaocai://reports/workbook"), Asset("yaocai://reports/html")]
PUBLISHED_ASSETS = [
    Asset(f"yaocai://published/{table}")
    for table in ("platform_purchase_ratio", "platform_purchase_ratio_region", "price_deviation_index",
                  "vbp_completion", "purchase_lines", "anomalies", "quarantine", "runs",
                  # reconciliation with the provincial platform (三流合一)
                  "platform_unmatched_receipts", "platform_order_reconciliation", "platform_invoice_payments",
                  "platform_payment_timeliness", "platform_supplier_fill_rate", "platform_purchase_ratio_by_orders",
                  # money and enforcement (docs/money-and-enforcement.md)
                  "settlement_direct_ledger", "settlement_direct_summary", "settlement_prepayment_ledger",
                  "settlement_prepayment", "settlement_retained_savings", "payment_standard_excess_lines",
                  "payment_standard_summary", "credit_evaluation_evidence", "enquiry_letters")
]


STEP_OUTLETS = {"publish": PUBLISHED_ASSETS, "reports": REPORT_ASSETS}


@dag(
    dag_id="yaocai_nightly",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    # Active as soon as Airflow runs (scripts/airflow.sh); a pause in the UI stays.
    is_paused_upon_creation=False,
    dagrun_timeout=timedelta(hours=12),
    deadline=nightly_deadline(),
    doc_md=__doc__,
    tags=["yaocai", "procurement", "nightly"],
    default_args={"retries": 3, "retry_delay": RETRY_DELAY, "retry_exponential_backoff": 2.0,
                  "max_retry_delay": timedelta(minutes=30), "owner": "yaocai", "on_failure_callback": notify_failure},
    params={
        "landing": Param(DEFAULT_LANDING, type="string", description="landing directory"),
        "warehouse": Param(DEFAULT_WAREHOUSE, type="string", description="warehouse directory"),
        "as_of": Param(None, type=["null", "string"],
                       description="YYYY-MM-DD; default: the day before the run's date (Asia/Shanghai)"),
        "source": Param("files", type="string", enum=["files", "api", "both"],
                        description="files: landing directory; api: provincial platform API; both"),
        "engine": Param("duckdb", type="string", enum=list(ENGINES),
                        description="duckdb: dbt builds on DuckDB; spark: on Apache Spark (docs/scale-out.md)"),
    },
)
def yaocai_nightly():
    @task(pool=DUCKDB_WRITER_POOL, execution_timeout=OWN_TASK_TIMEOUT["start"])
    def start() -> dict:
        from yaocai.pipeline import start_run

        context = get_current_context()
        params = context["params"]
        with fail_at_once_when_retrying_cannot_help():
            as_of = as_of_from_context(context)
            # One Airflow run = one pipeline run id, so retried tasks continue it.
            run_id = f"{as_of.isoformat()}_airflow_{context['run_id']}".replace(":", "").replace("+", "")
            return start_run(params["landing"], params["warehouse"], as_of, trigger="airflow", run_id=run_id,
                             source=params.get("source") or "files",
                             engine=params.get("engine") or "duckdb").to_dict()

    def step_task(step: Step):
        # none_failed: a step also runs after a step skipped for this source
        # (pull_platform with source=files); a failed step stops the rest.
        @task(task_id=step.name, pool=DUCKDB_WRITER_POOL if step.writes else None, execution_timeout=step.timeout,
              outlets=STEP_OUTLETS.get(step.name, []), trigger_rule="none_failed", doc_md=f"`yaocai.pipeline.{step.function}`")
        def run_step(run: dict) -> dict:
            from airflow.sdk.exceptions import AirflowSkipException

            from yaocai import pipeline

            ctx = pipeline.RunContext(**run)
            if not step.runs_for(ctx.source):
                raise AirflowSkipException(f"source={ctx.source}: step {step.name} runs only for {', '.join(step.sources)}")
            with fail_at_once_when_retrying_cannot_help():
                return getattr(pipeline, step.function)(ctx)

        return run_step

    @task(trigger_rule="one_failed", retries=0, execution_timeout=OWN_TASK_TIMEOUT["record_failure"])
    def record_failure(run: dict) -> None:
        """Mark the run failed in the run record when any step before publishing failed."""
        from yaocai.pipeline import RunContext, fail_run

        fail_run(RunContext(**run), "an Airflow task failed; see the task logs")

    @task(execution_timeout=OWN_TASK_TIMEOUT["summary"])
    def summary(run: dict) -> str:
        from yaocai.pipeline import RunContext
        from yaocai.summary import summarise

        text = summarise(RunContext(**run).layout.published)
        print(text)
        return text

    run = start()
    tasks = {step.name: step_task(step)(run) for step in STEPS}
    chain(*tasks.values())
    tasks["publish"] >> summary(run)
    [tasks[step.name] for step in STEPS if not step.after_publish] >> record_failure(run)


yaocai_nightly()
