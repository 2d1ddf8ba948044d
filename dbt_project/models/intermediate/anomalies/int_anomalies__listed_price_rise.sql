-- Findings (挂网价异常变动): the listed price of a product rose by at least
-- listed_price_rise_min_rise within a month (from the price in force before
-- the month's first change to the price after its last change), on or
-- before the as-of date, for products public institutions bought for at
-- least price_anomaly_min_amount yuan in the listed_price_rise_lookback_days
-- days before the first change (price-eligible lines). excess_amount = the
-- extra cost of that volume at the new price. Only consecutive intervals
-- (the old one ends the day the new one starts) count as a change. The
-- finding concerns the listing (the maker), not an institution:
-- fixmedins_code is NULL. Thresholds: seeds/monitoring_thresholds.csv.
with listed as (
    select
        med_list_codg,
        listed_price,
        valid_from,
        lag(listed_price) over product_history as previous_price,
        lag(valid_to) over product_history as previous_valid_to
    from {{ ref('stg_lake__listed_prices') }}
    window product_history as (partition by med_list_codg order by valid_from)
),

changes as (
    select
        med_list_codg,
        cast(date_trunc('month', valid_from) as date) as month,
        min(valid_from) as first_change,
        max(valid_from) as last_change,
        min_by(previous_price, valid_from) as old_price,
        max_by(listed_price, valid_from) as new_price,
        count(*) as changes
    from listed
    where previous_price is not null and previous_valid_to = valid_from
        and valid_from <= {{ as_of_date() }}
    group by med_list_codg, cast(date_trunc('month', valid_from) as date)
),

products as (
    select * from {{ ref('stg_lake__products') }}
    where category_group is not null
),

-- The rises big enough to report, before the purchase lines are read: the
-- lookback sums are needed for these alone, and with none the join below
-- has an empty side and DuckDB reads no line. It summed the lookback of
-- every change of history instead: at 20 M lines 11,694 changes, none of
-- them a rise of 10 %; 2.49 s of the 20 M night's build against 0.17 s (issue 18,
-- benchmarks/RESULTS.md).
large_rises as (
    select *, cast(new_price as double) / cast(old_price as double) - 1 as rise
    from changes
    where old_price > 0
        and cast(new_price as double) / cast(old_price as double) - 1 >= {{ threshold('listed_price_rise_min_rise') }}
),

volumes as (
    select
        c.med_list_codg,
        c.month,
        sum(l.amount) as lookback_amount,
        sum(l.purc_retn_cnt) as lookback_packs,
        count(distinct l.fixmedins_code) as lookback_institutions
    from large_rises as c
    inner join {{ ref('purchase_lines') }} as l
        on l.med_list_codg = c.med_list_codg
        and l.receipt_date >= c.first_change - cast({{ threshold('listed_price_rise_lookback_days') }} as integer)
        and l.receipt_date < c.first_change
    where l.is_price_eligible and l.ownership = 'public'
    group by c.med_list_codg, c.month
),

rises as (
    select c.*, p.generic_name, p.manufacturer, p.convrat, coalesce(p.min_unit, '单位') as min_unit,
           p.pack_unit, v.lookback_amount, v.lookback_packs, v.lookback_institutions
    from large_rises as c
    inner join products as p using (med_list_codg)
    inner join volumes as v using (med_list_codg, month)
    where v.lookback_amount >= {{ threshold('price_anomaly_min_amount') }}
)

select
    'listed_price_rise' as anomaly_type,
    med_list_codg,
    month,
    cast(new_price as double) / cast(convrat as double) as metric_value,
    cast(old_price as double) / cast(convrat as double) as reference_value,
    'previous_listed_price' as reference_type,
    rise as gap,
    cast((new_price - old_price) * lookback_packs as decimal(18, 4)) as excess_amount,
    'product' as benchmark_level,
    lookback_institutions as benchmark_institutions,
    'listed_price_rise_min_rise' as threshold_name,
    {{ threshold('listed_price_rise_min_rise') }} as threshold_value,
    {% call format_text('{}（{}，{}）挂网价于{}由{:.2f}元/{}调整为{:.2f}元/{}（每{}{:.4f}元），上涨{:.1f}%。调价前{}天{}家公立机构采购{:.0f}{}，按该采购量测算增支{:.2f}元。请说明挂网价上涨的原因及成本依据（函询对象：生产企业）。') %}
        generic_name, med_list_codg, manufacturer, last_change, old_price, coalesce(pack_unit, '包装'),
        new_price, coalesce(pack_unit, '包装'), min_unit, cast(new_price as double) / cast(convrat as double), 100 * rise,
        cast({{ threshold('listed_price_rise_lookback_days') }} as integer), lookback_institutions,
        lookback_packs, coalesce(pack_unit, '包装'), (new_price - old_price) * lookback_packs{% endcall %} as detail
from rises
