-- Findings (价格异常变动, product level): the median unit price public
-- institutions paid for a product (price_benchmarks, level product, region
-- all: the contract's peer median) rose by at least
-- price_rise_product_min_rise since the previous calendar month, both
-- months with a benchmark (≥ benchmark_min_institutions institutions) and
-- at least price_anomaly_min_amount yuan bought this month. The finding
-- concerns the product (its maker and suppliers), not one institution:
-- fixmedins_code is NULL. Only rises are flagged.
-- Thresholds: seeds/monitoring_thresholds.csv.
with benchmarks as (
    select * from {{ ref('price_benchmarks') }}
    where benchmark_level = 'product' and region_level = 'all'
),

products as (
    select * from {{ ref('stg_lake__products') }}
),

rises as (
    select
        cur.med_list_codg,
        cur.month,
        cur.generic_name,
        coalesce(cur.min_unit, '单位') as min_unit,
        cur.median_unit_price,
        prev.median_unit_price as previous_median_unit_price,
        cur.median_unit_price / prev.median_unit_price - 1 as rise,
        cur.institutions,
        prev.institutions as previous_institutions,
        cur.qty,
        cur.amount
    from benchmarks as cur
    inner join benchmarks as prev
        on prev.benchmark_key = cur.benchmark_key
        and prev.month = cast(cur.month - interval 1 month as date)
    where prev.median_unit_price > 0
        and cur.median_unit_price / prev.median_unit_price - 1 >= {{ threshold('price_rise_product_min_rise') }}
        and cur.amount >= {{ threshold('price_anomaly_min_amount') }}
)

select
    'price_rise_product' as anomaly_type,
    r.med_list_codg,
    r.month,
    r.median_unit_price as metric_value,
    r.previous_median_unit_price as reference_value,
    'previous_month_median' as reference_type,
    r.rise as gap,
    cast((r.median_unit_price - r.previous_median_unit_price) * r.qty as decimal(18, 4)) as excess_amount,
    'product' as benchmark_level,
    r.institutions as benchmark_institutions,
    'price_rise_product_min_rise' as threshold_name,
    {{ threshold('price_rise_product_min_rise') }} as threshold_value,
    {% call format_text('{}（{}，{}）{}年{}月{}家公立机构采购价中位数{:.4f}元/{}，较上月（{}家机构）{:.4f}元/{}上涨{:.1f}%，按本月公立机构采购量{:.0f}{}计多支付{:.2f}元。请说明价格短期内明显上涨的原因及依据（函询对象：生产企业及配送企业）。') %}
        r.generic_name, r.med_list_codg, p.manufacturer, year(r.month), month(r.month),
        r.institutions, r.median_unit_price, r.min_unit, r.previous_institutions,
        r.previous_median_unit_price, r.min_unit, 100 * r.rise, r.qty, r.min_unit,
        (r.median_unit_price - r.previous_median_unit_price) * r.qty{% endcall %} as detail
from rises as r
left join products as p using (med_list_codg)
