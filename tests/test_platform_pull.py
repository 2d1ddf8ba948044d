"""Pulling the provincial platform's API (issue 8) against the loopback
emulator, without dbt: every fault, incremental nights, resumption after a
failure or a kill mid-way, a rejected token, the rate limit, and no token in
any log line or message."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingest.platform_client import (ClientSettings, PlatformAuthError, PlatformClient, PlatformError, RateLimiter,
                                    redact, register_secret)
from ingest.platform_feeds import ENDPOINTS_BY_NAME
from ingest.platform_loader import pull_platform
from platform_emulator import Fault, PlatformEmulator, build_dataset
from tests.platform_support import TOKEN, assert_complete, client_env, lake_versions, quarantined_keys
from yaocai_demo import generate_demo_landing

AS_OF = dt.date(2026, 10, 31)
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    landing = tmp_path_factory.mktemp("platform") / "landing"
    generate_demo_landing(landing, purchase_lines=1000, as_of=AS_OF)
    return build_dataset(landing, AS_OF)


@pytest.fixture
def emulator(dataset):
    emulator = PlatformEmulator(dataset, TOKEN).start()
    yield emulator
    emulator.stop()


def client_for(emulator: PlatformEmulator, token_provider=lambda: TOKEN, **settings) -> PlatformClient:
    options = {"read_timeout": 0.5, "backoff": 0.02, "rate_per_second": 200, "page_size": 200, "max_retries": 4}
    options.update(settings)
    return PlatformClient(ClientSettings(emulator.url, token_provider=token_provider, **options))


@pytest.mark.slow
def test_pull_gets_through_every_fault_and_lands_exactly_what_was_served(emulator, caplog):
    caplog.set_level(logging.DEBUG)
    emulator.add_faults(
        Fault("error500", "orders", at=2, times=2),
        Fault("repeat_page", "orders", at=5),
        Fault("slow", "deliveries", at=2, delay=1.0),
        Fault("rate_limited", "deliveries", at=3),
        Fault("expired_token", "payments", at=2),
        # schema changes: a renamed required field, a dropped one, a new field
        Fault("rename_field", "orders", at=6, field="purquantity", new_name="purQty", records=2, skip=5),
        Fault("drop_field", "payments", at=4, field="payAt", records=1, skip=5),
        Fault("rename_field", "catalogue", at=1, field="genname", new_name="genericName", records=3),
    )
    reads = []
    client = client_for(emulator, token_provider=lambda: reads.append(1) or TOKEN)
    lake = duckdb.connect()
    report = pull_platform(lake, client, "run-1")

    fired = {(r.endpoint, r.fault) for r in emulator.requests if r.fault}
    assert {f for _, f in fired} == {"error500", "repeat_page", "slow", "rate_limited", "expired_token",
                                     "rename_field", "drop_field"}
    assert len(reads) == 2  # the token was read again once, after the 401
    assert report.repeated_pages == 1 and report.retries >= 4

    orders_out = quarantined_keys(lake, "orders")
    payments_out = quarantined_keys(lake, "payments")
    assert len(orders_out) == 2 and all("purquantity (order_qty)" in r and "purQty" in r for r in orders_out.values())
    assert len(payments_out) == 1 and all("payAt (pay_at)" in r for r in payments_out.values())
    # a renamed optional field is no reason to reject: kept in _extra
    assert quarantined_keys(lake, "catalogue") == {}
    assert lake.execute("select count(*) from platform_catalogue where _extra like '%genericName%'").fetchone()[0] == 3
    assert_complete(lake, emulator, {"orders": set(orders_out), "payments": set(payments_out)})

    # quarantine rows say where they came from, like a file's
    source, row = lake.execute("select source_file, row_number from quarantine where feed = 'platform_orders' "
                               "order by row_number limit 1").fetchone()
    assert source.startswith("api:orders?") and "pageNo=" in source and row == 6  # position in the page
    # every page balances: in = inserted + updated + unchanged + quarantined
    assert lake.execute("select count(*) from platform_pulls "
                        "where records_in <> inserted + updated + unchanged + quarantined").fetchone()[0] == 0
    assert not any(TOKEN in record.getMessage() for record in caplog.records)


@pytest.mark.slow
def test_each_night_fetches_only_what_is_new_and_applies_updates(emulator):
    emulator.set_now("2026-09-30 23:59:59")
    lake = duckdb.connect()
    first = pull_platform(lake, client_for(emulator), "night-1")
    assert_complete(lake, emulator)
    requests_before = len(emulator.requests)

    emulator.set_now("2026-10-31 23:59:59")
    second = pull_platform(lake, client_for(emulator), "night-2")
    assert_complete(lake, emulator)
    totals = second.totals()
    # Only the month's new and changed records travel (plus the boundary
    # second re-read at each watermark), in a handful of requests.
    assert totals["orders"]["records_in"] < first.totals()["orders"]["records_in"] / 5
    assert totals["orders"]["updated"] > 0  # orders placed in September, delivered or completed in October
    assert len(emulator.requests) - requests_before <= 12
    starts = [r.query.get("starttime") for r in emulator.requests[requests_before:] if r.endpoint == "orders"]
    assert starts[0] >= "2026-09-29"  # resumed at the watermark, not from the beginning

    third = pull_platform(lake, client_for(emulator), "night-3")
    assert all(t["inserted"] == 0 and t["updated"] == 0 for t in third.totals().values())


@pytest.mark.slow
def test_a_pull_failing_midway_keeps_its_pages_and_the_next_resumes_without_duplicates(emulator):
    emulator.add_faults(Fault("error500", "orders", at=3, times=1000))  # down from the third page on
    lake = duckdb.connect()
    with pytest.raises(PlatformError, match="failed after 5 attempts") as failure:
        pull_platform(lake, client_for(emulator), "run-down")
    assert TOKEN not in str(failure.value)
    landed = lake_versions(lake, "orders")
    watermark = lake.execute("select watermark from platform_watermarks where endpoint = 'orders'").fetchone()[0]
    mark = watermark.strftime("%Y-%m-%d %H:%M:%S")
    assert lake.execute("select count(*) from platform_pulls where endpoint = 'orders'").fetchone()[0] == 2
    assert mark == max(landed.values())
    # the two committed pages hold everything up to the watermark, nothing after it
    served = {k: r["updatetime"] for k, r in emulator.current("orders").items()}
    assert set(landed) == {k for k, t in served.items() if t <= mark} and 350 < len(landed) <= 400

    emulator.clear_faults()
    pull_platform(lake, client_for(emulator), "run-resumed")
    assert_complete(lake, emulator)  # nothing missing, no key twice
    first_request = next(r for r in reversed(emulator.requests) if r.endpoint == "orders" and r.query.get("pageNo") == "1"
                         and r.query.get("starttime") == watermark.strftime("%Y-%m-%d %H:%M:%S"))
    assert first_request.status == 200


@pytest.mark.slow
def test_a_pull_killed_after_a_commit_resumes_in_the_next_run(emulator, tmp_path):
    """SIGKILL right after the first page's commit (failpoint), then a clean pull."""
    warehouse = tmp_path / "warehouse"
    script = (
        "import datetime as dt, sys\n"
        "from yaocai.pipeline import start_run, pull_platform_step\n"
        f"ctx = start_run(None, {str(warehouse)!r}, dt.date(2026, 10, 31), source='api')\n"
        "print(pull_platform_step(ctx)['line'])\n")
    env = {**os.environ, **client_env(emulator, timeout=5, page_size=300)}
    killed = subprocess.run([sys.executable, "-c", script], env={**env, "YAOCAI_FAULT": "platform.after_page_commit"},
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    lake = duckdb.connect(str(warehouse / "state" / "lake.duckdb"), read_only=True)
    assert len(lake_versions(lake, "orders")) == 300 and len(lake_versions(lake, "deliveries")) == 0
    lake.close()
    resumed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    lake = duckdb.connect(str(warehouse / "state" / "lake.duckdb"), read_only=True)
    try:
        assert_complete(lake, emulator)
    finally:
        lake.close()
    assert TOKEN not in killed.stdout + killed.stderr + resumed.stdout + resumed.stderr


def test_a_rejected_token_is_read_again_once_then_fails_with_a_clear_message(emulator, caplog):
    caplog.set_level(logging.DEBUG)
    emulator.set_token("the-platform-now-wants-another-token")
    reads = []
    lake = duckdb.connect()
    client = client_for(emulator, token_provider=lambda: reads.append(1) or TOKEN)
    with pytest.raises(PlatformAuthError) as failure:
        pull_platform(lake, client, "run-401")
    message = str(failure.value)
    assert "HTTP 401" in message and "YAOCAI_PLATFORM_TOKEN" in message and "yaocai_platform" in message
    assert TOKEN not in message and len(reads) == 2
    assert [r.status for r in emulator.requests] == [401, 401]
    assert lake.execute("select count(*) from platform_watermarks").fetchone()[0] == 0
    assert not any(TOKEN in record.getMessage() for record in caplog.records)


def test_a_platform_that_does_not_sort_is_paged_by_number_and_the_watermark_waits(emulator):
    emulator.add_faults(Fault("unsorted", "catalogue", times=1000))
    lake = duckdb.connect()
    catalogue = (ENDPOINTS_BY_NAME["catalogue"],)
    pull_platform(lake, client_for(emulator, page_size=60), "run-unsorted", endpoints=catalogue)
    served = {k: r["updateTime"] for k, r in emulator.current("catalogue").items()}
    assert set(lake_versions(lake, "catalogue")) == set(served)
    marks = [r[0] for r in lake.execute("select watermark_after from platform_pulls order by committed_at").fetchall()]
    assert marks[:-1] == [None] * (len(marks) - 1) and marks[-1].strftime("%Y-%m-%d %H:%M:%S") == max(served.values())
    pages = [r.query["pageNo"] for r in emulator.requests]
    assert pages == [str(n) for n in range(1, len(pages) + 1)]  # one window, plain page numbers


def test_redaction_removes_tokens_from_any_text():
    register_secret(TOKEN)
    text = f"GET http://x/orders?access_token={TOKEN}&pageNo=1 headers={{'Authorization': 'Bearer {TOKEN}'}}"
    cleaned = redact(text)
    assert TOKEN not in cleaned and "Bearer ***" in cleaned and "pageNo=1" in cleaned
    assert redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer ***"


def test_rate_limit_spaces_request_starts(emulator):
    clock = [0.0]
    sleeps = []
    limiter = RateLimiter(4, clock=lambda: clock[0], sleep=lambda s: (sleeps.append(s), clock.__setitem__(0, clock[0] + s)))
    for _ in range(5):
        limiter.wait()
    assert sleeps == pytest.approx([0.25] * 4)

    client = client_for(emulator, rate_per_second=20, page_size=25)
    pull_platform(duckdb.connect(), client, "run-rate", endpoints=(ENDPOINTS_BY_NAME["catalogue"],))
    arrivals = sorted(r.at for r in emulator.requests)
    # at most 20 request starts a second (arrival jitter does not add up)
    assert len(arrivals) >= 8 and (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) <= 20 * 1.1


@pytest.mark.slow
def test_cli_source_api_needs_settings_and_never_prints_the_token(emulator, tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("YAOCAI_PLATFORM", "AIRFLOW_CONN"))}
    missing = subprocess.run([str(VENV_BIN / "yaocai"), "run", "--source", "api", "--warehouse", str(tmp_path / "w"),
                              "--as-of", AS_OF.isoformat(), "--quiet"], env=base, capture_output=True, text=True)
    assert missing.returncode == 1 and "YAOCAI_PLATFORM_URL and YAOCAI_PLATFORM_TOKEN" in missing.stderr
    emulator.set_token("rotated-elsewhere")
    refused = subprocess.run([str(VENV_BIN / "yaocai"), "-v", "run", "--source", "api", "--warehouse",
                              str(tmp_path / "w"), "--as-of", AS_OF.isoformat(), "--quiet"],
                             env={**base, **client_env(emulator)}, capture_output=True, text=True)
    assert refused.returncode == 1 and "rejected the token (HTTP 401" in refused.stderr
    assert TOKEN not in refused.stdout + refused.stderr
    lake = duckdb.connect(str(tmp_path / "w" / "state" / "lake.duckdb"), read_only=True)
    try:
        status, message = lake.execute("select status, message from runs order by started_at desc limit 1").fetchone()
    finally:
        lake.close()
    assert status == "failed" and "401" in message and TOKEN not in message
    run_files = [p for p in (tmp_path / "w").rglob("*") if p.is_file() and p.suffix in (".json", ".log", ".txt")]
    assert not any(TOKEN in p.read_text(errors="replace") for p in run_files)
