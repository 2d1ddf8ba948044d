{# A monitoring threshold in force at the run's as-of date, from the dated
   seed monitoring_thresholds (effective_from ≤ as_of < effective_to). A dbt
   var of the same name, when passed (`--vars '{"name": value}'`), overrides
   the seed for a what-if run; dbt_project.yml sets no defaults for these,
   so the seed is the one place the values live.

   When the model runs, the value is read from the seed table (built before
   it: the ref below makes it a parent) and written into the SQL as a
   literal, the exact double (agate keeps a float's repr). A scalar subquery
   in a filter kept DuckDB from filtering before it computed every
   candidate row: int_anomalies__price_rise_institution at 20 M lines took
   15.3 s with the subquery and 7.5 s with the literal on its own, 13.6 and
   9.0 s in the full build (issue 18). Unit
   tests and parsing keep the subquery. A missing or ambiguous name stops
   the model with its name (and tests/monitoring_thresholds_in_force.sql
   checks every name in force). #}
{% macro threshold(name) -%}
    {%- set override = var(name, none) -%}
    {%- if override is not none -%}
        cast({{ override }} as double)
    {%- elif execute and not _in_unit_test() -%}
        {%- set seed = ref('monitoring_thresholds') -%}
        {%- set found = run_query("select value from " ~ seed ~ " where name = '" ~ name ~ "' and "
                                  ~ in_force_at_as_of()) -%}
        {%- if found.rows | length != 1 -%}
            {{ exceptions.raise_compiler_error("threshold '" ~ name ~ "': " ~ (found.rows | length)
                                               ~ " rows of seeds/monitoring_thresholds.csv in force at "
                                               ~ as_of_date() ~ ", expected one") }}
        {%- endif -%}
        cast({{ found.rows[0][0] }} as double)
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
