-- Every version of every settlement / enforcement rule parameter
-- (seeds/settlement_rules.csv) with the flag saying which was in force at
-- this run's as-of date, so an officer can see what the money tables were
-- computed with (a city row overrides the province-wide row for its city).
select
    name,
    city_admdvs,
    value,
    unit,
    effective_from,
    effective_to,
    {{ in_force_at_as_of() }} as in_force,
    source,
    description
from {{ ref('settlement_rules') }}
