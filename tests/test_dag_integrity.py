"""Every DAG imports, and the nightly DAG keeps the promises its users rely on."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # imports Airflow and parses the DAGs

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "yaocai_nightly" in dagbag.dags


def test_nightly_schedule_retries_and_single_active_run(dagbag):
    dag = dagbag.dags["yaocai_nightly"]
    assert dag.tags and "yaocai" in dag.tags
    assert dag.max_active_runs == 1
    assert dag.timetable.expression == "0 2 * * *"
    assert str(dag.timetable.timezone) in ("Asia/Shanghai", "Timezone('Asia/Shanghai')")
    assert dag.doc_md and "publish" in dag.doc_md
    for task in dag.tasks:
        if task.task_id != "record_failure":
            assert task.retries >= 1, task.task_id


def test_steps_are_wired_in_order_and_writers_share_one_pool(dagbag):
    dag = dagbag.dags["yaocai_nightly"]
    order = ["start", "ingest", "reviews", "dbt_build", "gate", "publish", "reports"]
    for upstream, downstream in zip(order, order[1:]):
        assert downstream in dag.get_task(upstream).downstream_task_ids
    # reviews are applied before the build reads them, and nothing skips them
    assert dag.get_task("dbt_build").upstream_task_ids >= {"reviews"}
    assert "dbt_build" not in dag.get_task("ingest").downstream_task_ids
    assert "summary" in dag.get_task("publish").downstream_task_ids
    for writer in ("start", "ingest", "reviews", "dbt_build", "publish"):
        assert dag.get_task(writer).pool == "yaocai_duckdb_writer"
    # reports only read the publication: no writer slot, and a reports
    # failure must not mark the published run failed
    assert dag.get_task("reports").pool != "yaocai_duckdb_writer"
    assert "reports" not in dag.get_task("record_failure").upstream_task_ids
    assert "reviews" in dag.get_task("record_failure").upstream_task_ids
    assert {a.uri for a in dag.get_task("reports").outlets} == {"yaocai://reports/workbook", "yaocai://reports/html"}
    assert {a.uri for a in dag.get_task("publish").outlets} >= {"yaocai://published/platform_purchase_ratio",
                                                                 "yaocai://published/anomalies"}
    assert dag.get_task("record_failure").trigger_rule == "one_failed"


def test_platform_pull_runs_before_ingest_and_is_skipped_for_files(dagbag):
    """Issue 8: `source` = files (default) | api | both; the pull is a writer
    task before ingest, and ingest still runs when the pull is skipped."""
    dag = dagbag.dags["yaocai_nightly"]
    pull = dag.get_task("pull_platform")
    assert "ingest" in pull.downstream_task_ids and "pull_platform" in dag.get_task("start").downstream_task_ids
    assert pull.pool == "yaocai_duckdb_writer"
    assert dag.get_task("ingest").trigger_rule == "none_failed"
    assert "pull_platform" in dag.get_task("record_failure").upstream_task_ids
    assert dag.params["source"] == "files"
