{{ config(schema='incremental', **month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- One row per product × month with a peer median unit price.
-- Rule (models/metrics.md, metric_price_deviation_index): each public institution's quantity-weighted
-- mean unit price (upp = price ÷ convrat) for the product and month, then the
-- median across institutions (mean of the two middle values when even),
-- only when at least `peer_min_institutions` public institutions bought it.
-- Price indicators use 3503 lines only, without gifts or imputed prices.
-- Reads the lines with their product and institution only, not
-- int_purchase_lines_priced: a line with a delivered price is never imputed,
-- so the listed and winning prices of the day (two joins over every line)
-- decide nothing here. Quantities as in int_purchase_lines_priced.
with lines as (
    select * from {{ ref('stg_lake__purchases') }}
    where {{ in_rebuilt_months('month') }}
),

products as (
    select * from {{ ref('stg_lake__products') }}
),

institutions as (
    select * from {{ ref('stg_lake__institutions') }}
),

eligible as (
    select
        l.med_list_codg,
        l.month,
        l.fixmedins_code,
        l.finl_trns_pric,
        l.purc_retn_cnt,
        cast(l.purc_retn_cnt * p.convrat as decimal(18, 6)) as qty_min_units
    from lines as l
    inner join products as p on p.med_list_codg = l.med_list_codg
    inner join institutions as i on i.fixmedins_code = l.fixmedins_code
    where not l.is_return
        and not l.is_gift
        and l.finl_trns_pric is not null
        and l.receipt_date <= {{ as_of_date() }}
        and i.ownership = 'public'
),

per_institution as (
    select
        med_list_codg,
        month,
        fixmedins_code,
        -- Σ(upp × qty) ÷ Σ qty = Σ amount ÷ Σ qty: exact sums, one division.
        cast(sum(finl_trns_pric * purc_retn_cnt) as double) / cast(sum(qty_min_units) as double) as weighted_upp
    from eligible
    where qty_min_units > 0
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
