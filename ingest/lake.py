"""Tables of the lake (``WAREHOUSE/state/lake.duckdb``): everything ever
accepted, everything rejected, and the record of deliveries and runs.

The lake is the only long-lived writable database. Published files are
rebuilt from it, so losing a published file never loses data.
"""

from __future__ import annotations

import duckdb

from ingest.feeds import FEEDS
from ingest.normalise import SQL_TYPES, quote_ident

META_COLUMNS = "_file_id varchar not null, _source_file varchar not null, _row_number bigint not null, _extra varchar"

LAKE_DDL = """
create table if not exists quarantine (
    feed varchar not null,
    source_file varchar not null,
    row_number bigint,            -- NULL when the whole file was rejected
    reason varchar not null,
    raw_content varchar,          -- the row as delivered, JSON {header: text}
    file_id varchar not null,
    run_id varchar not null,
    quarantined_at timestamp not null
);
create table if not exists ingest_manifest (
    file_id varchar primary key,  -- sha256 of the file's bytes
    feed varchar not null,
    source_file varchar not null,
    size_bytes bigint,
    status varchar not null,      -- loaded | rejected | superseded
    rows_in bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    message varchar,
    run_id varchar not null,
    loaded_at timestamp not null,
    superseded_by varchar
);
create table if not exists runs (
    run_id varchar primary key,
    as_of date not null,
    status varchar not null,      -- running | published | failed
    started_at timestamp not null,
    finished_at timestamp,
    rows_in bigint,
    rows_loaded bigint,
    rows_quarantined bigint,
    files_loaded integer,
    gate_passed boolean,
    published_at timestamp,
    message varchar,
    trigger varchar               -- cli | airflow
);
"""


def ensure_lake(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(LAKE_DDL)
    for feed in FEEDS:
        columns = ", ".join(f"{quote_ident(c.name)} {SQL_TYPES[c.kind]}" for c in feed.columns)
        con.execute(f"create table if not exists {quote_ident(feed.name)} ({columns}, {META_COLUMNS})")
