-- Every version of every monitoring threshold (seeds/monitoring_thresholds.csv)
-- with the flag saying which was in force at this run's as-of date, so an
-- officer can see exactly what the published anomalies were measured with.
with thresholds as (
    select * from {{ ref('monitoring_thresholds') }}
),

final as (
    select
        name,
        value,
        unit,
        effective_from,
        effective_to,
        {{ in_force_at_as_of() }} as in_force,
        source,
        description
    from thresholds
)

select * from final
