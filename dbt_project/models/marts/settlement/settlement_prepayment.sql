-- 预付 status per VBP agreement (issue 16 part 2) at the as-of date, from
-- its last month in settlement_prepayment_ledger:
--   prepayment_status
--     to_recover  the period ends within prepayment_review_window_days of the
--                 as-of date (or has ended) and purchases have not covered
--                 the prepayment: unrecovered_amount is to be recovered
--                 (or deducted from the next settlement);
--     ahead       purchases reached prepayment_ahead_ratio × the agreed
--                 amount prorated to expected progress (序时进度): buying
--                 far ahead of the agreement;
--     covered     purchases have covered the prepayment;
--     in_progress not covered yet, period not near its end.
with ledger as (
    select * from {{ ref('settlement_prepayment_ledger') }}
    qualify row_number() over (partition by batch_code, group_code, fixmedins_code, period_start order by month desc) = 1
),

agreements as (
    select * from {{ ref('int_settlement_vbp_agreements') }}
),

ruled as (
    select
        {{ star_except(['month', 'purchased_amount', 'offset_amount'], alias='l') }},
        l.month as last_month,
        a.completion_rate,
        a.expected_progress,
        {{ days_between(as_of_date(), 'l.period_end') }} as days_to_period_end,
        {{ settlement_rule('prepayment_review_window_days', 'l.city_admdvs') }} as review_window_days,
        {{ settlement_rule('prepayment_ahead_ratio', 'l.city_admdvs') }} as ahead_ratio
    from ledger as l
    left join agreements as a using (batch_code, group_code, fixmedins_code, period_start)
)

select
    {{ star_except(['review_window_days', 'ahead_ratio']) }},
    {{ ratio('cumulative_purchased_amount', 'agreed_amount * expected_progress') }} as purchases_to_expected,
    case
        when days_to_period_end <= review_window_days and cumulative_purchased_amount < prepaid_amount then 'to_recover'
        when cumulative_purchased_amount >= ahead_ratio * agreed_amount * expected_progress
             and agreed_amount * expected_progress > 0 then 'ahead'
        when cumulative_purchased_amount >= prepaid_amount then 'covered'
        else 'in_progress'
    end as prepayment_status,
    case when days_to_period_end <= review_window_days
         then greatest(prepaid_amount - cumulative_purchased_amount, 0) else 0 end as unrecovered_amount
from ruled
