-- One row per region level (county / city / all) × admdvs × month × category
-- group, public institutions only (data-contract.md §2-3).
-- ytd_ratio: calendar year to date through the row's month.
-- target: the city's figure from plan-targets.csv (county rows use their
-- city's), else 0.90 drug / 0.80 hvc, else NULL (data-contract.md §3).
with institution_months as (
    select * from {{ ref('platform_purchase_ratio') }}
    where ownership = 'public'
),

targets as (
    select city_admdvs, category_group, target_2025
    from {{ ref('plan_targets') }}
    where indicator = 'platform_purchase_ratio' and target_2025 is not null
),

by_region as (
    select 'county' as region_level, admdvs, city_admdvs, month, category_group,
           sum(platform_amount) as platform_amount, sum(total_amount) as total_amount,
           count(distinct fixmedins_code) as institution_count
    from institution_months group by all
    union all
    select 'city', city_admdvs, city_admdvs, month, category_group,
           sum(platform_amount), sum(total_amount), count(distinct fixmedins_code)
    from institution_months group by all
    union all
    select 'all', null, null, month, category_group,
           sum(platform_amount), sum(total_amount), count(distinct fixmedins_code)
    from institution_months group by all
),

with_ytd as (
    select
        *,
        sum(platform_amount) over ytd as ytd_platform_amount,
        sum(total_amount) over ytd as ytd_total_amount
    from by_region
    window ytd as (
        partition by region_level, admdvs, category_group, year(month)
        order by month
        rows between unbounded preceding and current row
    )
),

final as (
    select
        r.region_level,
        r.admdvs,
        r.month,
        r.category_group,
        r.platform_amount,
        r.total_amount,
        {{ ratio('r.platform_amount', 'r.total_amount') }} as ratio,
        r.ytd_platform_amount,
        r.ytd_total_amount,
        {{ ratio('r.ytd_platform_amount', 'r.ytd_total_amount') }} as ytd_ratio,
        coalesce(
            t.target_2025,
            case r.category_group
                when 'drug' then {{ var('default_target_drug') }}
                when 'hvc' then {{ var('default_target_hvc') }}
            end
        ) as target,
        r.institution_count
    from with_ytd as r
    left join targets as t
        on t.city_admdvs = r.city_admdvs and t.category_group = r.category_group
)

select * from final
