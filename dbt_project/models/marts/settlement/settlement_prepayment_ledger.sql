-- 预付 ledger (issue 16 part 2; docs/money-and-enforcement.md): one row per
-- VBP agreement × month from the month the period starts to the month of
-- min(period end, as-of date). At the start of the period the fund prepays
-- prepaid_amount = prepayment_share (city rule in force on period_start,
-- default 30 %) × agreed_amount (int_settlement_vbp_agreements). Each month
-- the institution's purchases toward the agreement (at winning price) offset
-- what is left of it:
--   offset_amount         = least(purchased_amount, prepayment left before the month), ≥ 0
--   prepayment_remaining  = greatest(prepaid − cumulative purchases, 0)
-- A new agreement period (the next cycle) starts its own prepayment: nothing
-- carries over between periods.
with agreements as (
    select * from {{ ref('int_settlement_vbp_agreements') }}
    where period_start <= {{ as_of_date() }}
),

-- purchases counting toward the agreement per month, at winning price
purchases as (
    select batch_code, group_code, fixmedins_code, period_start, month, purchased_amount
    from {{ ref('int_vbp_agreement_months') }}
),

prepaid as (
    select
        a.*,
        {{ settlement_rule('prepayment_share', 'a.city_admdvs', 'a.period_start') }} as prepayment_share
    from agreements as a
),

months as (
    select p.*,
        {{ month_series("cast(date_trunc('month', p.period_start) as timestamp)",
                        "cast(date_trunc('month', least(p.period_end, " ~ as_of_date() ~ ")) as timestamp)") }} as month
    from prepaid as p
),

monthly as (
    select
        m.*,
        cast(m.prepayment_share * m.agreed_amount as decimal(18, 2)) as prepaid_amount,
        coalesce(u.purchased_amount, 0) as purchased_amount,
        sum(coalesce(u.purchased_amount, 0)) over (
            partition by m.batch_code, m.group_code, m.fixmedins_code, m.period_start order by m.month
        ) as cumulative_purchased_amount
    from months as m
    left join purchases as u using (batch_code, group_code, fixmedins_code, period_start, month)
)

select
    batch_code,
    group_code,
    fixmedins_code,
    period_start,
    period_end,
    month,
    fixmedins_name,
    ownership,
    admdvs,
    city_admdvs,
    agreed_qty,
    agreed_unit_price,
    agreed_amount,
    prepayment_share,
    prepaid_amount,
    purchased_amount,
    cumulative_purchased_amount,
    greatest(least(purchased_amount,
                   prepaid_amount - (cumulative_purchased_amount - purchased_amount)), 0) as offset_amount,
    greatest(prepaid_amount - cumulative_purchased_amount, 0) as prepayment_remaining
from monthly
