-- 配送率 per supplier (配送企业) × month of order: delivered ÷ ordered
-- (Tianjin TPS quantityfeedback ÷ purquantity, docs/domain-notes.md §6), by
-- quantity in packs and by amount at the order price. Orders placed within
-- platform_receipt_grace_days (dbt var) of the as-of date are left out: their
-- deliveries may still be on the way.
with lines as (
    select * from {{ ref('int_platform_order_lines') }}
    where cast(order_time as date) <= {{ as_of_date() }} - {{ var('platform_receipt_grace_days') }}
)

select
    coalesce(supplier_name, '') as supplier_name,
    cast(date_trunc('month', order_time) as date) as month,
    count(*) as order_lines,
    count(distinct fixmedins_code) as institutions,
    sum(order_qty) as ordered_qty,
    sum(delivered_qty) as delivered_qty,
    {{ ratio('sum(delivered_qty)', 'sum(order_qty)') }} as fill_rate,
    sum(order_amount) as ordered_amount,
    sum(delivered_amount) as delivered_amount,
    {{ ratio('sum(delivered_amount)', 'sum(order_amount)') }} as amount_fill_rate,
    count(*) filter (where delivered_qty < order_qty) as lines_short,
    count(*) filter (where delivered_qty = 0) as lines_undelivered
from lines
group by all
