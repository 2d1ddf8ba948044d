{{ config(schema='incremental', **month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- Findings: paid at least anomaly_peer_outlier_ratio × the peer median unit
-- price (median over ≥ peer_min_institutions public institutions, same
-- product and month: the contract's peer median), per institution ×
-- product × month with at least price_anomaly_min_amount yuan.
-- Listed-price changes within the month: an institution that bought before
-- a mid-month price cut paid the old listed price, not an outlier. So when
-- the product has listed prices, the institution's paid-to-listed ratio
-- (Σ paid ÷ Σ listed price × packs) must also be at least the same
-- multiple of the public peers' median ratio. Thresholds:
-- seeds/monitoring_thresholds.csv.
with lines as (
    select * from {{ ref('purchase_lines') }}
    where is_price_eligible and peer_median_unit_price is not null and {{ in_rebuilt_months('month') }}
),

institutions as (
    select fixmedins_code, fixmedins_name, ownership from {{ ref('stg_lake__institutions') }}
),

products as (
    select med_list_codg, generic_name, min_unit from {{ ref('stg_lake__products') }}
),

-- One pass over the lines per institution × product × month (at province
-- scale these groups are nearly as many as the lines, so each extra
-- aggregation of them costs minutes). The institution's and product's
-- texts are joined to the sums (purchase_lines took them from the same
-- staging rows), not carried through the grouping.
summed as (
    select
        fixmedins_code,
        med_list_codg,
        month,
        sum(amount) as paid_amount,
        cast(sum(amount) as double) / cast(sum(qty_min_units) as double) as paid_unit_price,
        {{ any_of('peer_median_unit_price') }} as peer_median_unit_price,
        {{ any_of('peer_institutions') }} as peer_institutions,
        sum(amount) - cast(sum(peer_median_unit_price * qty_min_units) as decimal(18, 4)) as excess_amount,
        -- paid ÷ listed over the lines with a listed price (NULL when none)
        cast(sum(amount) filter (where listed_price > 0) as double)
            / cast(sum(listed_price * purc_retn_cnt) filter (where listed_price > 0) as double) as paid_to_listed
    from lines
    group by fixmedins_code, med_list_codg, month
),

per_institution as (
    select
        s.fixmedins_code,
        s.med_list_codg,
        s.month,
        i.fixmedins_name,
        i.ownership,
        p.generic_name,
        coalesce(p.min_unit, '单位') as min_unit,
        {{ star_except(['fixmedins_code', 'med_list_codg', 'month'], alias='s') }}
    from summed as s
    inner join institutions as i on i.fixmedins_code = s.fixmedins_code
    inner join products as p on p.med_list_codg = s.med_list_codg
),

institution_ratios as (
    select fixmedins_code, med_list_codg, month, ownership, paid_to_listed
    from per_institution
    where paid_to_listed is not null
),

peer_ratios as (
    select med_list_codg, month, median(paid_to_listed) as peer_median_paid_to_listed
    from institution_ratios
    where ownership = 'public'
    group by med_list_codg, month
    having count(*) >= {{ var('peer_min_institutions') }}
),

outliers as (
    select {{ star_except(['paid_to_listed', 'ownership'], alias='p') }}, p.paid_to_listed, pr.peer_median_paid_to_listed
    from per_institution as p
    left join peer_ratios as pr using (med_list_codg, month)
    where p.paid_unit_price >= {{ threshold('anomaly_peer_outlier_ratio') }} * p.peer_median_unit_price
        and p.paid_amount >= {{ threshold('price_anomaly_min_amount') }}
        and (p.paid_to_listed is null or pr.peer_median_paid_to_listed is null
             or p.paid_to_listed >= {{ threshold('anomaly_peer_outlier_ratio') }} * pr.peer_median_paid_to_listed)
)

select
    'price_peer_outlier' as anomaly_type,
    fixmedins_code,
    med_list_codg,
    month,
    paid_unit_price as metric_value,
    peer_median_unit_price as reference_value,
    'peer_median' as reference_type,
    paid_unit_price / peer_median_unit_price - 1 as gap,
    excess_amount,
    'product' as benchmark_level,
    peer_institutions as benchmark_institutions,
    'anomaly_peer_outlier_ratio' as threshold_name,
    {{ threshold('anomaly_peer_outlier_ratio') }} as threshold_value,
    {% call format_text('{}（{}）{}年{}月采购{}（{}），加权单价{:.4f}元/{}，为同月{}家公立机构采购价中位数{:.4f}元/{}的{:.2f}倍{}，按中位价计多支付{:.2f}元。请说明价格明显高于同级同类机构的原因。') %}
        fixmedins_name, fixmedins_code, year(month), month(month), generic_name, med_list_codg,
        paid_unit_price, min_unit, peer_institutions, peer_median_unit_price, min_unit,
        paid_unit_price / peer_median_unit_price,
        case when paid_to_listed is not null and peer_median_paid_to_listed is not null
             then {% call format_text('（按挂网价计，本机构支付挂网价的{:.1f}%，同类机构中位数为{:.1f}%）') %}
                         100 * paid_to_listed, 100 * peer_median_paid_to_listed{% endcall %}
             else '' end,
        excess_amount{% endcall %} as detail
from outliers
