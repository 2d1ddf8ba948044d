-- One row per delivery file ever seen: where every published figure comes
-- from. purchase_lines.source_file joins to source_file here; a restated
-- file shows status 'superseded' and the file that replaced it.
select
    source_file,
    feed,
    file_id,
    status,
    rows_in,
    rows_loaded,
    rows_quarantined,
    size_bytes,
    message,
    run_id,
    loaded_at,
    superseded_by
from {{ source('lake', 'ingest_manifest') }}
