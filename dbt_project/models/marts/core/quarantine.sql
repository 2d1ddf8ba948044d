-- Every rejected input row: feed, file, row number, reason and the row as
-- delivered (data-contract.md §3). Whole rejected files have row_number NULL.
select * from {{ ref('stg_lake__quarantine') }}
