-- One row per city × category group with the platform-ratio target:
-- the city's own 2025 figure from seeds/plan_targets.csv, else the national
-- default (drug 0.90, hvc 0.80; data-contract.md §3), else NULL (lvc, ivd
-- have no target). city_admdvs NULL = the default, used for level 'all'.
with cities as (
    select distinct city_admdvs from {{ ref('stg_lake__institutions') }}
    union all
    select null
),

groups as (
    select category_group from (values ('drug'), ('hvc'), ('lvc'), ('ivd')) as category_groups(category_group)
),

plan as (
    select city_admdvs, category_group, target_2025
    from {{ ref('plan_targets') }}
    where indicator = 'platform_purchase_ratio' and target_2025 is not null
)

select
    c.city_admdvs,
    g.category_group,
    coalesce(
        p.target_2025,
        case g.category_group
            when 'drug' then {{ var('default_target_drug') }}
            when 'hvc' then {{ var('default_target_hvc') }}
        end
    ) as target,
    case when p.target_2025 is not null then 'plan-targets.csv' when g.category_group in ('drug', 'hvc') then 'national default' end as target_source
from cities as c
cross join groups as g
left join plan as p on p.city_admdvs = c.city_admdvs and p.category_group = g.category_group
