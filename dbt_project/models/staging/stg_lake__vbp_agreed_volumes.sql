-- One row per batch × group × institution × agreement period.
with source as (
    select * from {{ source('lake', 'vbp_agreed_volumes') }}
),

final as (
    select
        batch_code,
        group_code,
        fixmedins_code,
        period_start,
        period_end,
        agreed_qty,
        designated_med_list_codg
    from source
)

select * from final
