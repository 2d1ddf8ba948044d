-- 落实品种数: per city × category group, the number of VBP groups (品种) with
-- net winning-product purchases by the city's public institutions through
-- the as-of date, against the city's plan figure (seeds/plan_targets.csv,
-- indicator vbp_varieties_implemented; 吕梁 ≥ 800, 黄石 > 500 drugs;
-- consumables in the city's own unit, 类/个). Targets stay per city because
-- cities count 品种 differently (docs/domain-notes.md §1).
with winning_purchases as (
    select l.city_admdvs, r.batch_code, r.group_code, l.category_group, sum(l.net_qty_min_units) as qty
    from {{ ref('purchase_lines') }} as l
    inner join {{ ref('stg_lake__vbp_results') }} as r
        on r.med_list_codg = l.med_list_codg
        and l.receipt_date between r.cycle_start and r.cycle_end
    where l.ownership = 'public' and not l.is_gift and not l.is_after_as_of and l.category_group is not null
    group by all
),

implemented as (
    select city_admdvs, category_group, count(distinct batch_code || '/' || group_code) as varieties_implemented
    from winning_purchases
    where qty > 0
    group by all
),

plan as (
    select city_admdvs, city_name, category_group, baseline_2020, target_2025, comparison, unit, attribute, source
    from {{ ref('plan_targets') }}
    where indicator = 'vbp_varieties_implemented'
),

cities as (
    select city_admdvs, category_group from implemented
    union
    select city_admdvs, category_group from plan
)

select
    c.city_admdvs,
    p.city_name,
    c.category_group,
    coalesce(i.varieties_implemented, 0) as varieties_implemented,
    p.baseline_2020,
    p.target_2025,
    p.comparison,
    p.unit,
    case
        when p.target_2025 is null then null
        when p.comparison = '>' then coalesce(i.varieties_implemented, 0) > p.target_2025
        else coalesce(i.varieties_implemented, 0) >= p.target_2025
    end as meets_target,
    p.source
from cities as c
left join implemented as i using (city_admdvs, category_group)
left join plan as p using (city_admdvs, category_group)
