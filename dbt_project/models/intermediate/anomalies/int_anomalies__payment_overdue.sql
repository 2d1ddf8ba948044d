-- Findings: supplier invoices the institution paid more than
-- payment_due_days (dbt var, default 30; docs/domain-notes.md §3) after confirming
-- the receipt, or has still not paid in full that long after it at the as-of
-- date (拖欠货款; seed plans: act against late payment to suppliers). One
-- finding per invoice (platform_invoice_payments, pulled from the provincial
-- platform): its identity includes the supplier and invoice number, so it
-- keeps its id from night to night while it stays unpaid and after it is paid.
-- metric_value = days to payment (paid) or days outstanding (unpaid);
-- gap = days ÷ due days − 1 (45 days → 0.5, high); excess_amount = the amount
-- paid late, or still outstanding.
with overdue as (
    select * from {{ ref('platform_invoice_payments') }}
    where is_overdue
)

select
    'payment_overdue' as anomaly_type,
    fixmedins_code,
    month,
    supplier_name,
    invoice_no,
    cast(coalesce(days_to_payment, days_outstanding) as double) as metric_value,
    cast({{ var('platform_payment_due_days') }} as double) as reference_value,
    'payment_due_days' as reference_type,
    coalesce(days_to_payment, days_outstanding) / {{ var('platform_payment_due_days') }} - 1 as gap,
    cast(case when payment_status = 'paid_late' then invoice_amount else outstanding_amount end as decimal(18, 4))
        as excess_amount,
    case when payment_status = 'paid_late' then
        {% call format_text('{}（{}）{}确认收货入库的{}发票{}（金额{:.2f}元），于{}才付清，距确认收货{}天，超过{}天的回款期限{}天。请说明拖欠货款的原因，并说明此后按期回款的措施。') %}
            coalesce(fixmedins_name, fixmedins_code), fixmedins_code, {{ date_text_zh('confirm_date') }},
            coalesce(supplier_name, '配送企业'), invoice_no, invoice_amount, {{ date_text_zh('cast(paid_at as date)') }},
            days_to_payment, {{ var('platform_payment_due_days') }}, days_to_payment - {{ var('platform_payment_due_days') }}{% endcall %}
    else
        {% call format_text('{}（{}）{}确认收货入库的{}发票{}（金额{:.2f}元），截至{}仍有{:.2f}元未支付，距确认收货已{}天，超过{}天的回款期限。请说明拖欠货款的原因，并尽快支付欠款。') %}
            coalesce(fixmedins_name, fixmedins_code), fixmedins_code, {{ date_text_zh('confirm_date') }},
            coalesce(supplier_name, '配送企业'), invoice_no, invoice_amount, {{ date_text_zh(as_of_date()) }},
            outstanding_amount, days_outstanding, {{ var('platform_payment_due_days') }}{% endcall %}
    end as detail
from overdue
