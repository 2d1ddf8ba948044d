"""
### yaocai nightly (药采 每日批处理)

Every night at 02:00 Asia/Shanghai: **ingest** the new landing files into the
lake (raw + quarantine), **build** the dbt models on DuckDB, run the **gate**
(Great Expectations), and **publish** the new DuckDB file atomically when the
gate passes. A failed step leaves the previous publication untouched and
marks the run failed in the `runs` table.

Parameters (trigger with config to override):
- `landing`: landing directory (default `$YAOCAI_LANDING`, else `demo/landing`)
- `warehouse`: warehouse directory (default `$YAOCAI_WAREHOUSE`, else `demo/warehouse`)
- `as_of`: data through this day; default the day before the run's logical date

The task bodies are in `yaocai.pipeline`; this file only wires them.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LANDING = os.environ.get("YAOCAI_LANDING", str(REPO_ROOT / "demo" / "landing"))
DEFAULT_WAREHOUSE = os.environ.get("YAOCAI_WAREHOUSE", str(REPO_ROOT / "demo" / "warehouse"))
# DuckDB allows one writing process per file: every task that writes the
# lake or the publication runs in this one-slot pool.
DUCKDB_WRITER_POOL = "yaocai_duckdb_writer"

PUBLISHED_ASSETS = [
    Asset(f"yaocai://published/{table}")
    for table in ("platform_purchase_ratio", "platform_purchase_ratio_region", "price_deviation_index",
                  "vbp_completion", "purchase_lines", "anomalies", "quarantine", "runs")
]


@dag(
    dag_id="yaocai_nightly",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["yaocai", "procurement", "nightly"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "owner": "yaocai"},
    params={
        "landing": Param(DEFAULT_LANDING, type="string", description="landing directory"),
        "warehouse": Param(DEFAULT_WAREHOUSE, type="string", description="warehouse directory"),
        "as_of": Param(None, type=["null", "string"], description="YYYY-MM-DD; default: day before the logical date"),
    },
)
def yaocai_nightly():
    @task(pool=DUCKDB_WRITER_POOL)
    def start() -> dict:
        from yaocai.pipeline import start_run

        context = get_current_context()
        params = context["params"]
        if params.get("as_of"):
            as_of = pendulum.parse(params["as_of"]).date()
        else:
            as_of = context["logical_date"].in_timezone("Asia/Shanghai").date() - timedelta(days=1)
        # One Airflow run = one pipeline run id, so retried tasks continue it.
        run_id = f"{as_of.isoformat()}_airflow_{context['run_id']}".replace(":", "").replace("+", "")
        return start_run(params["landing"], params["warehouse"], as_of, trigger="airflow", run_id=run_id).to_dict()

    @task(pool=DUCKDB_WRITER_POOL)
    def ingest(run: dict) -> dict:
        from yaocai.pipeline import RunContext, ingest_step

        return ingest_step(RunContext(**run))

    @task(pool=DUCKDB_WRITER_POOL)
    def dbt_build(run: dict, ingested: dict) -> dict:
        from yaocai.pipeline import RunContext, build_step

        return build_step(RunContext(**run))

    @task
    def gate(run: dict, built: dict) -> dict:
        from yaocai.pipeline import RunContext, gate_step

        return gate_step(RunContext(**run))

    @task(pool=DUCKDB_WRITER_POOL, outlets=PUBLISHED_ASSETS)
    def publish(run: dict, gated: dict) -> dict:
        from yaocai.pipeline import RunContext, publish_step

        return publish_step(RunContext(**run))

    @task(trigger_rule="one_failed", retries=0)
    def record_failure(run: dict) -> None:
        """Mark the run failed in the run record when any step failed."""
        from yaocai.pipeline import RunContext, fail_run

        fail_run(RunContext(**run), "an Airflow task failed; see the task logs")

    @task
    def summary(run: dict, published: dict) -> str:
        from yaocai.summary import summarise

        text = summarise(Path(published["published"]))
        print(text)
        return text

    run = start()
    ingested = ingest(run)
    built = dbt_build(run, ingested)
    gated = gate(run, built)
    published = publish(run, gated)
    summary(run, published)
    [ingested, built, gated, published] >> record_failure(run)


yaocai_nightly()
