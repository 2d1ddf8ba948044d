{# The grain of a table: no two rows share these columns (NULLs compare equal,
   so region rows with admdvs NULL at level 'all' are covered too). #}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
where {{ rebuilt_rows_only(model) }}
group by all
having count(*) > 1
{% endtest %}
