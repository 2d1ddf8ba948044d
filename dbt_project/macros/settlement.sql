{# A parameter of seeds/settlement_rules.csv for a city on a day: the city's
   own row in force on that day, else the province-wide row (empty
   city_admdvs). `city` and `day` are SQL expressions (a column, or the
   as-of date by default); with columns the subqueries are correlated, so it
   is used on ledgers and summaries, not on every purchase line. A dbt var of
   the same name (`--vars '{"retention_share": 0.6}'`) overrides the seed for
   a what-if run, as threshold() does. Missing or ambiguous names are caught
   by tests/settlement_rules_in_force.sql. #}
{% macro settlement_rule(name, city=none, day=none) -%}
    {%- set override = var(name, none) -%}
    {%- if override is not none -%}
        cast({{ override }} as double)
    {%- else -%}
    {%- set d = day if day is not none else as_of_date() -%}
    coalesce(
        {%- if city is not none %}
        (select max(r.value) from {{ ref('settlement_rules') }} as r
         where r.name = '{{ name }}' and r.city_admdvs = {{ city }}
           and {{ in_force_on(d, 'r') }}),
        {%- endif %}
        (select max(r.value) from {{ ref('settlement_rules') }} as r
         where r.name = '{{ name }}' and r.city_admdvs is null
           and {{ in_force_on(d, 'r') }}))
    {%- endif -%}
{%- endmacro %}
