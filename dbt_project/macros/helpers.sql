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

{# Non-overlapping spans of days [valid_from, valid_to) per product, from
   `rows` (a relation or CTE with med_list_codg, cycle_start, cycle_end and
   the column `value`, whose cycles may overlap): each span carries the
   `aggregate` (min or max) of `value` over the rows whose cycle covers it;
   days no cycle covers get no span. A purchase line then finds its day's
   value with one range join (valid_from <= day < valid_to, at most one
   match), as it finds its listed price, instead of joining every cycle and
   grouping the matches per line again: at province scale the lines are
   tens of millions, the spans a few thousand (issue 18). #}
{% macro cycle_day_spans(rows, value, aggregate) -%}
(
    with boundaries as (
        -- the days on which the cycles covering a product can change:
        -- a cycle's first day and the day after its last
        select med_list_codg, cycle_start as day from {{ rows }}
        union
        select med_list_codg, cast(cycle_end + interval 1 day as date) as day from {{ rows }}
    ),

    spans as (
        select
            med_list_codg,
            day as valid_from,
            lead(day) over (partition by med_list_codg order by day) as valid_to
        from boundaries
    )

    select s.med_list_codg, s.valid_from, s.valid_to, {{ aggregate }}(r.{{ value }}) as {{ value }}
    from spans as s
    inner join {{ rows }} as r
        on r.med_list_codg = s.med_list_codg
        and s.valid_from between r.cycle_start and r.cycle_end
    where s.valid_to is not null
    group by s.med_list_codg, s.valid_from, s.valid_to
)
{%- endmacro %}
