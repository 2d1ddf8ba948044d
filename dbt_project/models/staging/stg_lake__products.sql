-- One row per product. category_group follows models/metrics.md metric_common_rules:
-- drug = western + chinese_patent + formula_granules; 中药饮片 belongs to no
-- group because the indicator excludes it (不含中药饮片, plans 001/004 in docs/plan-sources.md).
with source as (
    select * from {{ source('lake', 'products') }}
),

final as (
    select
        med_list_codg,
        category,
        case
            when category in ('western', 'chinese_patent', 'formula_granules') then 'drug'
            when category in ('hvc', 'lvc', 'ivd') then category
        end as category_group,
        generic_name,
        dosage_form,
        spec,
        pack_spec,
        convrat,
        min_unit,
        pack_unit,
        manufacturer,
        aprvno,
        platform_listed = '1' as platform_listed
    from source
)

select * from final
