-- One row per invoice on the platform (institution × supplier × invoice
-- number, from the shipments that carry it) with its payment state at the
-- as-of date. The invoice falls due payment_due_days (dbt var, default 30:
-- docs/domain-notes.md §3, ≤ 30 days from accepted delivery) after the receipt of
-- its last shipment was confirmed (confirm_at = 入库); it is paid on the
-- day the pay orders paid by the as-of date reach its amount (1 fen
-- tolerance). Shipments without an invoice number are left out (nothing to
-- pay against yet); invoices with a shipment not yet confirmed are
-- 'not_confirmed' (not yet due).
with shipments as (
    select * from {{ ref('stg_lake__platform_deliveries') }}
    where invoice_no is not null and cast(send_out_at as date) <= {{ as_of_date() }}
),

invoices as (
    select
        fixmedins_code,
        coalesce(supplier_name, '') as supplier_key,
        invoice_no,
        {{ any_of('supplier_name') }} as supplier_name,
        {{ any_of('invoice_code') }} as invoice_code,
        min(invoice_date) as invoice_date,
        -- invoiceTotal is the invoice's total, repeated on each shipment it covers
        max(invoice_total) as invoice_amount,
        count(*) as shipments,
        {{ distinct_string_agg('order_no', "','") }} as order_nos,
        bool_and(confirm_at is not null and cast(confirm_at as date) <= {{ as_of_date() }}) as all_confirmed,
        max(confirm_at) filter (where cast(confirm_at as date) <= {{ as_of_date() }}) as confirm_at
    from shipments
    group by fixmedins_code, coalesce(supplier_name, ''), invoice_no
),

payments as (
    select *
    from {{ ref('stg_lake__platform_payments') }}
    where cast(pay_at as date) <= {{ as_of_date() }}
),

-- An invoice's pay orders: same institution and invoice number, and the
-- same supplier where both name one. The supplier test is a filter after an
-- inner join on the two keys; as a condition of a left join it could not be
-- hashed, and DuckDB compared every invoice with every pay order
-- (tests/test_join_plans.py; issue 18). Invoices without a pay order come
-- back in `paid`'s left join on the invoice's own key. The running total is
-- over the invoice's own pay orders: one naming its supplier and one naming
-- none both pay it (it was kept per supplier name, so such an invoice, paid
-- in full, had no day it was paid).
invoice_pay_orders as (
    select
        i.fixmedins_code, i.supplier_key, i.invoice_no, p.pay_amount, p.pay_order_id, p.pay_at,
        sum(p.pay_amount) over (partition by i.fixmedins_code, i.supplier_key, i.invoice_no
                                order by p.pay_at, p.pay_order_id) as paid_running
    from invoices as i
    inner join payments as p
        on p.fixmedins_code = i.fixmedins_code
        and p.invoice_no = i.invoice_no
    where p.supplier_name is null or i.supplier_name is null or p.supplier_name = i.supplier_name
),

paid as (
    select
        i.fixmedins_code,
        i.supplier_key,
        i.invoice_no,
        coalesce(sum(p.pay_amount), 0) as paid_amount,
        count(p.pay_order_id) as pay_orders,
        max(p.pay_at) as last_pay_at,
        min(p.pay_at) filter (where p.paid_running >= i.invoice_amount - 0.01) as paid_at
    from invoices as i
    left join invoice_pay_orders as p
        on p.fixmedins_code = i.fixmedins_code
        and p.supplier_key = i.supplier_key
        and p.invoice_no = i.invoice_no
    group by i.fixmedins_code, i.supplier_key, i.invoice_no
)

select
    {{ star_except(['supplier_key'], alias='i') }},
    cast(i.confirm_at as date) as confirm_date,
    cast(i.confirm_at as date) + {{ var('platform_payment_due_days') }} as due_date,
    p.paid_amount,
    greatest(i.invoice_amount - p.paid_amount, 0) as outstanding_amount,
    p.pay_orders,
    p.last_pay_at,
    case when i.invoice_amount <= 0 then i.confirm_at else p.paid_at end as paid_at
from invoices as i
join paid as p using (fixmedins_code, supplier_key, invoice_no)
