{{ config(schema='incremental', **month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- One row per product × month with a peer median unit price.
-- Rule (models/metrics.md, metric_price_deviation_index): each public institution's quantity-weighted
-- mean unit price (upp = price ÷ convrat) for the product and month, then the
-- median across institutions (mean of the two middle values when even),
-- only when at least `peer_min_institutions` public institutions bought it.
-- Price indicators use 3503 lines only, without gifts or imputed prices.
with eligible as (
    select * from {{ ref('int_purchase_lines_priced') }}
    where not is_return
        and not is_gift
        and not price_imputed
        and finl_trns_pric is not null
        and not is_after_as_of
        and ownership = 'public'
        and qty_min_units > 0
        and {{ in_rebuilt_months('month') }}
),

per_institution as (
    select
        med_list_codg,
        month,
        fixmedins_code,
        -- Σ(upp × qty) ÷ Σ qty = Σ amount ÷ Σ qty: exact sums, one division.
        cast(sum(finl_trns_pric * purc_retn_cnt) as double) / cast(sum(qty_min_units) as double) as weighted_upp
    from eligible
    group by all
),

final as (
    select
        med_list_codg,
        month,
        median(weighted_upp) as peer_median_upp,
        count(*) as peer_institutions
    from per_institution
    group by all
    having count(*) >= {{ var('peer_min_institutions') }}
)

select * from final
