-- Every finding of every detector, one row each, before ids and reviews.
-- Each detector is one model in intermediate/anomalies/ returning the
-- columns it has (anomaly_type, fixmedins_code, med_list_codg, month,
-- batch_code, group_code, period_start, category_group, metric_value,
-- reference_value, reference_type, gap, excess_amount, detail; optionally
-- severity, and the evidence columns benchmark_level, benchmark_institutions,
-- threshold_name, threshold_value; supplier_name, invoice_no for payment
-- findings); the missing ones are NULL (the columns list below).
-- One input per entry of the anomaly-type registry (var anomaly_types in
-- dbt_project.yml): the detector of type T is int_anomalies__T.
{% set detectors = [] %}
{% for anomaly_type in var('anomaly_types') %}
    {% do detectors.append('int_anomalies__' ~ anomaly_type['type']) %}
{% endfor %}

{#- The columns and their types, whatever the detectors return. Each
    detector's row lists them in this order, NULL where the detector has no
    such column: what DuckDB's `union all by name` did, in SQL that Spark
    also accepts (the detectors' columns are read from the built relations,
    so this runs only at execution time). -#}
{% set columns = [
    ('anomaly_type', 'string'), ('fixmedins_code', 'string'), ('med_list_codg', 'string'),
    ('month', 'date'), ('batch_code', 'string'), ('group_code', 'string'), ('period_start', 'date'),
    ('category_group', 'string'), ('metric_value', 'double'), ('reference_value', 'double'),
    ('reference_type', 'string'), ('gap', 'double'), ('excess_amount', 'decimal(18, 4)'),
    ('severity', 'string'), ('detail', 'string'),
    ('benchmark_level', 'string'), ('benchmark_institutions', 'integer'),
    ('threshold_name', 'string'), ('threshold_value', 'double'),
    ('supplier_name', 'string'), ('invoice_no', 'string'),
] %}

select
    {%- for name, type in columns %}
    cast(null as {{ type }}) as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
where false
{% for detector in detectors %}
{%- set present = [] -%}
{%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(ref(detector)) -%}
        {%- do present.append(column.name | lower) -%}
    {%- endfor -%}
    {%- for name in present if name not in columns | map(attribute=0) | list -%}
        {{ exceptions.raise_compiler_error(detector ~ ' returns column ' ~ name ~ ', not one of the anomaly columns of int_anomalies_detected') }}
    {%- endfor -%}
{%- endif %}
union all
select
    {%- for name, type in columns %}
    {{ name if name in present else 'cast(null as ' ~ type ~ ')' }} as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ ref(detector) }}
{% endfor %}
