"""What the nightly DAG needs from Airflow, kept out of the DAG file (which
only wires) and out of the CLI's path: only dags/yaocai_nightly.py imports
this module, so ``yaocai run`` never imports Airflow.

- ``nightly_as_of``: the night a run processes;
- ``fail_at_once_when_retrying_cannot_help``: permanent failures become
  AirflowFailException (no retries), transient ones are retried;
- ``notify_failure`` (a task's on_failure_callback) and ``deadline_missed``
  (the DAG's deadline alert): a message to e-mail and/or a webhook saying
  which night, which step, why and where the log is; never a credential.

Alert channels are Airflow connections (docs: README, "Deployment"):
  yaocai_alert_smtp     SMTP server (host, port, login, password); extra
                        ``to`` (comma-separated recipients), ``from_email``,
                        and the SMTP provider's ``disable_ssl``/``disable_tls``
  yaocai_alert_webhook  URL in ``host`` (or extra ``url``): a JSON POST of
                        {"msgtype": "text", "text": {"content": ...}}, what
                        企业微信 and 钉钉 group robots accept
A channel whose connection does not exist is skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("yaocai.airflow")

NIGHTLY_TIMEZONE = "Asia/Shanghai"
SMTP_CONN_ID = "yaocai_alert_smtp"
WEBHOOK_CONN_ID = "yaocai_alert_webhook"
WEBHOOK_TIMEOUT_SECONDS = 15
# When the publication must be done (Asia/Shanghai), YAOCAI_DEADLINE=HH:MM.
DEFAULT_DEADLINE = "07:00"


class BadAsOf(ValueError):
    pass


def nightly_as_of(params: Mapping[str, Any], logical_date: Any, run_after: Any) -> dt.date:
    """The night a run processes: ``as_of`` from the run's conf, else the day
    before the run's date in Asia/Shanghai. The run's date is its logical
    date; runs triggered without one (the UI's ▶, ``airflow dags trigger``,
    the REST API without ``logical_date``) have none in Airflow 3, and use
    when they were triggered (``run_after``)."""
    import pendulum

    if params.get("as_of"):
        try:
            return dt.date.fromisoformat(str(params["as_of"]))
        except ValueError:
            raise BadAsOf(f"as_of must be a date YYYY-MM-DD, not {params['as_of']!r}") from None
    when = logical_date or run_after
    if when is None:
        raise BadAsOf("the run has neither a logical date nor run_after; give as_of")
    if isinstance(when, str):
        when = pendulum.parse(when)
    return pendulum.instance(when).in_timezone(NIGHTLY_TIMEZONE).date() - dt.timedelta(days=1)


def as_of_from_context(context: Mapping[str, Any]) -> dt.date:
    dag_run = context.get("dag_run")
    return nightly_as_of(context.get("params") or {}, context.get("logical_date"),
                         getattr(dag_run, "run_after", None))


@contextmanager
def fail_at_once_when_retrying_cannot_help() -> Iterator[None]:
    """Around a step: failures that repeat identically on retry (bad
    configuration or as_of, dbt models/tests failed, gate failed, a refused
    platform token) fail the task at once; anything else (a busy warehouse
    lock, I/O) propagates and is retried with backoff."""
    from airflow.sdk.exceptions import AirflowFailException

    from ingest.platform_client import PlatformAuthError
    from yaocai.pipeline import PermanentFailure

    try:
        yield
    except (PermanentFailure, PlatformAuthError, BadAsOf) as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


# --- messages ---------------------------------------------------------------

_SECRET_PATTERNS = [
    # key=..., token=..., access_token=..., password=... in URLs and text
    (re.compile(r"(?i)\b((?:access_)?token|key|secret|password|passwd|pwd|sign|signature|api_key)=([^&\s'\"]+)"),
     r"\1=***"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1***@"),  # user:password@host
]


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Remove credentials: known ones (the channels' passwords and URLs)
    and anything that looks like one."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def first_line(error: object) -> str:
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error or "")
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:500]
    return "(no error message)"


def task_log_file(dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    """Airflow's default log file name ([logging] log_filename_template)."""
    from airflow.configuration import conf

    folder = Path(conf.get("logging", "base_log_folder"))
    return str(folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}" / f"attempt={try_number}.log")


def failure_message(*, night: str, step: str, why: str, log_url: str | None, log_file: str | None,
                    run_id: str, warehouse: str | None, late: bool = False) -> tuple[str, str]:
    """(subject, body) of an alert."""
    what = "is not done by its deadline" if late else "FAILED"
    subject = f"[yaocai] nightly {night} {what}: {step}"
    lines = [f"yaocai nightly run {what}", f"night (as_of): {night}", f"step: {step}", f"why: {why}"]
    if log_url:
        lines.append(f"log: {log_url}")
    if log_file:
        lines.append(f"log file: {log_file}")
    lines.append(f"Airflow run: {run_id}")
    if warehouse:
        lines.append(f"warehouse: {warehouse} (the previous publication is unchanged)")
    return subject, "\n".join(lines)


# --- channels -------------------------------------------------------------------

def _connection(conn_id: str):
    from airflow.sdk import Connection

    try:
        return Connection.get(conn_id)
    except Exception as exc:  # not defined: the channel is not used
        log.info("alert channel %s not configured (%s)", conn_id, type(exc).__name__)
        return None


def _webhook_url(conn) -> str:
    url = (conn.extra_dejson or {}).get("url") or conn.host or ""
    if "://" not in url:
        scheme = conn.schema or "https"
        port = f":{conn.port}" if conn.port else ""
        url = f"{scheme}://{url}{port}"
    return url


def _secrets_of(conn) -> list[str]:
    if conn is None:
        return []
    values = [conn.password or ""]
    if conn.conn_id == WEBHOOK_CONN_ID:
        url = _webhook_url(conn)
        values += [url, url.split("?", 1)[1] if "?" in url else ""]
    return values


def send_alert(subject: str, body: str) -> dict[str, str]:
    """Send to every configured channel; returns channel → 'sent' or the
    (redacted) reason it was not. Never raises: an alert that cannot be
    sent is logged, and must not hide the failure it reports."""
    import requests

    smtp, webhook = _connection(SMTP_CONN_ID), _connection(WEBHOOK_CONN_ID)
    secrets = _secrets_of(smtp) + _secrets_of(webhook)
    subject, body = redact(subject, secrets), redact(body, secrets)
    outcome: dict[str, str] = {}
    if webhook is not None:
        try:
            response = requests.post(_webhook_url(webhook), json={"msgtype": "text", "text": {"content": body}},
                                     timeout=WEBHOOK_TIMEOUT_SECONDS)
            response.raise_for_status()
            outcome["webhook"] = "sent"
        except Exception as exc:
            outcome["webhook"] = redact(first_line(exc), secrets)
    if smtp is not None:
        try:
            from airflow.providers.smtp.hooks.smtp import SmtpHook

            recipients = (smtp.extra_dejson or {}).get("to")
            if not recipients:
                raise ValueError(f"connection {SMTP_CONN_ID} has no extra 'to' (recipients)")
            with SmtpHook(smtp_conn_id=SMTP_CONN_ID) as hook:
                hook.send_email_smtp(to=recipients, subject=subject, html_content=_html(body),
                                     custom_headers={"X-Yaocai-Alert": "nightly"})
            outcome["email"] = "sent"
        except Exception as exc:
            outcome["email"] = redact(first_line(exc), secrets)
    for channel, result in outcome.items():
        (log.info if result == "sent" else log.error)("alert via %s: %s", channel, result)
    return outcome


def _html(body: str) -> str:
    import html

    return f"<pre>{html.escape(body)}</pre>"


# --- callbacks ----------------------------------------------------------------

def notify_failure(context: Mapping[str, Any]) -> None:
    """on_failure_callback of every nightly task: runs once a task has failed
    for good (after its last retry, or at once for a permanent failure)."""
    ti = context["ti"]
    dag_run = context.get("dag_run")
    params = context.get("params") or {}
    try:
        night = as_of_from_context(context).isoformat()
    except Exception as exc:
        night = f"unknown ({first_line(exc)})"
    try_number = getattr(ti, "try_number", None) or 1
    try:
        log_url = ti.log_url
    except Exception:
        log_url = None
    subject, body = failure_message(
        night=night, step=f"{ti.task_id} (try {try_number})", why=first_line(context.get("exception")),
        log_url=log_url, log_file=task_log_file(ti.dag_id, ti.run_id, ti.task_id, try_number),
        run_id=getattr(dag_run, "run_id", None) or ti.run_id, warehouse=params.get("warehouse"))
    send_alert(subject, body)


def deadline_missed(context: Mapping[str, Any] | None = None, **_: Any) -> None:
    """SyncCallback of the DAG's DeadlineAlert: the night is still not done
    at the deadline. ``context["dag_run"]`` is the run as the REST API shows
    it (a dict)."""
    dag_run = (context or {}).get("dag_run") or {}
    conf = dag_run.get("conf") or {}
    try:
        night = nightly_as_of(conf, dag_run.get("logical_date"), dag_run.get("run_after")).isoformat()
    except Exception as exc:
        night = f"unknown ({first_line(exc)})"
    deadline = ((context or {}).get("deadline") or {}).get("deadline_time")
    run_id = dag_run.get("dag_run_id") or dag_run.get("run_id") or "?"
    subject, body = failure_message(
        night=night, step="the run (publication not done)", why=f"deadline {deadline} passed, state "
        f"{dag_run.get('state', '?')}", log_url=None, log_file=None, run_id=run_id,
        warehouse=conf.get("warehouse"), late=True)
    send_alert(subject, body)


def nightly_deadline():
    """The DAG's deadline alert: a run not finished ``deadline_interval()``
    after its logical date (02:00 → YAOCAI_DEADLINE, default 07:00 Asia/Shanghai)
    calls ``deadline_missed`` on the executor (SyncCallback: no triggerer
    needed). Runs triggered without a logical date get no deadline.

    None under ``airflow dags test`` (scripts/demo.sh, the pipeline tests):
    Airflow 3.3.2's ``dags test`` exits non-zero after a successful run of a
    DAG with a deadline (apache/airflow issue 73428, 'dict' object has no
    attribute 'hex'), and a test run has no night to be late for."""
    import sys

    from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback

    if sys.argv[1:3] == ["dags", "test"]:
        return None
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_LOGICAL_DATE, interval=deadline_interval(),
                         callback=SyncCallback(deadline_missed))


def deadline_interval(schedule_hour: int = 2, schedule_minute: int = 0) -> dt.timedelta:
    """From the scheduled start (02:00) to YAOCAI_DEADLINE (HH:MM, Asia/Shanghai,
    default 07:00); a time before the start is on the next day."""
    import os

    text = os.environ.get("YAOCAI_DEADLINE") or DEFAULT_DEADLINE
    try:
        hour, minute = (int(part) for part in text.split(":"))
        deadline = dt.timedelta(hours=hour, minutes=minute)
    except ValueError:
        raise ValueError(f"YAOCAI_DEADLINE must be HH:MM, not {text!r}") from None
    interval = deadline - dt.timedelta(hours=schedule_hour, minutes=schedule_minute)
    return interval if interval > dt.timedelta(0) else interval + dt.timedelta(days=1)
