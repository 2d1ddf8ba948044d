{{ config(**month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- 支付标准协同 per institution and per city × month (issue 16 part 4):
-- amounts bought under a payment standard, the part bought above it
-- (payment_standard_excess_lines), the extra cost and who bears it, and
-- the share of non-winning products (no winning price on the day) bought
-- above the standard, by amount.
with lines as (
    select * from {{ ref('int_payment_standard_lines') }}
    where {{ in_rebuilt_months('month') }}
),

excess as (
    select fixmedins_code, fixmedins_bchno, extra_cost, extra_cost_fund, extra_cost_patient
    from {{ ref('payment_standard_excess_lines') }}
    where {{ in_rebuilt_months('month') }}
),

flagged as (
    select l.*, e.fixmedins_bchno is not null as is_above_standard,
           coalesce(e.extra_cost, 0) as extra_cost, coalesce(e.extra_cost_fund, 0) as extra_cost_fund,
           coalesce(e.extra_cost_patient, 0) as extra_cost_patient
    from lines as l
    left join excess as e using (fixmedins_code, fixmedins_bchno)
),

keyed as (
    select 'institution' as rollup_level, fixmedins_code as party_code, fixmedins_name as party_name, * from flagged
    union all
    select 'city' as rollup_level, city_admdvs as party_code, city_admdvs as party_name, * from flagged
)

select
    rollup_level,
    party_code,
    {{ any_of('party_name') }} as party_name,
    {{ any_of('city_admdvs') }} as city_admdvs,
    month,
    count(*) as lines,
    sum(amount) as amount_under_standard,
    count(*) filter (where is_above_standard) as lines_above_standard,
    coalesce(sum(amount) filter (where is_above_standard), 0) as amount_above_standard,
    sum(extra_cost) as extra_cost,
    sum(extra_cost_fund) as extra_cost_fund,
    sum(extra_cost_patient) as extra_cost_patient,
    coalesce(sum(amount) filter (where not is_vbp_winning), 0) as nonwinning_amount,
    coalesce(sum(amount) filter (where not is_vbp_winning and is_above_standard), 0) as nonwinning_amount_above_standard,
    {{ ratio("coalesce(sum(amount) filter (where not is_vbp_winning and is_above_standard), 0)",
             "sum(amount) filter (where not is_vbp_winning)") }} as nonwinning_share_above_standard
from keyed
group by rollup_level, party_code, month
