"""Every DAG imports, and the nightly DAG keeps the promises its users rely on."""

from pathlib import Path

import pytest

from yaocai.steps import STEP_NAMES, STEPS

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
    order = ["start", *(step.name for step in STEPS if step.runs_for("files"))]
    assert order == ["start", "ingest", "reviews", "dbt_build", "gate", "publish", "reports"]
    # every step of the one step table is a task, and nothing else but the DAG's own tasks
    assert {t.task_id for t in dag.tasks} == {"start", "record_failure", "summary", *STEP_NAMES}
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


def test_failing_well_timeouts_retries_alerts_and_deadline(dagbag):
    """Issue 12: every task has a timeout and the run one; transient
    failures retry with exponential backoff; a task failing for good
    alerts; a night not done by 07:00 Asia/Shanghai alerts."""
    import datetime as dt

    from yaocai.airflow_support import notify_failure

    dag = dagbag.dags["yaocai_nightly"]
    assert dag.dagrun_timeout is not None and dag.dagrun_timeout < dt.timedelta(hours=24)  # never blocks the next night
    for task in dag.tasks:
        assert task.execution_timeout is not None, task.task_id
        assert task.on_failure_callback and notify_failure in task.on_failure_callback, task.task_id
    ingest = dag.get_task("ingest")
    assert ingest.retries >= 2 and ingest.retry_exponential_backoff and ingest.max_retry_delay is not None
    (deadline,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert type(deadline.reference).__name__ == "DagRunLogicalDateDeadline"
    assert deadline.interval == dt.timedelta(hours=5)  # 02:00 + 5 h = 07:00 Asia/Shanghai
    assert deadline.callback.path == "yaocai.airflow_support.deadline_missed"
    # Scheduled nights run from the first start (scripts/airflow.sh): not paused at creation.
    assert dag.is_paused_upon_creation is False


def test_as_of_is_yesterday_in_shanghai_of_the_run():
    import datetime as dt

    import pendulum

    from yaocai.airflow_support import BadAsOf, nightly_as_of

    # Scheduled: logical date 02:00 Asia/Shanghai = 18:00 UTC the day before.
    assert nightly_as_of({}, pendulum.datetime(2026, 11, 30, 18, 0, tz="UTC"), None) == dt.date(2026, 11, 30)
    # Triggered without a logical date: when it was triggered, in Shanghai
    # (16:30 UTC is already 00:30 the next day there).
    assert nightly_as_of({}, None, pendulum.datetime(2026, 11, 30, 16, 30, tz="UTC")) == dt.date(2026, 11, 30)
    assert nightly_as_of({}, None, "2026-11-30T15:30:00+00:00") == dt.date(2026, 11, 29)
    assert nightly_as_of({"as_of": "2026-10-31"}, None, pendulum.now("UTC")) == dt.date(2026, 10, 31)
    with pytest.raises(BadAsOf):
        nightly_as_of({"as_of": "31/10/2026"}, None, pendulum.now("UTC"))


def test_deadline_is_configurable(monkeypatch):
    import datetime as dt

    from yaocai.airflow_support import deadline_interval

    monkeypatch.setenv("YAOCAI_DEADLINE", "06:30")
    assert deadline_interval() == dt.timedelta(hours=4, minutes=30)
    monkeypatch.setenv("YAOCAI_DEADLINE", "01:00")  # before the 02:00 start: the next day
    assert deadline_interval() == dt.timedelta(hours=23)
    monkeypatch.setenv("YAOCAI_DEADLINE", "seven")
    with pytest.raises(ValueError, match="HH:MM"):
        deadline_interval()


def test_alert_message_names_night_step_reason_and_log_without_credentials():
    from yaocai.airflow_support import failure_message, first_line, redact

    error = RuntimeError("quality gate failed: purchase_lines_sample: qty_min_units\nsecond line")
    subject, body = failure_message(night="2026-10-31", step="gate (try 1)", why=first_line(error),
                                    log_url="http://127.0.0.1:8080/dags/yaocai_nightly/runs/r/tasks/gate?try_number=1",
                                    log_file="/srv/airflow/logs/dag_id=yaocai_nightly/run_id=r/task_id=gate/attempt=1.log",
                                    run_id="r", warehouse="/data/warehouse")
    assert "2026-10-31" in subject and "gate" in subject
    assert "step: gate (try 1)" in body and "why: RuntimeError: quality gate failed" in body
    assert "second line" not in body and "attempt=1.log" in body
    leaky = ("POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123-secret failed; "
             "postgresql://airflow:pg-pass-77@db/airflow; Authorization: Bearer eyJhbGciOi.x.y; token=tk_9z")
    clean = redact(leaky, secrets=["pg-pass-77"])
    for secret in ("abc-123-secret", "pg-pass-77", "eyJhbGciOi", "tk_9z"):
        assert secret not in clean
    assert "qyapi.weixin.qq.com" in clean  # still says where it went


def test_run_folders_pruned_after_retention_except_the_last_published(tmp_path):
    import os
    import time

    from foundation.layout import Layout
    from yaocai.pipeline import prune_run_folders

    layout = Layout(tmp_path)
    layout.ensure()
    now = time.time()
    ages = {"old-failed": 40, "old-published": 45, "recent": 3, "no-context": 50}
    for name, days in ages.items():
        run_dir = layout.run_dir(name)
        run_dir.mkdir()
        marker = run_dir / ("context.json" if name != "no-context" else "gate.json")
        marker.write_text("{}")
        os.utime(marker, (now - days * 86400, now - days * 86400))
        os.utime(run_dir, (now - days * 86400, now - days * 86400))
    os.utime(layout.run_dir("old-failed"), (now, now))  # touched by a later clean-up: age is the context's
    pruned = prune_run_folders(layout, keep="old-published", retention_days=30, now=now)
    assert sorted(pruned) == ["no-context", "old-failed"]
    assert sorted(p.name for p in (layout.state / "runs").iterdir()) == ["old-published", "recent"]


def test_deadline_alert_reaches_webhook_and_mail_without_the_key(monkeypatch):
    """The DAG's deadline callback, called with the context the scheduler
    gives it (Deadline.handle_miss: the run as the REST API shows it), sends
    one message to a loopback webhook and one to a loopback SMTP server."""
    import json
    import time

    from tests.test_airflow_deployed import WEBHOOK_KEY, Mailbox, Webhook, mail_text
    from yaocai.airflow_support import deadline_missed

    webhook, mailbox = Webhook(), Mailbox()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_YAOCAI_ALERT_WEBHOOK", json.dumps({"conn_type": "http", "host": webhook.url}))
        monkeypatch.setenv("AIRFLOW_CONN_YAOCAI_ALERT_SMTP", json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": mailbox.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "yaocai@example.org",
                      "to": "duty-officer@example.org", "retry_limit": 0}}))
        deadline_missed(context={
            "dag_run": {"dag_id": "yaocai_nightly", "dag_run_id": "scheduled__2026-11-30T18:00:00+00:00",
                        "logical_date": "2026-11-30T18:00:00Z", "run_after": "2026-11-30T18:00:00Z",
                        "state": "running", "conf": {"warehouse": "/data/warehouse"}},
            "deadline": {"id": "d1", "deadline_time": "2026-11-30T23:00:00Z"}})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not mailbox.messages:
            time.sleep(0.2)
        assert len(webhook.messages) == 1 and len(mailbox.messages) == 1
        for text in (webhook.messages[0]["json"]["text"]["content"], mail_text(mailbox.messages[0]["data"])):
            assert "not done by its deadline" in text and "2026-11-30" in text  # the night of 12-01 02:00
            assert "state running" in text and WEBHOOK_KEY not in text
    finally:
        mailbox.controller.stop()
        webhook.server.shutdown()
