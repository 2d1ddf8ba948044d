-- 直接结算 ledger (issue 16 part 1; docs/money-and-enforcement.md): one row
-- per platform shipment of a VBP winning product whose receipt was confirmed
-- (入库, confirm_at) by the as-of date, inside a cycle of the batch it won.
--   amount_payable     = shipped packs × winning price per pack (the lowest
--                        winning price when cycles overlap, as in
--                        int_purchase_lines_priced);
--   settled_date       = day the invoice carrying the shipment was paid in
--                        full on the platform (int_platform_invoices), by the
--                        as-of date;
--   settled_by         = fund (医保基金直接结算) when the city's
--                        direct_settlement rule (seeds/settlement_rules.csv)
--                        was 1 on the settlement day, else institution: the
--                        platform's pay orders do not say who paid;
--   settlement_party   = who had to settle: the same rule on the receipt day;
--   days_to_settlement = settled_date − receipt_date (calendar days, so a
--                        receipt on 28 Jan settled on 3 Feb took 6 days);
--   due_date           = receipt_date + settlement_due_days (city rule in
--                        force on the receipt day, default 30);
--   settlement_status  = settled_on_time, settled_late, unsettled_overdue or
--                        unsettled_not_due; is_overdue for the late two.
with shipments as (
    select * from {{ ref('stg_lake__platform_deliveries') }}
    where confirm_at is not null and cast(confirm_at as date) <= {{ as_of_date() }}
),

winning as (
    select med_list_codg, batch_code, group_code, winning_price, cycle_start, cycle_end
    from {{ ref('stg_lake__vbp_results') }}
),

vbp_shipments as (
    select
        s.*,
        cast(s.confirm_at as date) as receipt_date,
        w.batch_code,
        w.group_code,
        w.winning_price
    from shipments as s
    inner join winning as w
        on w.med_list_codg = s.med_list_codg
        and cast(s.confirm_at as date) between w.cycle_start and w.cycle_end
    qualify row_number() over (partition by s.shipment_id order by w.winning_price, w.batch_code, w.group_code) = 1
),

invoices as (
    select * from {{ ref('int_platform_invoices') }}
),

institutions as (
    select * from {{ ref('stg_lake__institutions') }}
),

joined as (
    select
        s.shipment_id,
        s.order_no,
        s.fixmedins_code,
        i.fixmedins_name,
        i.admdvs,
        i.city_admdvs,
        s.supplier_name,
        s.med_list_codg,
        s.batch_code,
        s.group_code,
        s.receipt_date,
        cast(date_trunc('month', s.receipt_date) as date) as month,
        s.shipped_qty,
        s.winning_price,
        cast(s.shipped_qty * s.winning_price as decimal(18, 2)) as amount_payable,
        s.invoice_no,
        v.invoice_amount,
        cast(v.paid_at as date) as settled_date
    from vbp_shipments as s
    left join institutions as i on i.fixmedins_code = s.fixmedins_code
    left join invoices as v
        on v.fixmedins_code = s.fixmedins_code
        and v.invoice_no = s.invoice_no
        and coalesce(v.supplier_name, '') = coalesce(s.supplier_name, '')
),

ruled as (
    select
        *,
        cast({{ settlement_rule('settlement_due_days', 'joined.city_admdvs', 'joined.receipt_date') }} as integer) as due_days,
        {{ settlement_rule('direct_settlement', 'joined.city_admdvs', 'joined.receipt_date') }} = 1 as direct_on_receipt,
        {{ settlement_rule('direct_settlement', 'joined.city_admdvs', 'joined.settled_date') }} = 1 as direct_on_settlement
    from joined
),

final as (
    select
        {{ star_except(['direct_on_receipt', 'direct_on_settlement']) }},
        case when direct_on_receipt then 'fund' else 'institution' end as settlement_party,
        case when settled_date is null then null when direct_on_settlement then 'fund' else 'institution' end as settled_by,
        receipt_date + due_days as due_date,
        {{ days_between('receipt_date', 'settled_date') }} as days_to_settlement,
        case when settled_date is null then {{ days_between('receipt_date', as_of_date()) }} end as days_outstanding,
        case
            when settled_date is not null and {{ days_between('receipt_date', 'settled_date') }} <= due_days then 'settled_on_time'
            when settled_date is not null then 'settled_late'
            when {{ days_between('receipt_date', as_of_date()) }} > due_days then 'unsettled_overdue'
            else 'unsettled_not_due'
        end as settlement_status
    from ruled
)

select
    *,
    settlement_status in ('settled_late', 'unsettled_overdue') as is_overdue,
    case when settled_date is null then amount_payable else 0 end as amount_outstanding
from final
