-- One row per finding an officer should review (data-contract.md §3).
-- anomaly_id is a hash of the finding's identity (type, institution, product,
-- month and, for VBP, batch/group/period), so the same finding keeps its id
-- in every run and review decisions can be attached to it.
-- Types (first version; thresholds are dbt vars in dbt_project.yml):
--   price_above_listed      paid more per unit than the listed price (超挂网价)
--   price_peer_outlier      paid ≥ anomaly_peer_outlier_ratio × the peer median
--   vbp_lagging             VBP completion > 10 points behind expected progress
--   platform_ratio_below_target  public institution's monthly 网采率 below its city's target
with lines as (
    select * from {{ ref('purchase_lines') }}
    where is_price_eligible
),

institutions as (
    select * from {{ ref('stg_lake__institutions') }}
),

products as (
    select * from {{ ref('stg_lake__products') }}
),

above_listed as (
    select
        fixmedins_code, med_list_codg, month,
        sum(amount) as paid_amount,
        cast(sum(listed_price * purc_retn_cnt) as decimal(18, 4)) as listed_amount,
        cast(sum(amount) as double) / cast(sum(qty_min_units) as double) as paid_unit_price,
        cast(sum(listed_price * purc_retn_cnt) as double) / cast(sum(qty_min_units) as double) as listed_unit_price
    from lines
    where listed_price is not null
    group by all
    having sum(amount) > sum(listed_price * purc_retn_cnt) * (1 + {{ var('anomaly_above_listed_min_excess') }})
),

peer_outliers as (
    select
        fixmedins_code, med_list_codg, month,
        sum(amount) as paid_amount,
        cast(sum(amount) as double) / cast(sum(qty_min_units) as double) as paid_unit_price,
        any_value(peer_median_unit_price) as peer_median_unit_price,
        any_value(peer_institutions) as peer_institutions
    from lines
    where peer_median_unit_price is not null
    group by all
    having cast(sum(amount) as double) / cast(sum(qty_min_units) as double)
        >= {{ var('anomaly_peer_outlier_ratio') }} * any_value(peer_median_unit_price)
),

platform_targets as (
    select r.*, g.target
    from {{ ref('platform_purchase_ratio') }} as r
    inner join {{ ref('platform_purchase_ratio_region') }} as g
        on g.region_level = 'city' and g.admdvs = r.city_admdvs
        and g.month = r.month and g.category_group = r.category_group
    where r.ownership = 'public' and g.target is not null
        and r.total_amount >= {{ var('anomaly_platform_min_amount') }}
        and r.ratio < g.target
),

findings as (
    select
        'price_above_listed' as anomaly_type,
        a.fixmedins_code, a.med_list_codg, a.month,
        null::varchar as batch_code, null::varchar as group_code, null::date as period_start, null::varchar as category_group,
        a.paid_unit_price as metric_value,
        a.listed_unit_price as reference_value,
        'listed_price' as reference_type,
        a.paid_amount - a.listed_amount as excess_amount,
        a.paid_unit_price / a.listed_unit_price - 1 as gap,
        format('{}（{}）{}年{}月采购{}（{}），加权单价{:.4f}元/{}，高于同期挂网价{:.4f}元/{}，高出{:.1f}%，超挂网价金额{:.2f}元。请说明采购价格高于挂网价的原因。',
            i.fixmedins_name, a.fixmedins_code, year(a.month), month(a.month), p.generic_name, a.med_list_codg,
            a.paid_unit_price, coalesce(p.min_unit, '单位'), a.listed_unit_price, coalesce(p.min_unit, '单位'),
            100 * (a.paid_unit_price / a.listed_unit_price - 1), a.paid_amount - a.listed_amount) as detail
    from above_listed as a
    left join institutions as i using (fixmedins_code)
    left join products as p using (med_list_codg)

    union all

    select
        'price_peer_outlier',
        o.fixmedins_code, o.med_list_codg, o.month,
        null, null, null, null,
        o.paid_unit_price,
        o.peer_median_unit_price,
        'peer_median',
        null,
        o.paid_unit_price / o.peer_median_unit_price - 1,
        format('{}（{}）{}年{}月采购{}（{}），加权单价{:.4f}元/{}，为同月{}家公立机构采购价中位数{:.4f}元/{}的{:.2f}倍。请说明价格明显高于同级同类机构的原因。',
            i.fixmedins_name, o.fixmedins_code, year(o.month), month(o.month), p.generic_name, o.med_list_codg,
            o.paid_unit_price, coalesce(p.min_unit, '单位'), o.peer_institutions, o.peer_median_unit_price,
            coalesce(p.min_unit, '单位'), o.paid_unit_price / o.peer_median_unit_price)
    from peer_outliers as o
    left join institutions as i using (fixmedins_code)
    left join products as p using (med_list_codg)

    union all

    select
        'vbp_lagging',
        v.fixmedins_code, v.designated_med_list_codg, cast(date_trunc('month', {{ as_of_date() }}) as date),
        v.batch_code, v.group_code, v.period_start, null,
        v.completion_rate,
        v.expected_progress,
        'expected_progress',
        null,
        v.expected_progress - v.completion_rate,
        format('{}（{}）集采批次{}品种{}协议期{}至{}：约定采购量{:.0f}，截至{}已采购{:.0f}，完成率{:.1f}%，低于序时进度{:.1f}%。请说明约定采购量完成滞后的原因及整改措施。',
            v.fixmedins_name, v.fixmedins_code, v.batch_code, v.group_code, v.period_start, v.period_end,
            v.agreed_qty, {{ as_of_date() }}, v.purchased_qty, 100 * v.completion_rate, 100 * v.expected_progress)
    from {{ ref('vbp_completion') }} as v
    where v.is_lagging and v.ownership = 'public'

    union all

    select
        'platform_ratio_below_target',
        t.fixmedins_code, null, t.month,
        null, null, null, t.category_group,
        t.ratio,
        t.target,
        'city_target',
        t.total_amount - t.platform_amount,
        t.target - t.ratio,
        format('{}（{}）{}年{}月{}类采购总额{:.2f}元，其中省级平台采购{:.2f}元，网采率{:.1f}%，低于目标{:.0f}%。请说明网下采购的原因。',
            i.fixmedins_name, t.fixmedins_code, year(t.month), month(t.month),
            case t.category_group when 'drug' then '药品' when 'hvc' then '高值医用耗材' else t.category_group end,
            t.total_amount, t.platform_amount, 100 * t.ratio, 100 * t.target)
    from platform_targets as t
    left join institutions as i using (fixmedins_code)
),

final as (
    select
        {{ anomaly_id(["anomaly_type", "fixmedins_code", "coalesce(med_list_codg, '')", "cast(month as varchar)",
                       "coalesce(batch_code, '')", "coalesce(group_code, '')", "coalesce(cast(period_start as varchar), '')", "coalesce(category_group, '')"]) }} as anomaly_id,
        anomaly_type,
        case
            when gap >= 0.5 then 'high'
            when gap >= 0.2 then 'medium'
            else 'low'
        end as severity,
        fixmedins_code,
        med_list_codg,
        month,
        metric_value,
        reference_value,
        reference_type,
        gap,
        excess_amount,
        batch_code,
        group_code,
        period_start,
        category_group,
        detail
    from findings
)

select * from final
