-- One row per VBP agreement (batch × group × institution × period) with the
-- winning unit price its agreed amount is valued at: the designated
-- product's winning price per minimum unit when the agreement names one,
-- else the lowest winning price per minimum unit of the group (prepayment
-- is not overstated when a group has several winners at different prices).
-- agreed_amount = agreed_qty (minimum units) × that price.
with agreements as (
    select * from {{ ref('vbp_completion') }}
),

winning_unit_prices as (
    select r.batch_code, r.group_code, r.med_list_codg, r.winning_price / p.convrat as winning_unit_price
    from {{ ref('stg_lake__vbp_results') }} as r
    inner join {{ ref('stg_lake__products') }} as p using (med_list_codg)
),

group_price as (
    select batch_code, group_code, min(winning_unit_price) as winning_unit_price
    from winning_unit_prices group by all
)

select
    a.batch_code,
    a.group_code,
    a.fixmedins_code,
    a.period_start,
    a.period_end,
    a.fixmedins_name,
    a.ownership,
    a.admdvs,
    a.city_admdvs,
    a.agreed_qty,
    a.completion_rate,
    a.expected_progress,
    coalesce(d.winning_unit_price, g.winning_unit_price) as agreed_unit_price,
    cast(a.agreed_qty * coalesce(d.winning_unit_price, g.winning_unit_price) as decimal(18, 2)) as agreed_amount
from agreements as a
left join winning_unit_prices as d
    on d.batch_code = a.batch_code and d.group_code = a.group_code and d.med_list_codg = a.designated_med_list_codg
left join group_price as g
    on g.batch_code = a.batch_code and g.group_code = a.group_code
