{{ config(**month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- One row per institution × month × category group with price-eligible lines
-- (models/metrics.md, metric_price_deviation_index). Over eligible lines that have a
-- reference: actual_amount = Σ upp × qty, reference_amount = Σ r × qty,
-- pdi = actual ÷ reference (1.00 = paid the reference; 1.10 = 10 % above;
-- higher = paid more), coverage = actual_amount ÷ Σ amount of all eligible
-- lines of the grain.
with eligible as (
    select * from {{ ref('purchase_lines') }}
    where is_price_eligible and category_group is not null and {{ in_rebuilt_months('month') }}
),

final as (
    select
        fixmedins_code,
        month,
        category_group,
        {{ any_of('ownership') }} as ownership,
        {{ any_of('admdvs') }} as admdvs,
        {{ price_deviation_aggregates() }},
        count(*) as line_count
    from eligible
    group by fixmedins_code, month, category_group
)

select * from final
