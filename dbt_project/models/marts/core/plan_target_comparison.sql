-- Each seed city against its own plan figure (seeds/plan_targets.csv), as of the
-- run: platform purchasing ratio (calendar year to date through the latest
-- month with purchases, public institutions) and VBP varieties implemented.
with plan as (
    select * from {{ ref('plan_targets') }}
),

platform_ytd as (
    -- the year-to-date ratio of the latest month with purchases in the
    -- as-of year (a city may have no hvc purchases in the last month)
    select admdvs as city_admdvs, category_group, ytd_ratio as actual_value, month as actual_month
    from {{ ref('platform_purchase_ratio_region') }}
    where region_level = 'city' and year(month) = year({{ as_of_date() }})
    qualify row_number() over (partition by admdvs, category_group order by month desc) = 1
),

varieties as (
    select city_admdvs, category_group, cast(varieties_implemented as double) as actual_value
    from {{ ref('vbp_varieties_implemented') }}
),

actuals as (
    select city_admdvs, 'platform_purchase_ratio' as indicator, category_group, actual_value, actual_month from platform_ytd
    union all
    select city_admdvs, 'vbp_varieties_implemented', category_group, actual_value, cast({{ as_of_date() }} as date) from varieties
)

select
    p.city_admdvs,
    p.city_name,
    p.indicator,
    p.category_group,
    p.baseline_2020,
    p.target_2025,
    p.comparison,
    p.unit,
    a.actual_value,
    a.actual_month,
    case
        when p.target_2025 is null or a.actual_value is null then null
        when p.comparison = '>' then a.actual_value > p.target_2025
        else a.actual_value >= p.target_2025
    end as meets_target,
    p.attribute,
    p.source
from plan as p
left join actuals as a using (city_admdvs, indicator, category_group)
