-- One row per platform pay order (回款): an invoice may be paid in several.
select
    pay_order_id,
    invoice_no,
    invoice_code,
    fixmedins_code,
    supplier_name,
    pay_amount,
    pay_at,
    pay_status,
    updated_at,
    _source_file as source_file
from {{ source('lake', 'platform_payments') }}
