"""Tables of the lake (``WAREHOUSE/state/lake.duckdb``): everything ever
accepted, everything rejected, and the record of deliveries and runs.

The lake is the only long-lived writable database. Published files are
rebuilt from it, so losing a published file never loses data.
"""

from __future__ import annotations

import duckdb

from ingest.feeds import FEEDS
from ingest.normalise import SQL_TYPES, quote_ident
from ingest.platform_feeds import PLATFORM_FEEDS

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
-- Content hashes of landing files already read, so a nightly run does not
-- re-read years of history to find the night's new files (20 M lines are
-- 6 GB). A file's hash is reused only while its path, size, inode, mtime and
-- ctime are all unchanged; ctime cannot be set back by a writer, so any
-- rewrite, even one that restores size and mtime, is hashed again.
create table if not exists file_fingerprints (
    path varchar primary key,     -- absolute path of the landing file
    size_bytes bigint not null,
    inode bigint not null,
    mtime_ns bigint not null,
    ctime_ns bigint not null,
    file_id varchar not null,     -- sha256 of the content (ingest_manifest.file_id)
    hashed_at timestamp not null
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
-- Officers' decisions on anomalies (yaocai/reviews.py). Append-only: a new
-- decision is a new row, the latest review_no per anomaly_id is in force.
-- It lives here, not in the publication, because the publication is rebuilt
-- every night; dbt reads it as a source and marts/core/anomalies.sql applies it.
create table if not exists anomaly_reviews (
    review_no bigint primary key, -- 1, 2, 3 … in the order decisions were recorded
    anomaly_id varchar not null,
    status varchar not null,      -- confirmed | dismissed | enquiry | open (decision withdrawn)
    reason varchar,               -- required for dismissed
    reviewed_by varchar not null,
    reviewed_at timestamp not null,
    anomaly_type varchar,         -- the finding as published when the decision was recorded:
    severity_at_review varchar,
    metric_value_at_review double,
    gap_at_review double,
    excess_amount_at_review double,
    as_of_at_review date,         -- as-of date of the publication the officer looked at
    source varchar not null,      -- cli | workbook
    source_file varchar,          -- workbook file name
    source_sha256 varchar,        -- workbook content hash (a file is applied once)
    source_row varchar,           -- sheet!row of the workbook cell
    run_id varchar                -- run whose reviews step recorded it (NULL for the CLI)
);
-- Every awarded row of a published VBP results table read by
-- `yaocai import-vbp-results` (ingest/vbp_import.py) and what became of it:
-- imported (matched to one catalogue product), ambiguous, unmatched or
-- rejected (price problem), with the reason. A re-import of the same file
-- for the same batch replaces its rows. Published as mart vbp_result_matching.
create table if not exists vbp_result_matching (
    batch_code varchar not null,
    source_file varchar not null,   -- the table as imported (file name)
    source_row bigint not null,     -- its row (Excel row where the source gives it)
    group_code varchar,
    generic_name varchar,           -- as published, normalised (NFKC, variant characters)
    dosage_form varchar,
    spec varchar,
    manufacturer varchar,
    unit_price double,              -- yuan per minimum unit, as published
    pack_price double,              -- yuan per pack, as published
    max_price double,               -- ceiling, as published
    ceiling_basis varchar,          -- per_unit | per_pack (then not compared with unit prices)
    status varchar not null,        -- imported | ambiguous | unmatched | rejected | not_awarded (price cell not a price)
    reason varchar,
    match_method varchar,           -- generic:…;strength:content|text;manufacturer:exact|truncated_name|company_mapping
    match_confidence double,
    med_list_codg varchar,          -- the matched product
    candidate_codes varchar,        -- every candidate, comma-separated
    import_id varchar not null,
    imported_at timestamp not null
);
"""

# Records pulled from the provincial platform's API (ingest/platform_loader.py):
# one table per endpoint, one row per natural key (upserted), plus where each
# version came from. A record's page is committed in one transaction together
# with its quarantine rows, its platform_pulls row and the endpoint's watermark.
PLATFORM_META_COLUMNS = ("_source_file varchar not null, _row_number bigint not null, _extra varchar, "
                         "_pull_id varchar not null, _run_id varchar not null, _pulled_at timestamp not null, "
                         "_record_hash varchar not null")

PLATFORM_DDL = """
create table if not exists platform_watermarks (
    endpoint varchar primary key,  -- orders | deliveries | payments | catalogue
    watermark timestamp,           -- max updatetime of the records committed so far; next pull asks starttime >= it
    pages_committed bigint not null,
    records_committed bigint not null,
    updated_at timestamp not null,
    run_id varchar not null
);
create table if not exists platform_pulls (
    pull_id varchar primary key,   -- one committed page
    run_id varchar not null,
    endpoint varchar not null,
    request varchar not null,      -- path and query (never the token)
    page_no integer not null,
    starttime timestamp,           -- the window asked for (updatetime >= starttime)
    records_in bigint not null,    -- = inserted + updated + unchanged + quarantined
    inserted bigint not null,
    updated bigint not null,
    unchanged bigint not null,     -- same key and content as already landed (page overlap, re-served page)
    quarantined bigint not null,
    watermark_before timestamp,
    watermark_after timestamp,
    attempts integer not null,     -- HTTP attempts for this page (retries included)
    committed_at timestamp not null
);
"""


def ensure_lake(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(LAKE_DDL)
    con.execute(PLATFORM_DDL)
    for feed in PLATFORM_FEEDS:
        columns = ", ".join(f"{quote_ident(c.name)} {SQL_TYPES[c.kind]}" for c in feed.columns)
        con.execute(f"create table if not exists {quote_ident(feed.name)} ({columns}, {PLATFORM_META_COLUMNS})")
    for feed in FEEDS:
        columns = ", ".join(f"{quote_ident(c.name)} {SQL_TYPES[c.kind]}" for c in feed.columns)
        con.execute(f"create table if not exists {quote_ident(feed.name)} ({columns}, {META_COLUMNS})")
