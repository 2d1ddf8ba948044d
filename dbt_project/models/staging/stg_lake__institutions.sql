-- One row per institution. The city is the first 4 digits of the county's
-- division code + '00' (data-contract.md §1 institutions).
with source as (
    select * from {{ source('lake', 'institutions') }}
),

final as (
    select
        fixmedins_code,
        fixmedins_name,
        admdvs,
        left(admdvs, 4) || '00' as city_admdvs,
        hosp_lv,
        ownership,
        _source_file as source_file
    from source
)

select * from final
