-- One row per product × span of days [valid_from, valid_to) over which the
-- same VBP cycles cover the product, with the lowest of their winning
-- prices (per pack): a product may win in several batches, and on a day
-- covered by more than one cycle the lowest winning price is the reference
-- (models/metrics.md, metric_price_deviation_index). Days no cycle covers
-- have no row. The spans never overlap, so int_purchase_lines_priced finds
-- a line's winning price with one range join (macros/helpers.sql
-- cycle_day_spans, issue 18).
with winning as (
    select med_list_codg, winning_price, cycle_start, cycle_end
    from {{ ref('stg_lake__vbp_results') }}
)

select * from {{ cycle_day_spans('winning', 'winning_price', 'min') }} as spans
