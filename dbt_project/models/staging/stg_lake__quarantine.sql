-- Every rejected input row, with the reason.
select
    feed,
    source_file,
    row_number,
    reason,
    raw_content,
    run_id,
    quarantined_at
from {{ source('lake', 'quarantine') }}
