{{ config(**month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- 可节约金额: one row per institution × product × month with price-eligible
-- lines (every institution, with its ownership), over the same lines and
-- minimum-unit quantities as the price deviation index.
-- OpenPrescribing price-per-unit method (Bennett Institute): possible
-- savings = max(0, paid unit price − P10 benchmark) × quantity, where the
-- paid price is the institution's quantity-weighted mean for the product
-- and month and P10 is the 10th percentile of public institutions' prices
-- (price_benchmarks, region `all`, at least benchmark_min_institutions):
--   savings_vs_product_p10: same product (national code), per minimum unit;
--   savings_vs_generic_p10: same generic group after 2452号 normalisation,
--     on normalised price × equivalent quantity (what switching to the
--     achievable price of any brand/spec of the group would have saved).
--   The two are alternative views of one purchase, not to be added.
-- NULL = no benchmark (too few buyers, or the spec is not normalised), not 0.
-- above_listed_amount (超挂网价) = Σ over lines of max(0, paid − listed
-- price valid that day) × packs; NULL when no line had a listed price.
with institution_months as (
    select * from {{ ref('int_price_institution_months') }}
    where {{ in_rebuilt_months('month') }}
),

benchmarks as (
    select * from {{ ref('price_benchmarks') }}
    where region_level = 'all' and {{ in_rebuilt_months('month') }}
),

final as (
    select
        i.fixmedins_code,
        i.med_list_codg,
        i.month,
        i.fixmedins_name,
        i.ownership,
        i.admdvs,
        i.city_admdvs,
        i.category_group,
        i.generic_name,
        i.min_unit,
        i.qty as qty_min_units,
        i.amount,
        i.unit_price,
        bp.median_unit_price as product_median_unit_price,
        bp.p10_unit_price as product_p10_unit_price,
        bp.institutions as product_benchmark_institutions,
        case when bp.p10_unit_price is not null
             then greatest(0, i.unit_price - bp.p10_unit_price) * cast(i.qty as double) end as savings_vs_product_p10,
        i.generic_group,
        i.normalised_unit_price,
        i.equivalent_qty,
        bg.p10_unit_price as generic_p10_unit_price,
        bg.institutions as generic_benchmark_institutions,
        case when bg.p10_unit_price is not null
             then greatest(0, i.normalised_unit_price - bg.p10_unit_price) * i.equivalent_qty end as savings_vs_generic_p10,
        i.listed_amount,
        i.above_listed_amount
    from institution_months as i
    left join benchmarks as bp
        on bp.benchmark_level = 'product' and bp.benchmark_key = i.med_list_codg and bp.month = i.month
    left join benchmarks as bg
        on bg.benchmark_level = 'generic' and bg.benchmark_key = i.generic_group and bg.month = i.month
)

select * from final
