-- Every settlement/enforcement parameter the models read has exactly one
-- province-wide value in force at the as-of date, and no city has two
-- versions of one parameter in force at once (seeds/settlement_rules.csv).
-- Rows returned = problems.
with required as (
    select name from (values
        ('settlement_due_days'), ('direct_settlement'), ('prepayment_share'), ('prepayment_review_window_days'),
        ('prepayment_ahead_ratio'), ('retention_share'), ('retention_min_completion'),
        ('retention_offplatform_max_findings'), ('retention_substitution_max_findings'),
        ('payment_standard_tolerance'), ('payment_standard_fund_share_above'), ('credit_fill_rate_min')
    ) as required_names(name)
),

in_force as (
    select name, city_admdvs, count(*) as versions
    from {{ ref('settlement_rules') }}
    where {{ in_force_at_as_of() }}
    group by name, city_admdvs
)

select r.name, null as city_admdvs, coalesce(f.versions, 0) as versions
from required as r
left join in_force as f on f.name = r.name and f.city_admdvs is null
where coalesce(f.versions, 0) <> 1
union all
select name, city_admdvs, versions from in_force where versions > 1
