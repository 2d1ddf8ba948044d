{# A monitoring threshold in force at the run's as-of date, from the dated
   seed monitoring_thresholds (effective_from ≤ as_of < effective_to). A dbt
   var of the same name, when passed (`--vars '{"name": value}'`), overrides
   the seed for a what-if run; dbt_project.yml sets no defaults for these,
   so the seed is the one place the values live. A missing or ambiguous
   name is caught by tests/monitoring_thresholds_in_force.sql (and DuckDB
   refuses a scalar subquery returning two rows). #}
{% macro threshold(name) -%}
    {%- set override = var(name, none) -%}
    {%- if override is not none -%}
        cast({{ override }} as double)
    {%- else -%}
        (select value from {{ ref('monitoring_thresholds') }}
         where name = '{{ name }}' and {{ in_force_at_as_of() }})
    {%- endif -%}
{%- endmacro %}

{# Rows of a dated seed in force on `day` (a SQL expression):
   effective_from ≤ day < effective_to, an empty effective_to open-ended. #}
{% macro in_force_on(day, alias='') -%}
    {%- set p = alias ~ '.' if alias else '' -%}
    {{ p }}effective_from <= {{ day }}
    and ({{ p }}effective_to is null or {{ day }} < {{ p }}effective_to)
{%- endmacro %}

{# Rows of a dated seed in force at the as-of date. #}
{% macro in_force_at_as_of(alias='') -%}
    {{ in_force_on(as_of_date(), alias) }}
{%- endmacro %}
