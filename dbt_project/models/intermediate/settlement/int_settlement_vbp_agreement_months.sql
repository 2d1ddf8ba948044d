-- The institution's VBP purchases that count toward an agreement, per
-- agreement × month of receipt (same lines as vbp_completion: the group's
-- winning products, or the designated one; gifts excluded; by the as-of
-- date), in minimum units and valued at the winning price of each line's
-- product (purchase_lines.winning_unit_price; the paid price when a product
-- has none on the day, e.g. a designated product outside its cycle).
with agreements as (
    select * from {{ ref('stg_lake__vbp_agreed_volumes') }}
),

group_products as (
    select * from {{ ref('int_vbp_group_products') }}
),

lines as (
    select fixmedins_code, med_list_codg, receipt_date, month, net_qty_min_units,
           coalesce(winning_unit_price, unit_price, listed_unit_price) as valued_unit_price
    from {{ ref('purchase_lines') }}
    where not is_gift and not is_after_as_of
        and med_list_codg in {{ vbp_countable_products(ref('int_vbp_group_products'), ref('stg_lake__vbp_agreed_volumes')) }}
)

select
    a.batch_code,
    a.group_code,
    a.fixmedins_code,
    a.period_start,
    l.month,
    sum(l.net_qty_min_units) as purchased_qty,
    sum(cast(l.net_qty_min_units * l.valued_unit_price as decimal(18, 4))) as purchased_amount
from agreements as a
inner join lines as l
    on l.fixmedins_code = a.fixmedins_code
    and l.receipt_date between a.period_start and a.period_end
left join group_products as gp
    on gp.batch_code = a.batch_code and gp.group_code = a.group_code and gp.med_list_codg = l.med_list_codg
where {{ vbp_counts_toward_completion('a', 'l', 'gp') }}
group by all
