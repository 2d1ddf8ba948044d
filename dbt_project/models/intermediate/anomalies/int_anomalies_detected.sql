-- Every finding of every detector, one row each, before ids and reviews.
-- Each detector is one model in intermediate/anomalies/ returning the
-- columns it has (anomaly_type, fixmedins_code, med_list_codg, month,
-- batch_code, group_code, period_start, category_group, metric_value,
-- reference_value, reference_type, gap, excess_amount, detail; optionally
-- severity, and the evidence columns benchmark_level, benchmark_institutions,
-- threshold_name, threshold_value; supplier_name, invoice_no for payment
-- findings); `union all by name` fills the rest with NULL.
-- One input per entry of the anomaly-type registry (var anomaly_types in
-- dbt_project.yml): the detector of type T is int_anomalies__T.
{% set detectors = [] %}
{% for anomaly_type in var('anomaly_types') %}
    {% do detectors.append('int_anomalies__' ~ anomaly_type['type']) %}
{% endfor %}

with skeleton as (
    -- fixes the columns and their types, whatever the detectors return
    select
        null::varchar as anomaly_type, null::varchar as fixmedins_code, null::varchar as med_list_codg,
        null::date as month, null::varchar as batch_code, null::varchar as group_code, null::date as period_start,
        null::varchar as category_group, null::double as metric_value, null::double as reference_value,
        null::varchar as reference_type, null::double as gap, null::decimal(18, 4) as excess_amount,
        null::varchar as severity, null::varchar as detail,
        null::varchar as benchmark_level, null::integer as benchmark_institutions,
        null::varchar as threshold_name, null::double as threshold_value,
        null::varchar as supplier_name, null::varchar as invoice_no
    where false
)

select * from skeleton
{% for detector in detectors %}
union all by name
select * from {{ ref(detector) }}
{% endfor %}
