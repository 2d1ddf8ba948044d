"""The nightly DAG as deployed (issue 12): the real Airflow started by
scripts/airflow.sh (scheduler with LocalExecutor, dag-processor, API server)
in a temporary AIRFLOW_HOME made of the repository's own airflow.cfg and
dags/, driven through its REST API like an operator or a script would:

- a run triggered with conf publishes; dbt's and the gate's output are in
  the task logs;
- a run triggered with no conf (no logical date) processes yesterday in
  Asia/Shanghai; the scheduler is killed in the middle of it and restarted,
  and the run still ends, with the previous publication intact;
- a gate failure fails the run at once (no retry) and sends exactly one
  alert to a loopback webhook and one to a loopback SMTP server, naming the
  step and without the webhook's key;
- the same DAG on a real PostgreSQL metadata database.

Slow: 5 min 51 s for the four on a 2-core machine (SQLite 4 min 35 s, PostgreSQL
1 min 15 s; about twice that under heavy load). Deselect with ``-m "not deployed"``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import psutil
import pytest
import requests

from yaocai_demo import generate_demo_landing

pytestmark = [pytest.mark.integration, pytest.mark.deployed, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 10, 31)
LINES = 3000
DAG = "yaocai_nightly"
WEBHOOK_KEY = "robot-key-0d5e1f"  # the credential in the webhook's URL: never in a message
RUN_TIMEOUT = 420  # seconds: a run on 3,000 lines takes ~2 min on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- loopback alert receivers ---------------------------------------------------

class Webhook:
    """A 企业微信/钉钉-style group robot on loopback: records JSON POSTs."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        received = self.messages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append({"path": self.path, "json": json.loads(body)})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode":0,"errmsg":"ok"}')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/webhook/send?key={WEBHOOK_KEY}"


def mail_text(raw: str) -> str:
    """Subject and decoded text parts of a raw e-mail."""
    import email
    import email.policy

    message = email.message_from_string(raw, policy=email.policy.default)
    parts = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    return "\n".join([str(message["Subject"]), *parts])


class Mailbox:
    """A loopback SMTP server (aiosmtpd) keeping every message."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[dict] = []
        received = self.messages

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                received.append({"to": envelope.rcpt_tos, "data": envelope.content.decode("utf-8", "replace")})
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()


# --- Airflow, as scripts/airflow.sh starts it -----------------------------------

class Airflow:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.port = int(env["YAOCAI_AIRFLOW_PORT"])
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.started: list[int] = []  # every process airflow.sh started (for the clean-up)
        self._token: str | None = None

    def start(self, timeout: float = 240) -> None:
        log = (self.home / "airflow-sh.log").open("a")
        self.process = subprocess.Popen([str(REPO / "scripts" / "airflow.sh")], env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.tail()
            self._remember_children()
            try:
                self._token = None
                if self.get(f"/api/v2/dags/{DAG}").status_code == 200:
                    return
            except (requests.RequestException, OSError):  # not listening yet, or no login made yet
                pass
            time.sleep(2)
        raise AssertionError(f"Airflow did not come up in {timeout}s:\n{self.tail()}")

    def _remember_children(self) -> None:
        try:
            self.started.extend(p.pid for p in psutil.Process(self.process.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            pass

    def stop(self) -> int | None:
        if self.process is None:
            return None
        self._remember_children()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                pass
        return self.process.returncode

    def kill_leftovers(self) -> None:
        """Processes airflow.sh started that outlived it (a killed
        scheduler's task processes), ended by their ids."""
        for pid in set(self.started):
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass

    def tail(self, lines: int = 40) -> str:
        path = self.home / "airflow-sh.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def password(self) -> str:
        return json.loads((self.home / ".yaocai-secrets" / "ui_passwords.json").read_text())["admin"]

    def token(self) -> str:
        if self._token is None:
            response = requests.post(f"{self.base}/auth/token", json={"username": "admin", "password": self.password()},
                                     timeout=30)
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def get(self, path: str) -> requests.Response:
        return requests.get(self.base + path, headers={"Authorization": f"Bearer {self.token()}"}, timeout=30)

    def trigger(self, conf: dict | None = None) -> str:
        body = {"logical_date": None}
        if conf is not None:
            body["conf"] = conf
        response = requests.post(f"{self.base}/api/v2/dags/{DAG}/dagRuns", json=body,
                                 headers={"Authorization": f"Bearer {self.token()}"}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["dag_run_id"]

    def run(self, run_id: str) -> dict:
        return self.get(f"/api/v2/dags/{DAG}/dagRuns/{requests.utils.quote(run_id, safe='')}").json()

    def tasks(self, run_id: str) -> dict[str, dict]:
        response = self.get(f"/api/v2/dags/{DAG}/dagRuns/{requests.utils.quote(run_id, safe='')}/taskInstances")
        return {t["task_id"]: t for t in response.json()["task_instances"]}

    def wait(self, run_id: str, timeout: float = RUN_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(3)
        raise AssertionError(f"run {run_id} not done in {timeout}s: {self.tasks(run_id)}\n{self.tail()}")

    def task_log(self, run_id: str, task_id: str, attempt: int = 1) -> str:
        path = self.home / "logs" / f"dag_id={DAG}" / f"run_id={run_id}" / f"task_id={task_id}" / f"attempt={attempt}.log"
        return path.read_text(errors="replace")


def airflow_home(root: Path) -> Path:
    """A fresh AIRFLOW_HOME from the repository's own files."""
    home = root / "airflow-home"
    home.mkdir()
    shutil.copy(REPO / "airflow.cfg", home / "airflow.cfg")
    (home / "dags").symlink_to(REPO / "dags")
    return home


def airflow_env(home: Path, landing: Path, warehouse: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "YAOCAI_"))}
    return {**env, "AIRFLOW_HOME": str(home), "YAOCAI_AIRFLOW_PORT": str(free_port()),
            "YAOCAI_LANDING": str(landing), "YAOCAI_WAREHOUSE": str(warehouse),
            # Only the runs the test triggers (no 02:00 run of the timetable).
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "YAOCAI_RETRY_DELAY_SECONDS": "5",
            # A killed scheduler's running task is noticed after this long.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
            **extra}


def lake_runs(warehouse: Path) -> list[tuple]:
    con = duckdb.connect(str(warehouse / "state" / "lake.duckdb"), read_only=True)
    try:
        return con.execute("select run_id, as_of, status, gate_passed from runs order by started_at").fetchall()
    finally:
        con.close()


def published_runs(warehouse: Path) -> list[tuple]:
    con = duckdb.connect(str(warehouse / "yaocai.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from purchase_lines").fetchone()[0] > 0
        return con.execute("select run_id, status from runs where status = 'published' order by published_at").fetchall()
    finally:
        con.close()


# --- SQLite (the default): the whole life of a night -----------------------------

@pytest.fixture(scope="class")
def deployed(tmp_path_factory):
    root = tmp_path_factory.mktemp("deployed")
    landing, warehouse = root / "landing", root / "warehouse"
    generate_demo_landing(landing, purchase_lines=LINES, as_of=AS_OF)
    webhook, mailbox = Webhook(), Mailbox()
    home = airflow_home(root)
    env = airflow_env(
        home, landing, warehouse,
        AIRFLOW_CONN_YAOCAI_ALERT_WEBHOOK=json.dumps({"conn_type": "http", "host": webhook.url}),
        AIRFLOW_CONN_YAOCAI_ALERT_SMTP=json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": mailbox.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "yaocai@example.org",
                      "to": "duty-officer@example.org", "timeout": 10, "retry_limit": 0}}))
    airflow = Airflow(home, env)
    try:
        airflow.start()
    except BaseException:
        airflow.stop()
        airflow.kill_leftovers()
        raise
    yield {"airflow": airflow, "landing": landing, "warehouse": warehouse, "root": root, "webhook": webhook,
           "mailbox": mailbox}
    airflow.stop()
    airflow.kill_leftovers()
    mailbox.controller.stop()
    webhook.server.shutdown()


class TestNightOnSQLite:
    def test_rest_trigger_with_conf_publishes(self, deployed):
        airflow, warehouse = deployed["airflow"], deployed["warehouse"]
        run_id = airflow.trigger({"landing": str(deployed["landing"]), "warehouse": str(warehouse),
                                  "as_of": AS_OF.isoformat()})
        run = airflow.wait(run_id)
        tasks = airflow.tasks(run_id)
        assert run["state"] == "success", {t: i["state"] for t, i in tasks.items()}
        assert tasks["publish"]["state"] == "success" and tasks["record_failure"]["state"] == "skipped"
        ((published_id, status),) = published_runs(warehouse)
        assert published_id.startswith(f"{AS_OF.isoformat()}_airflow_") and status == "published"
        # Operators read dbt's and the gate's output in the task logs.
        assert "Completed successfully" in airflow.task_log(run_id, "dbt_build")
        assert "gate: " in airflow.task_log(run_id, "gate") and "checks, 0 failed" in airflow.task_log(run_id, "gate")
        # Nothing was alerted for a good night.
        assert deployed["webhook"].messages == [] and deployed["mailbox"].messages == []


    def test_gate_failure_fails_at_once_and_alerts_once(self, deployed):
        airflow, root = deployed["airflow"], deployed["root"]
        webhook, mailbox = deployed["webhook"], deployed["mailbox"]
        # Its own warehouse, so the night of the other tests stays as it is.
        landing, warehouse = gate_failing_landing(deployed["landing"], root / "bad"), root / "bad-warehouse"
        run_id = airflow.trigger({"landing": str(landing), "warehouse": str(warehouse), "as_of": AS_OF.isoformat()})
        run = airflow.wait(run_id)
        tasks = airflow.tasks(run_id)
        assert run["state"] == "failed"
        assert tasks["gate"]["state"] == "failed" and tasks["gate"]["try_number"] == 1, tasks["gate"]
        assert tasks["publish"]["state"] == "upstream_failed" and tasks["record_failure"]["state"] == "success"
        assert "AirflowFailException" in airflow.task_log(run_id, "gate") or "GateFailed" in airflow.task_log(run_id, "gate")
        assert not (warehouse / "yaocai.duckdb").exists()
        (_, _, status, gate_passed), = lake_runs(warehouse)
        assert (status, gate_passed) == ("failed", False)
        # One message per channel, sent when the task failed for good; wait for
        # both, then a little longer to see that no second one comes.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (webhook.messages and mailbox.messages):
            time.sleep(1)
        time.sleep(5)
        assert len(webhook.messages) == 1, webhook.messages
        assert len(mailbox.messages) == 1, mailbox.messages
        text = webhook.messages[0]["json"]["text"]["content"]
        assert webhook.messages[0]["json"]["msgtype"] == "text"
        mail = mail_text(mailbox.messages[0]["data"])
        for message in (text, mail):
            assert "step: gate" in message and AS_OF.isoformat() in message and "quality gate failed" in message
            assert "task_id=gate/attempt=1.log" in message and WEBHOOK_KEY not in message
        assert mailbox.messages[0]["to"] == ["duty-officer@example.org"]


    def test_trigger_without_conf_survives_a_killed_scheduler(self, deployed):
        """The UI's ▶ / a bare REST trigger: no logical date, no conf. The
        scheduler is killed (SIGKILL) during dbt_build; airflow.sh stops the
        rest and exits non-zero (a supervisor restarts it); started again, the
        run ends, and the publication is whole: the previous one or the new."""
        airflow, warehouse = deployed["airflow"], deployed["warehouse"]
        before = digest(warehouse / "yaocai.duckdb")
        run_id = airflow.trigger()
        triggered = airflow.run(run_id)
        assert triggered["logical_date"] is None
        import pendulum

        night = (pendulum.parse(triggered["run_after"]).in_timezone("Asia/Shanghai").date() - dt.timedelta(days=1))
        deadline = time.monotonic() + RUN_TIMEOUT
        while airflow.tasks(run_id).get("dbt_build", {}).get("state") != "running":
            assert time.monotonic() < deadline and airflow.run(run_id)["state"] in ("queued", "running")
            time.sleep(1)
        airflow._remember_children()
        (scheduler,) = [p for p in psutil.Process(airflow.process.pid).children()
                        if "scheduler" in " ".join(p.cmdline())]
        scheduler.send_signal(signal.SIGKILL)
        assert airflow.process.wait(90) == 1  # the others were stopped, non-zero for the supervisor
        # The publication is untouched while nothing runs it.
        assert digest(warehouse / "yaocai.duckdb") == before

        airflow.start()
        run = airflow.wait(run_id)
        records = {r[0]: r for r in lake_runs(warehouse)}
        (record,) = [r for r in records.values() if run_id.replace(":", "").replace("+", "") in r[0]]
        assert record[1] == night  # yesterday in Asia/Shanghai of when it was triggered
        if run["state"] == "success":
            assert record[2] == "published" and published_runs(warehouse)[-1][0] == record[0]
        else:  # failed: recorded, and the previous publication stands
            assert record[2] == "failed" and digest(warehouse / "yaocai.duckdb") == before


def gate_failing_landing(good: Path, target: Path) -> Path:
    """The demo landing plus one line that every ingest rule and dbt test
    accepts but the gate refuses: a product whose pack holds 0.4 minimum
    units (convrat > 0: accepted) bought in a quantity of 0.000001 packs
    (> 0: accepted), i.e. 0.0000004 minimum units, which is 0 at the lake's
    six decimals; the gate's purchase_lines suite requires qty_min_units > 0."""
    import csv

    shutil.copytree(good, target)
    with (good / "products" / "products.csv").open(encoding="utf-8") as f:
        product = next(csv.DictReader(f))
    code = product["med_list_codg"][:-4] + "9999"
    product.update(med_list_codg=code, convrat="0.4")
    with (target / "products" / "zz-fraction.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(product))
        writer.writeheader()
        writer.writerow(product)
    purchases = sorted((good / "purchases").glob("*.csv"))[-1]
    with purchases.open(encoding="utf-8") as f:
        line = next(csv.DictReader(f))
    line.update(med_list_codg=code, fixmedins_bchno="ZZ-FRACTION-1", purc_retn_cnt="0.000001",
                platform_order_no="", medins_prod_purc_no="")
    with (target / "purchases" / "zz-fraction.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(line))
        writer.writeheader()
        writer.writerow(line)
    return target


# --- PostgreSQL as the metadata database -----------------------------------------

class Postgres:
    """A real PostgreSQL server from Debian's package in a temporary
    directory, on loopback (as ``nobody`` when the test runs as root:
    PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        import pwd
        import tempfile

        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        assert bins, "PostgreSQL is not installed (scripts/test.sh installs Debian's postgresql)"
        self.bin = bins[-1].parent
        self.root = Path(tempfile.mkdtemp(prefix="yaocai-pg-"))
        self.data, self.port = self.root / "data", free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self.as_user = ["runuser", "-u", "nobody", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "airflow", "-E", "UTF8", "--no-sync")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "120", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        self.url = f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        completed = subprocess.run([*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True,
                                   cwd=self.root)
        assert completed.returncode == 0, f"{tool}: {completed.stdout}{completed.stderr}"

    def query(self, sql: str) -> list[tuple]:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=self.port, user="airflow", dbname="postgres")
        try:
            with con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            con.close()

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class TestNightOnPostgres:
    def test_dag_runs_on_postgresql(self, tmp_path):
        landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
        generate_demo_landing(landing, purchase_lines=LINES, as_of=AS_OF)
        postgres = Postgres()
        airflow = None
        try:
            home = airflow_home(tmp_path)
            airflow = Airflow(home, airflow_env(home, landing, warehouse,
                                                AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgres.url))
            airflow.start()
            run_id = airflow.trigger({"as_of": AS_OF.isoformat()})  # landing/warehouse: the defaults
            run = airflow.wait(run_id)
            assert run["state"] == "success", airflow.tasks(run_id)
            ((published_id, _),) = published_runs(warehouse)
            assert published_id.startswith(f"{AS_OF.isoformat()}_airflow_")
            # Airflow's own records are in PostgreSQL, not in a SQLite file.
            assert postgres.query(f"select state from dag_run where run_id = '{run_id}'") == [("success",)]
            assert postgres.query("select slots from slot_pool where pool = 'yaocai_duckdb_writer'") == [(1,)]
            assert not (home / "airflow.db").exists()
        finally:
            if airflow is not None:
                airflow.stop()
                airflow.kill_leftovers()
            postgres.stop()
