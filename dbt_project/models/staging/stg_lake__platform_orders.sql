-- One row per platform order line (ordorderdetailid), as last pulled from the
-- provincial platform's API (ingest/platform_loader.py). Quantities in packs,
-- price per pack (purprice); delivered_qty is the supplier's feedback
-- (quantityfeedback, docs/domain-notes.md §6). Empty when no API pull happened.
select
    order_detail_id,
    order_no,
    fixmedins_code,
    fixmedins_name,
    supplier_name,
    med_list_codg,
    product_name,
    -- Widened so quantity × price (decimal 18,6 each) cannot overflow
    -- (DuckDB types that product decimal(18,12): at most 999,999.99 yuan).
    cast(order_qty as decimal(38, 6)) as order_qty,
    order_price,
    cast(delivered_qty as decimal(38, 6)) as delivered_qty,
    order_time,
    order_status,
    updated_at,
    _source_file as source_file
from {{ source('lake', 'platform_orders') }}
