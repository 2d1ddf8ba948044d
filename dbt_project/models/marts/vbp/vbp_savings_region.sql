-- VBP savings summed by batch and region (public institutions, as all
-- region roll-ups): region level county / city / all × admdvs × batch.
with savings as (
    select * from {{ ref('vbp_savings') }}
    where ownership = 'public'
)

select 'county' as region_level, admdvs, batch_code, sum(savings_amount) as savings_amount,
       count(*) as agreements, count(*) filter (where baseline_source = 'own') as agreements_own_baseline,
       count(*) filter (where baseline_source is null) as agreements_without_baseline
from savings group by all
union all
select 'city', city_admdvs, batch_code, sum(savings_amount), count(*),
       count(*) filter (where baseline_source = 'own'), count(*) filter (where baseline_source is null)
from savings group by all
union all
select 'all' as region_level, null as admdvs, batch_code, sum(savings_amount), count(*),
       count(*) filter (where baseline_source = 'own'), count(*) filter (where baseline_source is null)
from savings group by all
