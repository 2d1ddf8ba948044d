-- One row per awarded row of every published VBP results table imported
-- with `yaocai import-vbp-results` (ingest/vbp_import.py): the catalogue
-- product it was matched to, how and how surely, or why it was not
-- imported (unmatched, ambiguous, rejected price). Officers resolve the
-- rows whose status is not `imported` (docs/real-data.md).
with source as (
    select * from {{ source('lake_vbp_import', 'vbp_result_matching') }}
),

final as (
    select
        batch_code,
        group_code,
        source_file,
        source_row,
        generic_name,
        dosage_form,
        spec,
        manufacturer,
        unit_price,
        pack_price,
        max_price,
        ceiling_basis,
        status,
        status not in ('imported', 'not_awarded') as needs_review,
        reason,
        match_method,
        match_confidence,
        med_list_codg,
        candidate_codes,
        imported_at
    from source
)

select * from final
