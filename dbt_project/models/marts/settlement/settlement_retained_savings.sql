-- 结余留用 per VBP agreement (batch × group × institution × period; issue 16
-- part 3; docs/money-and-enforcement.md):
--   savings_amount   = vbp_savings.savings_amount (pre-cycle reference price
--                      − winning price) × net winning quantity — the same
--                      figure as vbp_savings;
--   potential_retained_amount = retention_share (city rule, default 50 %)
--                      × savings (0 when savings are negative);
--   retained_amount  = potential when every condition holds, else 0.
-- Conditions (seeds/settlement_rules.csv, values in force at the as-of date):
--   period_not_ended       the agreement period has not ended: nothing to
--                          grant yet (status pending);
--   completion_below_min   completion rate < retention_min_completion (100 %);
--   offplatform_findings   more than retention_offplatform_max_findings
--                          unresolved offplatform_listed findings of the
--                          institution with a month in the period;
--   substitution_findings  more than retention_substitution_max_findings
--                          unresolved vbp_nonwinning_substitution findings of
--                          the agreement.
-- Unresolved = not dismissed (review_status open, reopened, confirmed or
-- enquiry). failed_conditions lists every condition that failed, so an
-- officer can explain a refusal.
with savings as (
    select * from {{ ref('vbp_savings') }}
),

completion as (
    select * from {{ ref('vbp_completion') }}
),

findings as (
    select * from {{ ref('anomalies') }}
    where anomaly_type in ('offplatform_listed', 'vbp_nonwinning_substitution')
      and review_status <> 'dismissed'
),

offplatform as (
    select c.batch_code, c.group_code, c.fixmedins_code, c.period_start,
           count(f.anomaly_id) as offplatform_findings,
           {{ sorted_string_agg('f.anomaly_id', "','") }} as offplatform_anomaly_ids
    from completion as c
    inner join findings as f
        on f.anomaly_type = 'offplatform_listed' and f.fixmedins_code = c.fixmedins_code
        and f.month between cast(date_trunc('month', c.period_start) as date) and c.period_end
    group by all
),

substitution as (
    select c.batch_code, c.group_code, c.fixmedins_code, c.period_start,
           count(f.anomaly_id) as substitution_findings,
           {{ sorted_string_agg('f.anomaly_id', "','") }} as substitution_anomaly_ids
    from completion as c
    inner join findings as f
        on f.anomaly_type = 'vbp_nonwinning_substitution' and f.fixmedins_code = c.fixmedins_code
        and f.batch_code = c.batch_code and f.group_code = c.group_code and f.period_start = c.period_start
    group by all
),

joined as (
    select
        c.batch_code,
        c.group_code,
        c.fixmedins_code,
        c.period_start,
        c.period_end,
        c.fixmedins_name,
        c.ownership,
        c.admdvs,
        c.city_admdvs,
        c.completion_rate,
        coalesce(s.savings_amount, 0) as savings_amount,
        s.baseline_unit_price,
        s.winning_unit_price,
        coalesce(o.offplatform_findings, 0) as offplatform_findings,
        o.offplatform_anomaly_ids,
        coalesce(u.substitution_findings, 0) as substitution_findings,
        u.substitution_anomaly_ids,
        {{ settlement_rule('retention_share', 'c.city_admdvs') }} as retention_share,
        {{ settlement_rule('retention_min_completion', 'c.city_admdvs') }} as min_completion,
        {{ settlement_rule('retention_offplatform_max_findings', 'c.city_admdvs') }} as max_offplatform_findings,
        {{ settlement_rule('retention_substitution_max_findings', 'c.city_admdvs') }} as max_substitution_findings
    from completion as c
    left join savings as s using (batch_code, group_code, fixmedins_code, period_start)
    left join offplatform as o using (batch_code, group_code, fixmedins_code, period_start)
    left join substitution as u using (batch_code, group_code, fixmedins_code, period_start)
    where c.period_start <= {{ as_of_date() }}
),

checked as (
    select
        *,
        cast(greatest(savings_amount, 0) * retention_share as decimal(18, 2)) as potential_retained_amount,
        concat_ws(',',
            case when period_end >= {{ as_of_date() }} then 'period_not_ended' end,
            case when coalesce(completion_rate, 0) < min_completion then 'completion_below_min' end,
            case when offplatform_findings > max_offplatform_findings then 'offplatform_findings' end,
            case when substitution_findings > max_substitution_findings then 'substitution_findings' end
        ) as failed_conditions
    from joined
)

select
    {{ star_except(['failed_conditions']) }},
    nullif(failed_conditions, '') as failed_conditions,
    case
        when failed_conditions = '' then 'granted'
        when failed_conditions = 'period_not_ended' or failed_conditions like 'period_not_ended,%' then 'pending'
        else 'refused'
    end as retention_status,
    case when failed_conditions = '' then potential_retained_amount else 0 end as retained_amount
from checked
