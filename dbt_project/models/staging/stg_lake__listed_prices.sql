-- One row per product × price interval [valid_from, valid_to).
with source as (
    select * from {{ source('lake', 'listed_prices') }}
),

final as (
    select
        med_list_codg,
        listed_price,
        valid_from,
        valid_to
    from source
)

select * from final
