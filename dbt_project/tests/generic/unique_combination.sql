{# The grain of a table: no two rows share these columns (NULLs compare equal,
   so region rows with admdvs NULL at level 'all' are covered too). In an
   incremental build `model` holds the rebuilt months only
   (macros/incremental.sql, default__get_where_subquery). #}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by all
having count(*) > 1
{% endtest %}
