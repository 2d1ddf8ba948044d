-- One row per institution × month × category group (all institutions,
-- public and private, each with its ownership).
-- ratio = Σ net amount of lines with platform_order_no ÷ Σ net amount of all
-- lines (models/metrics.md, metric_platform_purchase_ratio; indicator tables of plans 001/004, docs/plan-sources.md).
-- Net: 3503 adds, 3504 subtracts; gifts, herbal pieces (no group), lines
-- after the as-of date and lines whose amount is unknown are left out.
-- Direction: higher is better; target drug ≥ 90 %, hvc ≥ 80 % or the city's
-- own plan figure. gap_amount: how much more would have had to go through
-- the platform to meet the target (max(0, target × total − platform)).
-- A month without uploads has no row here: see upload_completeness.
-- Incremental builds (macros/incremental.sql): the months not rebuilt are
-- read back from the previous version of this table; only the rebuilt
-- months are summed from purchase_lines; year to date is recomputed over all.
{{ config(pre_hook="{{ keep_previous_version() }}", post_hook="{{ drop_previous_version() }}") }}
{% set reuse_previous = previous_version_usable() %}
with lines as (
    select * from {{ ref('purchase_lines') }}
    where not is_gift
        and not is_after_as_of
        and category_group is not null
        and amount is not null
        {% if reuse_previous %}and {{ rebuilt_months_predicate('month') }}{% endif %}
),

monthly as (
    select
        fixmedins_code,
        month,
        category_group,
        {{ any_of('ownership') }} as ownership,
        {{ any_of('admdvs') }} as admdvs,
        {{ any_of('city_admdvs') }} as city_admdvs,
        sum(case when is_platform then net_amount else 0 end) as platform_amount,
        sum(net_amount) as total_amount,
        count(*) as line_count
    from lines
    group by fixmedins_code, month, category_group
    {% if reuse_previous %}
    union all
    select fixmedins_code, month, category_group, ownership, admdvs, city_admdvs,
           platform_amount, total_amount, line_count
    from {{ previous_version() }}
    where not {{ rebuilt_months_predicate('month') }}
    {% endif %}
),

targets as (
    select * from {{ ref('int_platform_targets') }}
),

with_ytd as (
    select
        *,
        sum(platform_amount) over ytd as ytd_platform_amount,
        sum(total_amount) over ytd as ytd_total_amount
    from monthly
    window ytd as (
        partition by fixmedins_code, category_group, year(month)
        order by month
        rows between unbounded preceding and current row
    )
),

final as (
    select
        m.fixmedins_code,
        m.month,
        m.category_group,
        m.ownership,
        m.admdvs,
        m.city_admdvs,
        m.platform_amount,
        m.total_amount,
        {{ ratio('m.platform_amount', 'm.total_amount') }} as ratio,
        m.line_count,
        m.ytd_platform_amount,
        m.ytd_total_amount,
        {{ ratio('m.ytd_platform_amount', 'm.ytd_total_amount') }} as ytd_ratio,
        t.target,
        cast(case when t.target is not null then greatest(0, t.target * m.total_amount - m.platform_amount) end as decimal(18, 2)) as gap_amount
    from with_ytd as m
    left join targets as t on t.city_admdvs = m.city_admdvs and t.category_group = m.category_group
)

select * from final
