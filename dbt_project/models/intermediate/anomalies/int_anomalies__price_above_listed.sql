{{ config(schema='incremental', **month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- Findings: paid more per minimum unit than the listed price valid that day
-- (超挂网价), per institution × product × month over price-eligible lines.
-- Amounts are exact (listed price × packs), so excess_amount is what was
-- paid above the listed price. Threshold: anomaly_above_listed_min_excess
-- (seeds/monitoring_thresholds.csv). No minimum volume: buying above the
-- listed price is against the listing rules (挂网规则) at any amount.
with lines as (
    select * from {{ ref('purchase_lines') }}
    where is_price_eligible and listed_price is not null and {{ in_rebuilt_months('month') }}
),

institutions as (
    select fixmedins_code, fixmedins_name from {{ ref('stg_lake__institutions') }}
),

products as (
    select med_list_codg, generic_name, min_unit from {{ ref('stg_lake__products') }}
),

-- The institution's and product's texts are joined to the sums (purchase_lines
-- took them from the same staging rows), not carried through the grouping.
summed as (
    select
        fixmedins_code,
        med_list_codg,
        month,
        sum(amount) as paid_amount,
        cast(sum(listed_price * purc_retn_cnt) as decimal(18, 4)) as listed_amount,
        cast(sum(amount) as double) / cast(sum(qty_min_units) as double) as paid_unit_price,
        cast(sum(listed_price * purc_retn_cnt) as double) / cast(sum(qty_min_units) as double) as listed_unit_price
    from lines
    group by fixmedins_code, med_list_codg, month
    having sum(amount) > sum(listed_price * purc_retn_cnt) * (1 + {{ threshold('anomaly_above_listed_min_excess') }})
),

above_listed as (
    select
        s.fixmedins_code,
        s.med_list_codg,
        s.month,
        i.fixmedins_name,
        p.generic_name,
        coalesce(p.min_unit, '单位') as min_unit,
        {{ star_except(['fixmedins_code', 'med_list_codg', 'month'], alias='s') }}
    from summed as s
    inner join institutions as i on i.fixmedins_code = s.fixmedins_code
    inner join products as p on p.med_list_codg = s.med_list_codg
)

select
    'price_above_listed' as anomaly_type,
    fixmedins_code,
    med_list_codg,
    month,
    paid_unit_price as metric_value,
    listed_unit_price as reference_value,
    'listed_price' as reference_type,
    paid_unit_price / listed_unit_price - 1 as gap,
    paid_amount - listed_amount as excess_amount,
    'product' as benchmark_level,
    'anomaly_above_listed_min_excess' as threshold_name,
    {{ threshold('anomaly_above_listed_min_excess') }} as threshold_value,
    {% call format_text('{}（{}）{}年{}月采购{}（{}），加权单价{:.4f}元/{}，高于同期挂网价{:.4f}元/{}，高出{:.1f}%，超挂网价金额{:.2f}元。请说明采购价格高于挂网价的原因。') %}
        fixmedins_name, fixmedins_code, year(month), month(month), generic_name, med_list_codg,
        paid_unit_price, min_unit, listed_unit_price, min_unit,
        100 * (paid_unit_price / listed_unit_price - 1), paid_amount - listed_amount{% endcall %} as detail
from above_listed
