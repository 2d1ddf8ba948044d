{# The run's as-of date as a SQL date literal. #}
{% macro as_of_date() -%}
    date '{{ var("as_of") }}'
{%- endmacro %}

{# Safe ratio: NULL when the denominator is 0 or NULL (zero is not missing,
   but a ratio over nothing is undefined). #}
{% macro ratio(numerator, denominator) -%}
    case when coalesce({{ denominator }}, 0) = 0 then null
         else cast({{ numerator }} as double) / cast({{ denominator }} as double) end
{%- endmacro %}

{# Stable anomaly id: the same finding gets the same id in every run. #}
{% macro anomaly_id(parts) -%}
    'AN-' || upper(left(md5(concat_ws('|', {{ parts | join(', ') }})), 16))
{%- endmacro %}

{# Severity as a number for comparisons (high 3, medium 2, low 1); NULL when unknown. #}
{% macro severity_rank(column) -%}
    case {{ column }} when 'high' then 3 when 'medium' then 2 when 'low' then 1 end
{%- endmacro %}

{# The price deviation index over price-eligible lines with their reference
   amounts (models/metrics.md, metric_price_deviation_index): actual_amount = Σ amount of the lines with
   a reference, reference_amount = Σ r × qty, pdi = actual ÷ reference,
   coverage = actual ÷ Σ amount of all eligible lines (0 when no line had a
   reference), eligible_amount. One definition for price_deviation_index
   (institution × month × group) and price_deviation_index_product. #}
{% macro price_deviation_aggregates() -%}
        sum(amount) filter (where reference_amount is not null) as actual_amount,
        sum(reference_amount) as reference_amount,
        {{ ratio('sum(amount) filter (where reference_amount is not null)', 'sum(reference_amount)') }} as pdi,
        coalesce({{ ratio('sum(amount) filter (where reference_amount is not null)', 'sum(amount)') }},
                 case when sum(amount) filter (where reference_amount is not null) is null then 0 end) as coverage,
        sum(amount) as eligible_amount
{%- endmacro %}
