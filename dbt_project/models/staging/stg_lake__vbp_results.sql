-- One row per winning product per batch and group.
with source as (
    select * from {{ source('lake', 'vbp_results') }}
),

final as (
    select
        batch_code,
        batch_name,
        batch_level,
        group_code,
        generic_name,
        dosage_form,
        med_list_codg,
        manufacturer,
        winning_price,
        cycle_start,
        cycle_end
    from source
)

select * from final
