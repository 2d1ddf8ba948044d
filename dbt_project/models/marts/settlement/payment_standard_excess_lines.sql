{{ config(**month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- 支付标准协同 (issue 16 part 4): purchase lines bought above their payment
-- standard: unit price > standard × (1 + payment_standard_tolerance, city
-- rule, default 0.5 %). A line exactly at the standard is not above it.
--   extra_cost        = (unit price − standard) × quantity (minimum units);
--   extra_cost_fund   = payment_standard_fund_share_above × extra_cost
--                       (default 0: the fund pays up to the standard);
--   extra_cost_patient = the rest, borne by patients.
with lines as (
    select * from {{ ref('int_payment_standard_lines') }}
    where {{ in_rebuilt_months('month') }}
),

ruled as (
    select
        l.*,
        {{ settlement_rule('payment_standard_tolerance', 'l.city_admdvs') }} as tolerance,
        {{ settlement_rule('payment_standard_fund_share_above', 'l.city_admdvs') }} as fund_share_above
    from lines as l
    where l.unit_price > l.standard_unit_price
),

final as (
    select
        {{ star_except(['tolerance', 'fund_share_above']) }},
        unit_price / standard_unit_price - 1 as excess_share,
        cast((unit_price - standard_unit_price) * qty_min_units as decimal(18, 2)) as extra_cost,
        fund_share_above
    from ruled
    where unit_price > standard_unit_price * (1 + tolerance)
)

select
    {{ star_except(['fund_share_above']) }},
    cast(extra_cost * fund_share_above as decimal(18, 2)) as extra_cost_fund,
    extra_cost - cast(extra_cost * fund_share_above as decimal(18, 2)) as extra_cost_patient
from final
