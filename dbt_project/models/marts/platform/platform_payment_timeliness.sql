-- 回款及时率 per institution × supplier × month of receipt confirmation:
-- how many invoices were paid within payment_due_days (dbt var, default 30)
-- of the confirmed receipt. Only decided invoices count in the shares: paid
-- (on time or late) or past due unpaid; invoices not yet due are counted
-- apart. Sum the counts and amounts to roll up to institution or supplier.
with invoices as (
    select * from {{ ref('platform_invoice_payments') }}
    where payment_status <> 'not_confirmed'
)

select
    fixmedins_code,
    supplier_name,
    month,
    {{ any_of('fixmedins_name') }} as fixmedins_name,
    {{ any_of('ownership') }} as ownership,
    {{ any_of('admdvs') }} as admdvs,
    count(*) as invoices,
    count(*) filter (where payment_status <> 'unpaid_not_due') as invoices_decided,
    count(*) filter (where payment_status = 'paid_on_time') as paid_on_time,
    count(*) filter (where payment_status = 'paid_late') as paid_late,
    count(*) filter (where payment_status = 'unpaid_overdue') as unpaid_overdue,
    count(*) filter (where payment_status = 'unpaid_not_due') as unpaid_not_due,
    sum(invoice_amount) as invoice_amount,
    coalesce(sum(invoice_amount) filter (where payment_status = 'paid_on_time'), 0) as paid_on_time_amount,
    coalesce(sum(invoice_amount) filter (where payment_status <> 'unpaid_not_due'), 0) as decided_amount,
    coalesce(sum(outstanding_amount) filter (where payment_status = 'unpaid_overdue'), 0) as overdue_outstanding_amount,
    {{ ratio("count(*) filter (where payment_status = 'paid_on_time')",
             "count(*) filter (where payment_status <> 'unpaid_not_due')") }} as share_paid_on_time,
    {{ ratio("coalesce(sum(invoice_amount) filter (where payment_status = 'paid_on_time'), 0)",
             "sum(invoice_amount) filter (where payment_status <> 'unpaid_not_due')") }} as amount_share_paid_on_time,
    avg(days_to_payment) as avg_days_to_payment,
    max(coalesce(days_to_payment, days_outstanding)) filter (where payment_status <> 'unpaid_not_due') as max_days
from invoices
group by fixmedins_code, supplier_name, month
