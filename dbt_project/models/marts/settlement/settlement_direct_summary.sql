-- 直接结算 roll-ups (issue 16 part 1): settlement_direct_ledger summed per
-- supplier, per institution and per city, each by month of receipt.
-- rollup_level says which; party_code/party_name is the supplier's name,
-- the institution's code/name, or the city's division code.
with ledger as (
    select * from {{ ref('settlement_direct_ledger') }}
),

keyed as (
    select 'supplier' as rollup_level, coalesce(supplier_name, '') as party_code, supplier_name as party_name, * from ledger
    union all
    select 'institution' as rollup_level, fixmedins_code as party_code, fixmedins_name as party_name, * from ledger
    union all
    select 'city' as rollup_level, city_admdvs as party_code, city_admdvs as party_name, * from ledger
)

select
    rollup_level,
    party_code,
    {{ any_of('party_name') }} as party_name,
    month,
    count(*) as shipments,
    count(distinct fixmedins_code) as institutions,
    count(distinct supplier_name) as suppliers,
    sum(amount_payable) as amount_payable,
    coalesce(sum(amount_payable) filter (where settled_date is not null), 0) as amount_settled,
    coalesce(sum(amount_payable) filter (where settled_by = 'fund'), 0) as amount_settled_by_fund,
    coalesce(sum(amount_payable) filter (where settled_by = 'institution'), 0) as amount_settled_by_institution,
    sum(amount_outstanding) as amount_outstanding,
    count(*) filter (where is_overdue) as overdue_items,
    coalesce(sum(amount_payable) filter (where is_overdue), 0) as overdue_amount,
    coalesce(sum(amount_outstanding) filter (where settlement_status = 'unsettled_overdue'), 0) as overdue_outstanding_amount,
    {{ ratio("count(*) filter (where settlement_status = 'settled_on_time')",
             "count(*) filter (where settlement_status <> 'unsettled_not_due')") }} as share_settled_on_time,
    avg(days_to_settlement) as avg_days_to_settlement,
    max(coalesce(days_to_settlement, days_outstanding)) as max_days
from keyed
group by rollup_level, party_code, month
