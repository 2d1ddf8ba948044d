{{ config(**month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- One row per accepted input line (3503 and 3504) with its references and
-- deviations (data-contract.md §3). Lines received after the as-of date are
-- kept and flagged (is_after_as_of) but count in no indicator.
-- Price eligibility (models/metrics.md, metric_common_rules): 3503 lines only, not gifts, price
-- delivered (not filled in from the listed price). The reference is taken in
-- the order winning price, listed price, peer median; all per minimum unit.
with lines as (
    select * from {{ ref('int_purchase_lines_priced') }}
    where {{ in_rebuilt_months('month') }}
),

peer as (
    select * from {{ ref('int_peer_median_prices') }}
    where {{ in_rebuilt_months('month') }}
),

referenced as (
    select
        lines.*,
        not lines.is_return and not lines.is_gift and not lines.price_imputed
            and lines.finl_trns_pric is not null and not lines.is_after_as_of as is_price_eligible,
        lines.finl_trns_pric / lines.convrat as unit_price,
        lines.listed_price / lines.convrat as listed_unit_price,
        lines.winning_price / lines.convrat as winning_unit_price,
        peer.peer_median_upp as peer_median_unit_price,
        peer.peer_institutions
    from lines
    left join peer on peer.med_list_codg = lines.med_list_codg and peer.month = lines.month
),

final as (
    select
        *,
        case
            when winning_unit_price is not null then 'winning_price'
            when listed_unit_price is not null then 'listed_price'
            when peer_median_unit_price is not null then 'peer_median'
        end as reference_type,
        coalesce(winning_unit_price, listed_unit_price, peer_median_unit_price) as reference_unit_price,
        -- Reference amount of the line in yuan: r × qty. For winning and
        -- listed prices r × qty = pack price × packs exactly (decimal), so
        -- sums do not depend on the order DuckDB adds them in.
        case
            when winning_price is not null then {{ line_amount('winning_price', 'purc_retn_cnt') }}
            when listed_price is not null then {{ line_amount('listed_price', 'purc_retn_cnt') }}
            when peer_median_unit_price is not null then cast(peer_median_unit_price * qty_min_units as decimal(18, 4))
        end as reference_amount,
        unit_price / coalesce(winning_unit_price, listed_unit_price, peer_median_unit_price) - 1 as deviation,
        unit_price / listed_unit_price - 1 as deviation_vs_listed,
        unit_price / winning_unit_price - 1 as deviation_vs_winning,
        unit_price / peer_median_unit_price - 1 as deviation_vs_peer_median,
        -- cast: integer × decimal(18, x) widens to decimal(29, x) on Spark
        cast(sign * qty_min_units as decimal(18, 6)) as net_qty_min_units,
        cast(sign * amount as decimal(18, 4)) as net_amount
    from referenced
)

select * from final
