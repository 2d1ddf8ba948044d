-- Every threshold the models use has exactly one value in force at the
-- as-of date, and no threshold has two versions in force at once (seeds/monitoring_thresholds.csv). Rows returned = problems.
with required as (
    select unnest([
        'anomaly_above_listed_min_excess', 'anomaly_peer_outlier_ratio', 'anomaly_platform_min_amount',
        'anomaly_platform_tolerance', 'anomaly_offplatform_listed_min_amount', 'anomaly_offplatform_listed_min_share',
        'price_anomaly_min_amount', 'benchmark_min_institutions', 'price_rise_institution_min_rise',
        'price_rise_product_min_rise', 'listed_price_rise_min_rise', 'listed_price_rise_lookback_days'
    ]) as name
),

in_force as (
    select name, count(*) as versions
    from {{ ref('monitoring_thresholds') }}
    where {{ in_force_at_as_of() }}
    group by name
)

select name, coalesce(f.versions, 0) as versions
from required as r
full outer join in_force as f using (name)
where coalesce(f.versions, 0) <> 1
