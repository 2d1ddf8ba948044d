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

{# Does a purchase line count toward a VBP agreement's completion?
   Designated brand set (designated_med_list_codg): only that product counts;
   otherwise any winning product of the agreement's batch and group
   (models/metrics.md, metric_vbp_completion). `gp` is the line's row in int_vbp_group_products
   (NULL when the product is not in the group). One definition for
   vbp_completion, vbp_progress_monthly and vbp_savings. #}
{% macro vbp_counts_toward_completion(agreement, line, gp) -%}
    (({{ agreement }}.designated_med_list_codg is null and {{ gp }}.is_winning)
     or {{ line }}.med_list_codg = {{ agreement }}.designated_med_list_codg)
{%- endmacro %}

{# Products whose lines can count toward a VBP agreement: a product of an
   agreement's group, or a product an agreement designates. Lines of other
   products add nothing to any completion sum, and filtering them out before
   the join to the institution's agreements keeps that join small at scale.
   `group_products` is int_vbp_group_products, `agreements` any relation with
   designated_med_list_codg (the agreed volumes or vbp_completion). One
   definition for vbp_completion, vbp_progress_monthly and vbp_savings. #}
{% macro vbp_countable_products(group_products, agreements) -%}
    (select med_list_codg from {{ group_products }}
     union select designated_med_list_codg from {{ agreements }}
           where designated_med_list_codg is not null)
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
