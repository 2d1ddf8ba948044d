-- 三流合一 goods flow: every platform order × product placed by the as-of
-- date, ordered vs delivered (platform shipments) vs received (the
-- institution's own 3503 receipt lines naming the order number). Status:
--   not_delivered  nothing shipped, nothing received;
--   matched        received = delivered;
--   in_transit     less received than delivered, last shipment within
--                  platform_receipt_grace_days (dbt var) of the as-of date;
--   not_received   delivered, older than the grace, and no receipt line at all
--                  (goods the platform says arrived, missing from the
--                  institution's stock-in records);
--   qty_mismatch   received ≠ delivered otherwise (short or excess receipt).
-- Empty when no platform data were pulled.
with lines as (
    select * from {{ ref('int_platform_order_lines') }}
),

institutions as (
    select * from {{ ref('stg_lake__institutions') }}
),

products as (
    select * from {{ ref('stg_lake__products') }}
),

classified as (
    select
        l.*,
        case
            when l.delivered_qty = 0 and l.received_qty = 0 then 'not_delivered'
            when l.received_qty = l.delivered_qty then 'matched'
            when l.received_qty < l.delivered_qty
                and cast(l.last_send_out_at as date) > {{ as_of_date() }} - {{ var('platform_receipt_grace_days') }}
                then 'in_transit'
            when l.received_qty = 0 then 'not_received'
            else 'qty_mismatch'
        end as recon_status
    from lines as l
)

select
    c.fixmedins_code,
    c.order_no,
    c.med_list_codg,
    coalesce(i.fixmedins_name, c.platform_fixmedins_name) as fixmedins_name,
    i.ownership,
    i.admdvs,
    c.supplier_name,
    coalesce(p.generic_name, c.product_name) as generic_name,
    p.category_group,
    c.order_detail_ids,
    c.order_time,
    cast(date_trunc('month', c.order_time) as date) as month,
    c.order_qty,
    c.order_amount,
    c.delivered_qty,
    c.delivered_amount,
    c.shipments,
    c.first_send_out_at,
    c.last_send_out_at,
    c.last_confirm_at,
    c.received_qty,
    c.returned_qty,
    c.receipt_lines,
    c.first_receipt_time,
    c.received_qty - c.delivered_qty as qty_difference,
    c.recon_status,
    c.recon_status in ('not_received', 'qty_mismatch') as is_discrepancy
from classified as c
left join institutions as i using (fixmedins_code)
left join products as p using (med_list_codg)
