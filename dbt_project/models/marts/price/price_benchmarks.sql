{{ config(**month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- One row per benchmark level × key × month × region with enough buyers.
-- Benchmarks against peers (OpenPrescribing price-per-unit method; the
-- contract's peer median, models/metrics.md metric_price_deviation_index; method: metric_price_benchmarks): each public institution's
-- quantity-weighted mean unit price in the month (Σ amount ÷ Σ qty over its
-- price-eligible lines), then across the institutions of the region:
--   median  = the usual price (mean of the two middle values when even),
--   p10     = 10th percentile, the "achievable" price (linear interpolation,
--             quantile_cont),
--   min     = the lowest price paid.
-- Levels: `product` (same national code: 四同, same generic, maker, form and
-- spec), per minimum unit; `generic` (same generic name and dosage form,
-- after price-ratio normalisation to the group's representative spec, see
-- price_spec_normalisation), per minimum unit of the representative spec.
-- Regions: `city` (admdvs = city code) and `all` (admdvs NULL).
-- Only benchmarks with at least benchmark_min_institutions public
-- institutions (seeds/monitoring_thresholds.csv, default 3) are published;
-- min_institutions records the threshold used. At level product × all the
-- median equals the contract's peer median.
with institution_months as (
    select * from {{ ref('int_price_institution_months') }}
    where ownership = 'public' and {{ in_rebuilt_months('month') }}
),

specs as (
    select * from {{ ref('price_spec_normalisation') }}
),

product_values as (
    select
        'product' as benchmark_level,
        med_list_codg as benchmark_key,
        med_list_codg,
        month,
        fixmedins_code,
        city_admdvs,
        amount,
        cast(qty as double) as qty
    from institution_months
),

generic_values as (
    select
        'generic' as benchmark_level,
        generic_group as benchmark_key,
        null as med_list_codg,
        month,
        fixmedins_code,
        {{ any_of('city_admdvs') }} as city_admdvs,
        sum(amount) as amount,
        sum(equivalent_qty) as qty
    from institution_months
    where generic_group is not null
    group by generic_group, month, fixmedins_code
),

institution_values as (
    select *, cast(amount as double) / qty as unit_price
    from (
        select * from product_values
        union all
        select * from generic_values
    )
    where qty > 0
),

regional as (
    select *, 'city' as region_level, city_admdvs as admdvs from institution_values
    union all
    select *, 'all' as region_level, null as admdvs from institution_values
),

benchmarks as (
    select
        benchmark_level,
        benchmark_key,
        month,
        region_level,
        admdvs,
        median(unit_price) as median_unit_price,
        -- clamped into [min, median]: interpolating between equal values
        -- can land one ulp outside them
        least(greatest(percentile_cont(0.1) within group (order by unit_price), min(unit_price)), median(unit_price)) as p10_unit_price,
        min(unit_price) as min_unit_price,
        max(unit_price) as max_unit_price,
        count(*) as institutions,
        sum(amount) as amount,
        sum(qty) as qty
    from regional
    group by benchmark_level, benchmark_key, month, region_level, admdvs
    having count(*) >= {{ threshold('benchmark_min_institutions') }}
),

-- descriptive attributes: of the product, or of the group's representative
product_attributes as (
    select med_list_codg as benchmark_key, med_list_codg, category_group, generic_name, dosage_form, spec,
           convrat, min_unit
    from specs
),

group_attributes as (
    select generic_group as benchmark_key, {{ any_of('category_group') }} as category_group,
           {{ any_of('generic_name') }} as generic_name, {{ any_of('dosage_form') }} as dosage_form,
           {{ any_of('representative_spec') }} as spec, {{ any_of('representative_convrat') }} as convrat,
           {{ first_by('min_unit', 'med_list_codg') }} as min_unit
    from specs
    where generic_group is not null
    group by generic_group
),

final as (
    select
        b.benchmark_level,
        b.benchmark_key,
        b.month,
        b.region_level,
        b.admdvs,
        coalesce(p.category_group, g.category_group) as category_group,
        p.med_list_codg,
        coalesce(p.generic_name, g.generic_name) as generic_name,
        coalesce(p.dosage_form, g.dosage_form) as dosage_form,
        coalesce(p.spec, g.spec) as spec,
        coalesce(p.convrat, g.convrat) as convrat,
        coalesce(p.min_unit, g.min_unit) as min_unit,
        b.median_unit_price,
        b.p10_unit_price,
        b.min_unit_price,
        b.max_unit_price,
        b.institutions,
        cast({{ threshold('benchmark_min_institutions') }} as integer) as min_institutions,
        b.amount,
        b.qty
    from benchmarks as b
    -- (the level test inside the key: a condition on b alone in a left join's
    -- ON makes DuckDB fall back to a nested-loop join, minutes at scale)
    left join product_attributes as p
        on p.benchmark_key = case when b.benchmark_level = 'product' then b.benchmark_key end
    left join group_attributes as g
        on g.benchmark_key = case when b.benchmark_level = 'generic' then b.benchmark_key end
)

select * from final
