{{ config(**month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- One row per product × month: the price deviation index of the product
-- across public institutions (region roll-ups cover public institutions
-- only, models/metrics.md metric_common_rules), with the formula and the lines of
-- price_deviation_index (price-eligible 3503 lines; reference r = winning,
-- else listed, else peer median, per minimum unit):
--   pdi = Σ upp × qty ÷ Σ r × qty over lines with a reference; 1.00 = paid
--         the references, higher = paid more;
--   coverage = the share of the eligible amount that had a reference.
with lines as (
    select * from {{ ref('purchase_lines') }}
    where is_price_eligible and category_group is not null and ownership = 'public'
        and {{ in_rebuilt_months('month') }}
),

final as (
    select
        med_list_codg,
        month,
        {{ any_of('category_group') }} as category_group,
        {{ any_of('generic_name') }} as generic_name,
        {{ any_of('min_unit') }} as min_unit,
        {{ price_deviation_aggregates() }},
        sum(qty_min_units) as qty_min_units,
        count(distinct fixmedins_code) as institution_count,
        count(*) as line_count
    from lines
    group by med_list_codg, month
)

select * from final
