"""Shared by the platform tests: an emulated provincial platform on loopback
with every fault the client must survive, and the checks that a pull landed
exactly what the platform shows."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import duckdb

from platform_emulator import Fault, PlatformEmulator, build_dataset

# A fresh token per test session, so grepping logs for it means something.
TOKEN = f"yc-plat-{secrets.token_hex(12)}"

# endpoint -> (lake table, key column, the platform's update-time field)
TABLES = {
    "orders": ("platform_orders", "order_detail_id", "updatetime"),
    "deliveries": ("platform_deliveries", "shipment_id", "updateTime"),
    "payments": ("platform_payments", "pay_order_id", "updateTime"),
    "catalogue": ("platform_catalogue", "catalogue_id", "updateTime"),
}
PUBLISHED = ("platform_unmatched_receipts", "platform_order_reconciliation", "platform_invoice_payments",
             "platform_payment_timeliness", "platform_supplier_fill_rate", "platform_purchase_ratio_by_orders")


def transient_faults(slow_seconds: float) -> list[Fault]:
    """One of each fault the nightly pull must get through on its own. The
    schema change hits the catalogue (two records renamed a required field):
    those are quarantined, everything else lands."""
    return [
        Fault("error500", "orders", at=2, times=2),
        Fault("repeat_page", "orders", at=5),
        Fault("slow", "deliveries", at=2, delay=slow_seconds),
        Fault("rate_limited", "deliveries", at=4),
        Fault("expired_token", "payments", at=2),
        Fault("rename_field", "catalogue", at=1, field="minPacPubonlnPric", new_name="minPacPubPrice", records=2,
              skip=3),
    ]


def client_env(emulator: PlatformEmulator, timeout: float = 2.0, page_size: int = 500) -> dict[str, str]:
    return {"YAOCAI_PLATFORM_URL": emulator.url, "YAOCAI_PLATFORM_TOKEN": TOKEN,
            "YAOCAI_PLATFORM_TIMEOUT": str(timeout), "YAOCAI_PLATFORM_RETRIES": "4",
            "YAOCAI_PLATFORM_BACKOFF": "0.05", "YAOCAI_PLATFORM_RATE": "40",
            "YAOCAI_PLATFORM_PAGE_SIZE": str(page_size)}


def start_emulator(landing: Path, as_of: dt.date, faults: list[Fault] | None = None) -> PlatformEmulator:
    return PlatformEmulator(build_dataset(landing, as_of), TOKEN, faults=faults).start()


def lake_versions(lake: duckdb.DuckDBPyConnection, endpoint: str) -> dict[str, str]:
    """key -> updated_at of every landed record; asserts keys are unique."""
    table, key, _ = TABLES[endpoint]
    rows = lake.execute(f"select {key}, strftime(updated_at, '%Y-%m-%d %H:%M:%S') from {table}").fetchall()
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys)), f"{table}: duplicate keys"
    return dict(rows)


def quarantined_keys(lake: duckdb.DuckDBPyConnection, endpoint: str) -> dict[str, str]:
    """key (from the raw record) -> reason, for the endpoint's quarantined records."""
    table, _, _ = TABLES[endpoint]
    rows = lake.execute(
        "select raw_content, reason from quarantine where feed = ? and source_file like 'api:%'", [table]).fetchall()
    import json

    from platform_emulator.dataset import KEY_FIELDS

    return {json.loads(raw)[KEY_FIELDS[endpoint]]: reason for raw, reason in rows}


def assert_complete(lake: duckdb.DuckDBPyConnection, emulator: PlatformEmulator,
                    quarantined: dict[str, set[str]] | None = None) -> None:
    """Every record the platform shows now is in the lake in its current
    version, once; the ones named in ``quarantined`` are in quarantine instead."""
    quarantined = quarantined or {}
    for endpoint, (_, _, updated_field) in TABLES.items():
        current = {k: r[updated_field] for k, r in emulator.current(endpoint).items()}
        expected_out = quarantined.get(endpoint, set())
        landed = lake_versions(lake, endpoint)
        assert set(landed) == set(current) - expected_out, endpoint
        assert all(landed[k] == current[k] for k in landed), f"{endpoint}: a stale version landed"
        if expected_out:
            assert set(quarantined_keys(lake, endpoint)) == expected_out
