-- One row per platform shipment (配送单): sent, received and confirmed into
-- stock (confirm_at = 入库 time on the platform), with the supplier's invoice
-- (docs/domain-notes.md §6 settlement-chain shipment order).
select
    shipment_id,
    order_no,
    order_detail_id,
    fixmedins_code,
    supplier_name,
    med_list_codg,
    cast(shipped_qty as decimal(38, 6)) as shipped_qty,  -- × order price: see stg_lake__platform_orders
    send_out_at,
    receive_at,
    confirm_at,
    shipment_status,
    invoice_no,
    invoice_code,
    invoice_date,
    invoice_total,
    updated_at,
    _source_file as source_file
from {{ source('lake', 'platform_deliveries') }}
