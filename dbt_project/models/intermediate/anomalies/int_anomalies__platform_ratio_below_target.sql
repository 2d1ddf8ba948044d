-- Findings: public institution-months whose 网采率 is more than
-- anomaly_platform_tolerance below their city's target (seeds/plan_targets.csv,
-- else the national default), for institution-months buying at least
-- anomaly_platform_min_amount in the group. Months a few points under the
-- target are normal month-to-month noise (the year-to-date ratio against
-- the target is in platform_purchase_ratio); tiny buyers swing on one
-- invoice. excess_amount = the yuan that would have had to go through the
-- platform to meet the target.
with institution_months as (
    select * from {{ ref('platform_purchase_ratio') }}
    where ownership = 'public' and total_amount >= {{ threshold('anomaly_platform_min_amount') }}
),

city_targets as (
    select admdvs as city_admdvs, month, category_group, target
    from {{ ref('platform_purchase_ratio_region') }}
    where region_level = 'city' and target is not null
),

institutions as (
    select * from {{ ref('stg_lake__institutions') }}
),

below as (
    -- r.* has platform_purchase_ratio's own target column; also selecting
    -- t.target gave two columns named target: DuckDB renamed the second
    -- (unused) and `target` below read r's, Spark refuses the ambiguity
    select r.*, i.fixmedins_name
    from institution_months as r
    inner join city_targets as t using (city_admdvs, month, category_group)
    left join institutions as i using (fixmedins_code)
    where r.ratio < t.target - {{ threshold('anomaly_platform_tolerance') }}
)

select
    'platform_ratio_below_target' as anomaly_type,
    fixmedins_code,
    month,
    category_group,
    ratio as metric_value,
    target as reference_value,
    'city_target' as reference_type,
    target - ratio as gap,
    gap_amount as excess_amount,
    {% call format_text('{}（{}）{}年{}月{}采购总额{:.2f}元，其中省级平台采购{:.2f}元，网采率{:.1f}%，低于目标{:.0f}%，需再通过平台采购{:.2f}元方达标。请说明网下采购的原因。') %}
        fixmedins_name, fixmedins_code, year(month), month(month),
        case category_group when 'drug' then '药品' when 'hvc' then '高值医用耗材' else category_group end,
        total_amount, platform_amount, 100 * ratio, 100 * target, gap_amount{% endcall %} as detail
from below
