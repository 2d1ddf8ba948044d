-- Three-flow reconciliation base (三流合一, plan 002_9f7f26333dbc57fe.txt in docs/plan-sources.md; docs/domain-notes.md §6):
-- one row per platform order × product (institution, order number, national
-- code) placed by the as-of date, with
--   ordered   = Σ purquantity of its order lines (packs),
--   delivered = Σ shipped quantity of its platform shipments sent by the
--               as-of date (else the supplier's quantityfeedback),
--   received  = Σ purc_retn_cnt of the institution's 3503 receipt lines that
--               name this platform_order_no and product, received by the
--               as-of date (3504 returns are reported apart, not netted).
-- Events after the as-of date count as not yet happened, so a run for an
-- earlier day shows that day's picture.
with orders as (
    select * from {{ ref('stg_lake__platform_orders') }}
    where cast(order_time as date) <= {{ as_of_date() }}
),

shipments as (
    select
        order_detail_id,
        sum(shipped_qty) as shipped_qty,
        count(*) as shipments,
        min(send_out_at) as first_send_out_at,
        max(send_out_at) as last_send_out_at,
        max(confirm_at) filter (where cast(confirm_at as date) <= {{ as_of_date() }}) as last_confirm_at
    from {{ ref('stg_lake__platform_deliveries') }}
    where cast(send_out_at as date) <= {{ as_of_date() }}
    group by order_detail_id
),

order_products as (
    select
        o.fixmedins_code,
        o.order_no,
        o.med_list_codg,
        {{ any_of('o.fixmedins_name') }} as platform_fixmedins_name,
        {{ any_of('o.supplier_name') }} as supplier_name,
        {{ any_of('o.product_name') }} as product_name,
        {{ sorted_string_agg('o.order_detail_id', "','") }} as order_detail_ids,
        min(o.order_time) as order_time,
        sum(o.order_qty) as order_qty,
        sum(o.order_qty * o.order_price) as order_amount,
        sum(coalesce(s.shipped_qty,
                     case when cast(o.updated_at as date) <= {{ as_of_date() }} then o.delivered_qty end,
                     0)) as delivered_qty,
        sum(coalesce(s.shipped_qty,
                     case when cast(o.updated_at as date) <= {{ as_of_date() }} then o.delivered_qty end,
                     0) * o.order_price) as delivered_amount,
        sum(coalesce(s.shipments, 0)) as shipments,
        min(s.first_send_out_at) as first_send_out_at,
        max(s.last_send_out_at) as last_send_out_at,
        max(s.last_confirm_at) as last_confirm_at
    from orders as o
    left join shipments as s using (order_detail_id)
    group by o.fixmedins_code, o.order_no, o.med_list_codg
),

receipts as (
    select
        fixmedins_code,
        platform_order_no as order_no,
        med_list_codg,
        coalesce(sum(purc_retn_cnt) filter (where not is_return), 0) as received_qty,
        coalesce(sum(purc_retn_cnt) filter (where is_return), 0) as returned_qty,
        count(*) filter (where not is_return) as receipt_lines,
        min(receipt_time) filter (where not is_return) as first_receipt_time
    from {{ ref('purchase_lines') }} as l
    -- only receipts of orders on the platform (the rest are in
    -- platform_unmatched_receipts): without this, every platform line of
    -- history is grouped to be thrown away by the join below
    semi join (select distinct fixmedins_code, order_no from orders) as o
        on o.fixmedins_code = l.fixmedins_code and o.order_no = l.platform_order_no
    where platform_order_no is not null and not is_after_as_of
    group by all
)

select
    op.*,
    coalesce(r.received_qty, 0) as received_qty,
    coalesce(r.returned_qty, 0) as returned_qty,
    coalesce(r.receipt_lines, 0) as receipt_lines,
    r.first_receipt_time
from order_products as op
left join receipts as r using (fixmedins_code, order_no, med_list_codg)
