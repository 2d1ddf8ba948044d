-- 三流合一 money flow: one row per supplier invoice on the platform with its
-- payment timeliness at the as-of date (回款; docs/domain-notes.md §3: payment
-- within payment_due_days = 30 days of the confirmed receipt, dbt var).
--   days_to_payment  paid date − confirm date (fully paid invoices);
--   days_outstanding as-of date − confirm date (invoices not fully paid);
--   payment_status   paid_on_time, paid_late, unpaid_overdue, unpaid_not_due,
--                    or not_confirmed (a shipment not yet confirmed: not due).
-- payment_overdue anomalies are raised from the paid_late and unpaid_overdue rows.
with invoices as (
    select * from {{ ref('int_platform_invoices') }}
),

institutions as (
    select * from {{ ref('stg_lake__institutions') }}
),

timed as (
    select
        v.*,
        case when v.paid_at is not null and v.confirm_at is not null
             then {{ days_between('v.confirm_date', 'cast(v.paid_at as date)') }} end as days_to_payment,
        case when v.paid_at is null and v.confirm_at is not null
             then {{ days_between('v.confirm_date', as_of_date()) }} end as days_outstanding
    from invoices as v
)

select
    t.fixmedins_code,
    t.supplier_name,
    t.invoice_no,
    t.invoice_code,
    i.fixmedins_name,
    i.ownership,
    i.admdvs,
    t.invoice_date,
    t.invoice_amount,
    t.shipments,
    t.order_nos,
    t.confirm_at,
    t.confirm_date,
    t.due_date,
    cast(date_trunc('month', t.confirm_date) as date) as month,
    t.paid_amount,
    t.outstanding_amount,
    t.pay_orders,
    t.last_pay_at,
    t.paid_at,
    t.days_to_payment,
    t.days_outstanding,
    case
        when not t.all_confirmed or t.confirm_at is null then 'not_confirmed'
        when t.paid_at is not null and t.days_to_payment <= {{ var('platform_payment_due_days') }} then 'paid_on_time'
        when t.paid_at is not null then 'paid_late'
        when t.days_outstanding > {{ var('platform_payment_due_days') }} then 'unpaid_overdue'
        else 'unpaid_not_due'
    end as payment_status,
    coalesce(t.all_confirmed and t.confirm_at is not null and (
        (t.paid_at is not null and t.days_to_payment > {{ var('platform_payment_due_days') }})
        or (t.paid_at is null and t.days_outstanding > {{ var('platform_payment_due_days') }})), false) as is_overdue
from timed as t
left join institutions as i using (fixmedins_code)
