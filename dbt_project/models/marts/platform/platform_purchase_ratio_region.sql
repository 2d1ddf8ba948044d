-- One row per region level (county / city / all) × admdvs × month × category
-- group, public institutions only (models/metrics.md, metric_platform_purchase_ratio; data-contract.md §3).
-- ytd_ratio: calendar year to date through the row's month.
-- target: the city's figure from seeds/plan_targets.csv (county rows use their
-- city's), else 0.90 drug / 0.80 hvc, else NULL (data-contract.md §3).
-- gap_amount / ytd_gap_amount: yuan that would have had to go through the
-- platform to meet the target. institutions_missing: public institutions of
-- the region that uploaded nothing that month (their absence is missing
-- data, not a 0 % ratio, so they are counted, not averaged in).
with institution_months as (
    select * from {{ ref('platform_purchase_ratio') }}
    where ownership = 'public'
),

targets as (
    select * from {{ ref('int_platform_targets') }}
),

completeness as (
    select * from {{ ref('int_institution_months') }}
    where ownership = 'public'
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
    select 'all' as region_level, null as admdvs, null as city_admdvs, month, category_group,
           sum(platform_amount), sum(total_amount), count(distinct fixmedins_code)
    from institution_months group by all
),

missing as (
    select 'county' as region_level, admdvs, month, count(*) filter (where not has_uploads) as institutions_missing
    from completeness group by all
    union all
    select 'city', city_admdvs, month, count(*) filter (where not has_uploads) from completeness group by all
    union all
    select 'all' as region_level, null as admdvs, month, count(*) filter (where not has_uploads) from completeness group by all
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
        t.target,
        cast(case when t.target is not null then greatest(0, t.target * r.total_amount - r.platform_amount) end as decimal(18, 2)) as gap_amount,
        cast(case when t.target is not null then greatest(0, t.target * r.ytd_total_amount - r.ytd_platform_amount) end as decimal(18, 2)) as ytd_gap_amount,
        {{ ratio('r.ytd_platform_amount', 'r.ytd_total_amount') }} >= t.target as meets_target,
        r.institution_count,
        coalesce(m.institutions_missing, 0) as institutions_missing
    from with_ytd as r
    left join targets as t
        on t.category_group = r.category_group
        and t.city_admdvs is not distinct from r.city_admdvs
    left join missing as m
        on m.region_level = r.region_level and m.admdvs is not distinct from r.admdvs and m.month = r.month
)

select * from final
