{{ config(schema='incremental', **month_incremental(following=1)) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- Findings (价格异常变动, institution level): an institution's quantity-
-- weighted unit price of a product rose by at least
-- price_rise_institution_min_rise since the previous calendar month, with
-- at least price_anomaly_min_amount yuan bought this month. When the
-- product has listed prices in both months, the rise must also show in the
-- institution's paid-to-listed ratio: a rise that only follows the listed
-- price is the listing's change (listed_price_rise), not the institution's.
-- Only rises are flagged (a fall is not a matter for an enquiry letter).
-- Lines: the price-eligible lines of the price deviation index.
-- Thresholds: seeds/monitoring_thresholds.csv.
-- read twice below (this month and the month before): not stored in between
-- (macros/cross_engine.sql not_materialized; 14.5 → 7.5 s at 20 M lines)
with institution_months as {{ not_materialized() }} (
    select * from {{ ref('int_price_institution_months') }}
),

compared as (
    select
        cur.fixmedins_code,
        cur.med_list_codg,
        cur.month,
        cur.fixmedins_name,
        cur.generic_name,
        coalesce(cur.min_unit, '单位') as min_unit,
        cur.amount,
        cur.qty,
        cur.unit_price,
        prev.unit_price as previous_unit_price,
        cur.unit_price / prev.unit_price - 1 as rise,
        (cast(cur.listed_amount as double) / cast(cur.listed_qty as double))
            / (cast(prev.listed_amount as double) / cast(prev.listed_qty as double)) - 1 as listed_change,
        (cast(cur.listed_paid_amount as double) / cast(cur.listed_amount as double))
            / (cast(prev.listed_paid_amount as double) / cast(prev.listed_amount as double)) - 1 as rise_vs_listed
    from institution_months as cur
    inner join institution_months as prev
        on prev.fixmedins_code = cur.fixmedins_code
        and prev.med_list_codg = cur.med_list_codg
        and prev.month = cast(cur.month - interval 1 month as date)
    where prev.unit_price > 0
        and {{ in_rebuilt_months('cur.month', following=1) }}
        -- the same months on the previous-month side, so the join reads
        -- two months of prices, not history
        and {{ in_rebuilt_months('prev.month', preceding=1) }}
),

rises as (
    select * from compared
    where rise >= {{ threshold('price_rise_institution_min_rise') }}
        and amount >= {{ threshold('price_anomaly_min_amount') }}
        and (rise_vs_listed is null or rise_vs_listed >= {{ threshold('price_rise_institution_min_rise') }})
)

select
    'price_rise_institution' as anomaly_type,
    fixmedins_code,
    med_list_codg,
    month,
    unit_price as metric_value,
    previous_unit_price as reference_value,
    'previous_month_own' as reference_type,
    rise as gap,
    cast((unit_price - previous_unit_price) * cast(qty as double) as decimal(18, 4)) as excess_amount,
    'institution' as benchmark_level,
    'price_rise_institution_min_rise' as threshold_name,
    {{ threshold('price_rise_institution_min_rise') }} as threshold_value,
    {% call format_text('{}（{}）{}年{}月采购{}（{}），加权单价{:.4f}元/{}，较上月{:.4f}元/{}上涨{:.1f}%{}，按本月采购量{:.0f}{}计多支付{:.2f}元。请说明采购价格短期内明显上涨的原因。') %}
        fixmedins_name, fixmedins_code, year(month), month(month), generic_name, med_list_codg,
        unit_price, min_unit, previous_unit_price, min_unit, 100 * rise,
        case when listed_change is not null
             then {% call format_text('（同期挂网价变动{:+.1f}%）') %} 100 * listed_change{% endcall %} else '' end,
        qty, min_unit, (unit_price - previous_unit_price) * cast(qty as double){% endcall %} as detail
from rises
