{#
  Incremental nightly builds (issue 6: a nightly run costs in proportion to
  the new data, not to history).

  The pipeline builds either from an empty file (a full rebuild) or from a
  copy of the previous publication, passing var `rebuild_months`: the
  months whose purchase lines changed since that publication (new or
  restated files, lines whose as-of flag changed), as a list of
  'YYYY-MM-01' strings. yaocai/incremental.py decides which, and falls back
  to a full rebuild whenever anything else changed (dbt project, seeds,
  catalogue, VBP or institution feeds, an earlier as-of date).

  Month-local models (a row of month m depends only on lines of month m and
  on the unchanged dimensions) are materialised incrementally:

      {{ config(materialized='incremental', incremental_strategy='append',
                pre_hook="{{ delete_rebuilt_months() }}") }}
      ... from {{ ref('purchase_lines') }} where {{ in_rebuilt_months('month') }}

  The pre-hook deletes the rebuilt months' rows (also months that no longer
  have any line, which delete+insert on a key would leave behind) and the
  filter recomputes just those months. `following` widens both to the next
  months for month-over-month models (month m also depends on m − 1).
  Without the var, or on a first build, the filter is `true` and the model
  is computed whole.
#}

{# Date literals of the rebuilt months, each widened to the `preceding`
   months before and the `following` months after it; none without the var. #}
{% macro _rebuild_month_literals(preceding=0, following=0) -%}
    {%- set months = var('rebuild_months', none) -%}
    {%- if months is none -%}{{ return(none) }}{%- endif -%}
    {%- set literals = [] -%}
    {%- for month in months -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-01$', month | string) -%}
            {{ exceptions.raise_compiler_error("rebuild_months: '" ~ month ~ "' is not a month's first day (YYYY-MM-01)") }}
        {%- endif -%}
        {%- set year, number = (month | string)[:4] | int, (month | string)[5:7] | int -%}
        {%- for k in range(-preceding, following + 1) -%}
            {%- set index = year * 12 + number - 1 + k -%}
            {%- set literal = "date '%04d-%02d-01'" | format(index // 12, index % 12 + 1) -%}
            {%- if literal not in literals -%}{%- do literals.append(literal) -%}{%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(literals | sort) }}
{%- endmacro %}

{# Predicate on a month column: true for the months this build recomputes
   (widened by `preceding` / `following` months). `always` applies it
   whenever the var is set, also in a model that is not itself incremental
   (the view int_purchase_lines_priced, read only by incremental models). #}
{% macro in_rebuilt_months(column, following=0, always=false, preceding=0) -%}
    {%- if _rebuild_month_literals() is none or _in_unit_test() or not (always or is_incremental()) -%}
        true
    {%- else -%}
        {{ rebuilt_months_predicate(column, following, preceding) }}
    {%- endif -%}
{%- endmacro %}

{# The predicate itself, from the var alone: a plain IN list, which DuckDB
   checks against each row group's min/max and so skips other months. #}
{% macro rebuilt_months_predicate(column, following=0, preceding=0) -%}
    {%- set literals = _rebuild_month_literals(preceding, following) -%}
    {%- if literals is none -%}
        true
    {%- elif literals | length == 0 -%}
        false
    {%- else -%}
        {{ column }} in ({{ literals | join(', ') }})
    {%- endif -%}
{%- endmacro %}

{# Data tests on a month-incremental table check the rebuilt months only in
   an incremental build: its other rows are the previous publication's,
   which passed the same tests (and tests/test_incremental.py proves the
   incremental tables equal a full rebuild). #}
{% macro rebuilt_rows_only(relation) -%}
    {%- set incremental_names = [] -%}
    {%- for node in (graph.nodes.values() if execute else []) -%}
        {%- if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
            {%- do incremental_names.append(node.alias or node.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if relation.identifier in incremental_names -%}
        {{ rebuilt_months_predicate('month') }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{# dbt unit tests compute a model from its fixtures, whole (there is no
   `this` to be incremental about). #}
{% macro _in_unit_test() -%}
    {{ return(this is none or model.get('resource_type') == 'unit_test') }}
{%- endmacro %}

{# Pre-hook of a month-incremental model: drop the rows about to be rebuilt. #}
{% macro delete_rebuilt_months(column='month', following=0) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ in_rebuilt_months(column, following) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{# For table models with cross-month logic (year to date, windows) that keep
   their monthly inputs as columns: true when this is an incremental build
   and the previous publication's version of the model is there, so the
   months not rebuilt can be read back from it ({{ this }} is still the old
   table while dbt builds the new one) instead of from history's lines. #}
{% macro previous_version_usable() -%}
    {%- if _rebuild_month_literals() is none or _in_unit_test() or not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) is not none) }}
{%- endmacro %}
