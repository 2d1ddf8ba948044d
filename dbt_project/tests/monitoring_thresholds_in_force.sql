-- Every threshold the models use has exactly one value in force at the
-- as-of date, and no threshold has two versions in force at once (seeds/monitoring_thresholds.csv). Rows returned = problems.
{#- the thresholds of every registered anomaly type (var anomaly_types), and
    those the other models use -#}
{%- set names = ['benchmark_min_institutions'] -%}
{%- for anomaly_type in var('anomaly_types') -%}
    {%- for name in anomaly_type['thresholds'] if name not in names -%}{%- do names.append(name) -%}{%- endfor -%}
{%- endfor %}
with required as (
    select name from (values {% for name in names %}('{{ name }}'){{ ", " if not loop.last }}{% endfor %}) as required_names(name)
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
