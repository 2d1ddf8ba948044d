-- Findings: paid at least anomaly_peer_outlier_ratio × the peer median unit
-- price (median over ≥ peer_min_institutions public institutions, same
-- product and month), per institution × product × month.
with lines as (
    select * from {{ ref('purchase_lines') }}
    where is_price_eligible and peer_median_unit_price is not null
),

outliers as (
    select
        fixmedins_code,
        med_list_codg,
        month,
        any_value(fixmedins_name) as fixmedins_name,
        any_value(generic_name) as generic_name,
        coalesce(any_value(min_unit), '单位') as min_unit,
        cast(sum(amount) as double) / cast(sum(qty_min_units) as double) as paid_unit_price,
        any_value(peer_median_unit_price) as peer_median_unit_price,
        any_value(peer_institutions) as peer_institutions,
        sum(amount) - cast(sum(peer_median_unit_price * qty_min_units) as decimal(18, 4)) as excess_amount
    from lines
    group by fixmedins_code, med_list_codg, month
    having cast(sum(amount) as double) / cast(sum(qty_min_units) as double)
        >= {{ var('anomaly_peer_outlier_ratio') }} * any_value(peer_median_unit_price)
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
    format('{}（{}）{}年{}月采购{}（{}），加权单价{:.4f}元/{}，为同月{}家公立机构采购价中位数{:.4f}元/{}的{:.2f}倍。请说明价格明显高于同级同类机构的原因。',
        fixmedins_name, fixmedins_code, year(month), month(month), generic_name, med_list_codg,
        paid_unit_price, min_unit, peer_institutions, peer_median_unit_price, min_unit,
        paid_unit_price / peer_median_unit_price) as detail
from outliers
