{# SQL that DuckDB and Apache Spark spell differently (issue "the same dbt
   project on Apache Spark"; docs/scale-out.md). Models call these macros
   instead of engine-only syntax; each macro dispatches (adapter.dispatch) to
   duckdb__<name> (the embedded default: exactly the SQL the models used
   before, so DuckDB builds are unchanged) or spark__<name>.
   Everything else in the models is SQL both engines accept; the lint
   tests/test_portable_sql.py fails on DuckDB-only constructs outside this
   file. Arguments are SQL expressions as strings. #}


{# Any one non-NULL value of `expression` in the group (the models use it for
   columns that are constant within the group). Spark's any_value keeps
   NULLs unless told to ignore them. #}
{% macro any_of(expression) -%}
    {{ return(adapter.dispatch('any_of', 'yaocai')(expression)) }}
{%- endmacro %}
{% macro duckdb__any_of(expression) -%}
    any_value({{ expression }})
{%- endmacro %}
{% macro spark__any_of(expression) -%}
    any_value({{ expression }}, true)
{%- endmacro %}


{# The first non-NULL value of `expression` when the group is ordered by
   `order_by` (deterministic where any_of is not). #}
{% macro first_by(expression, order_by) -%}
    {{ return(adapter.dispatch('first_by', 'yaocai')(expression, order_by)) }}
{%- endmacro %}
{% macro duckdb__first_by(expression, order_by) -%}
    any_value({{ expression }} order by {{ order_by }})
{%- endmacro %}
{% macro spark__first_by(expression, order_by) -%}
    min_by({{ expression }}, case when {{ expression }} is not null then {{ order_by }} end)
{%- endmacro %}


{# Placed between a CTE's `as` and its opening parenthesis: DuckDB computes
   the CTE where it is read instead of storing it once. DuckDB stores a CTE
   that is read twice; for a self-join of int_price_institution_months that
   copy of 14 M rows was half the model's time (issue 18). Spark always
   inlines CTEs and has no such keyword. #}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized', 'yaocai')()) }}
{%- endmacro %}
{% macro duckdb__not_materialized() -%}
    not materialized
{%- endmacro %}
{% macro spark__not_materialized() -%}
{%- endmacro %}

{# Whole days from `start_date` to `end_date` (end − start). #}
{% macro days_between(start_date, end_date) -%}
    {{ return(adapter.dispatch('days_between', 'yaocai')(start_date, end_date)) }}
{%- endmacro %}
{% macro duckdb__days_between(start_date, end_date) -%}
    date_diff('day', {{ start_date }}, {{ end_date }})
{%- endmacro %}
{% macro spark__days_between(start_date, end_date) -%}
    cast(datediff({{ end_date }}, {{ start_date }}) as bigint)
{%- endmacro %}


{# `alias.*` (or `*` when alias is empty) without the listed columns.
   Spark has no `* exclude`; its quoted-regex column names do the same
   (needs spark.sql.parser.quotedRegexColumnNames=true, set in the spark
   target of profiles.yml). #}
{% macro star_except(columns, alias='') -%}
    {{ return(adapter.dispatch('star_except', 'yaocai')(columns, alias)) }}
{%- endmacro %}
{% macro duckdb__star_except(columns, alias='') -%}
    {{ alias ~ '.' if alias }}* exclude ({{ columns | join(', ') }})
{%- endmacro %}
{% macro spark__star_except(columns, alias='') -%}
    {{ alias ~ '.' if alias }}`(?!({{ columns | join('|') }})$).+`
{%- endmacro %}


{# The values of `expression` joined by `separator` in ascending order of
   the values themselves; `distinct` drops repeats. NULL when there is no
   value that is not NULL, as DuckDB's string_agg (Spark's array_join of an
   empty list is '': found by tests/test_spark_engine.py in
   credit_evaluation_evidence.anomaly_ids). #}
{% macro sorted_string_agg(expression, separator, distinct=false) -%}
    {{ return(adapter.dispatch('sorted_string_agg', 'yaocai')(expression, separator, distinct)) }}
{%- endmacro %}
{% macro duckdb__sorted_string_agg(expression, separator, distinct=false) -%}
    string_agg({{ 'distinct ' if distinct }}{{ expression }}, {{ separator }} order by {{ expression }})
{%- endmacro %}
{% macro spark__sorted_string_agg(expression, separator, distinct=false) -%}
    case when count({{ expression }}) > 0 then
        array_join(array_sort({{ 'collect_set' if distinct else 'collect_list' }}({{ expression }})), {{ separator }}) end
{%- endmacro %}


{# The distinct values of `expression` joined by `separator`, in no
   particular order; NULL when none (as sorted_string_agg). #}
{% macro distinct_string_agg(expression, separator) -%}
    {{ return(adapter.dispatch('distinct_string_agg', 'yaocai')(expression, separator)) }}
{%- endmacro %}
{% macro duckdb__distinct_string_agg(expression, separator) -%}
    string_agg(distinct {{ expression }}, {{ separator }})
{%- endmacro %}
{% macro spark__distinct_string_agg(expression, separator) -%}
    case when count({{ expression }}) > 0 then array_join(collect_set({{ expression }}), {{ separator }}) end
{%- endmacro %}


{# A month as text 'YYYY-MM'. #}
{% macro year_month_text(expression) -%}
    {{ return(adapter.dispatch('year_month_text', 'yaocai')(expression)) }}
{%- endmacro %}
{% macro duckdb__year_month_text(expression) -%}
    strftime({{ expression }}, '%Y-%m')
{%- endmacro %}
{% macro spark__year_month_text(expression) -%}
    date_format({{ expression }}, 'yyyy-MM')
{%- endmacro %}


{# One row per month (a date, the first of the month) from `first_month`
   to `last_month` inclusive: a set-returning expression for the select
   list (the row is repeated per month; no row when first > last). #}
{% macro month_series(first_month, last_month) -%}
    {{ return(adapter.dispatch('month_series', 'yaocai')(first_month, last_month)) }}
{%- endmacro %}
{% macro duckdb__month_series(first_month, last_month) -%}
    cast(unnest(generate_series({{ first_month }}, {{ last_month }}, interval 1 month)) as date)
{%- endmacro %}
{% macro spark__month_series(first_month, last_month) -%}
    explode(sequence(cast({{ first_month }} as date), cast({{ last_month }} as date), interval 1 month))
{%- endmacro %}


{# Text from a template with Python-style placeholders, as DuckDB's
   format(): `{}` (any value) and `{:.2f}`-style number formats. The
   arguments are the body of the call block:
       {% call format_text('{}（{}）金额{:.2f}元') %} a, b, c {% endcall %}
   Spark's format_string takes printf placeholders: the template is
   translated ({} → %s, {:.2f} → %.2f, a literal % → %%). #}
{% macro format_text(template) -%}
    {{ return(adapter.dispatch('format_text', 'yaocai')(template, caller())) }}
{%- endmacro %}
{% macro duckdb__format_text(template, arguments) -%}
    format('{{ template | replace("'", "''") }}', {{ arguments | trim }})
{%- endmacro %}
{% macro spark__format_text(template, arguments) -%}
    {%- set printf = modules.re.sub('\\{:([^}]*)\\}', '%\\1', template.replace('%', '%%')).replace('{}', '%s') -%}
    {#- Java's %f refuses Spark decimals: number placeholders get doubles;
        %s would print a date as its day number: `{}` arguments become text -#}
    {%- set placeholders = modules.re.findall('\\{(:[^}]*)?\\}', template) -%}
    {%- set parts = split_top_level_commas(arguments) -%}
    format_string('{{ printf | replace("'", "\\'") }}'
    {%- for part in parts -%}
        , cast({{ part }} as {{ 'double' if loop.index0 < placeholders | length and placeholders[loop.index0] else 'string' }})
    {%- endfor -%})
{%- endmacro %}
{# The comma-separated SQL expressions of `text` (commas inside brackets or
   quotes do not separate). #}
{% macro split_top_level_commas(text) -%}
    {%- set state = namespace(depth=0, quoted=false, current='', parts=[]) -%}
    {%- for char in text -%}
        {%- if state.quoted -%}
            {%- set state.quoted = char != "'" -%}
        {%- elif char == "'" -%}
            {%- set state.quoted = true -%}
        {%- elif char == '(' -%}
            {%- set state.depth = state.depth + 1 -%}
        {%- elif char == ')' -%}
            {%- set state.depth = state.depth - 1 -%}
        {%- endif -%}
        {%- if char == ',' and state.depth == 0 and not state.quoted -%}
            {%- set state.parts = state.parts + [state.current | trim] -%}
            {%- set state.current = '' -%}
        {%- else -%}
            {%- set state.current = state.current ~ char -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(state.parts + [state.current | trim]) }}
{%- endmacro %}


{# A date as Chinese text, e.g. 2026年10月31日 (the detectors' letters). #}
{% macro date_text_zh(expression) -%}
    {{ return(adapter.dispatch('date_text_zh', 'yaocai')(expression)) }}
{%- endmacro %}
{% macro duckdb__date_text_zh(expression) -%}
    strftime({{ expression }}, '%Y年%m月%d日')
{%- endmacro %}
{% macro spark__date_text_zh(expression) -%}
    date_format({{ expression }}, "yyyy'年'MM'月'dd'日'")
{%- endmacro %}


{# ---- Spark only: the project's declared types (model contracts and seed
   column_types, written for DuckDB) in Spark's spelling. Spark refuses
   `varchar` without a length, has no hugeint, and its timestamp is
   DuckDB's timestamptz (DuckDB's timestamp is its timestamp_ntz). These override dbt's own
   dispatched macros on Spark (dbt looks in the root project first); DuckDB
   keeps dbt's defaults. #}
{% macro spark_type(data_type) -%}
    {%- set lowered = data_type | string | trim | lower -%}
    {%- if lowered in ('varchar', 'text') -%} string
    {%- elif lowered == 'hugeint' -%} decimal(38, 0)
    {#- DuckDB's timestamp has no time zone: Spark's timestamp_ntz (what
        Spark reads from the lake's Parquet); Spark's timestamp is UTC-based -#}
    {%- elif lowered == 'timestamp' -%} timestamp_ntz
    {%- else -%} {{ data_type }}
    {%- endif -%}
{%- endmacro %}

{# dbt's cast(): used by the contract check (get_empty_schema_sql). #}
{% macro spark__cast(field, type) -%}
    cast({{ field }} as {{ spark_type(type) }})
{%- endmacro %}

{# dbt-spark's seed table, with the column types translated. #}
{% macro spark__create_csv_table(model, agate_table) %}
  {%- set column_override = model['config'].get('column_types', {}) -%}
  {%- set quote_seed_column = model['config'].get('quote_columns', None) -%}
  {% set sql %}
    create table {{ this.render() }} (
        {%- for col_name in agate_table.column_names -%}
            {%- set type = spark_type(column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
            {{ adapter.quote_seed_column(col_name | string, quote_seed_column) }} {{ type }} {%- if not loop.last -%}, {%- endif -%}
        {%- endfor -%}
    )
    {{ file_format_clause() }}
    {{ comment_clause() }}
  {% endset %}
  {% call statement('_') -%}
    {{ sql }}
  {%- endcall %}
  {{ return(sql) }}
{% endmacro %}

{# dbt-spark's seed rows as literals rather than bindings: its session
   cursor writes a NULL binding as the text None and does not escape
   apostrophes (seeds/monitoring_thresholds.csv has both). #}
{% macro spark__load_csv_rows(model, agate_table) %}
  {% set column_override = model['config'].get('column_types', {}) %}
  {% set statements = [] %}
  {% for chunk in agate_table.rows | batch(get_batch_size()) %}
      {% set sql %}
          insert into {{ this.render() }} values
          {% for row in chunk -%}
              ({%- for col_name in agate_table.column_names -%}
                  {%- set type = spark_type(column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
                  {%- set value = row[loop.index0] -%}
                  {%- if value is none -%} cast(null as {{ type }})
                  {%- else -%} cast('{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}' as {{ type }})
                  {%- endif -%}
                  {%- if not loop.last %}, {% endif -%}
              {%- endfor -%})
              {%- if not loop.last %},{% endif %}
          {% endfor %}
      {% endset %}
      {% do adapter.add_query(sql, abridge_sql_log=True) %}
      {% if loop.index0 == 0 %}{% do statements.append(sql) %}{% endif %}
  {% endfor %}
  {{ return(statements[0]) }}
{% endmacro %}


{# Contracted tables on Spark: every column cast to its declared type, as
   DuckDB does when dbt inserts into the declared table. Spark's own result
   types differ in width (sum of decimal(18, 2) is decimal(28, 2) there,
   decimal(38, 2) on DuckDB), so the contract check on Spark compares the
   cast columns: names and count are enforced, types are made equal. #}
{% macro spark__get_select_subquery(sql) %}
    {%- set columns = model['columns'] -%}
    select
    {%- for name in columns %}
        cast({{ name }} as {{ spark_type(columns[name]['data_type']) }}) as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
    from (
        {{ sql }}
    ) as model_subq
{%- endmacro %}

{% macro spark__get_assert_columns_equivalent(sql) -%}
    {{ return(assert_columns_equivalent(spark__get_select_subquery(sql))) }}
{%- endmacro %}

{# The new rows of an incremental build on Spark go through a temporary view
   (dbt-spark's incremental materialization), which dbt then compares with
   the table (on_schema_change: fail, dbt_project.yml). For a contracted
   model the view casts as the table's creation did above; with the SQL's
   own types dbt would find the schemas "out of sync" (decimal(28, 4)
   against the declared decimal(38, 4)). Without a contract, dbt-spark's own
   view. #}
{% macro spark__create_temporary_view(relation, compiled_code) -%}
    create or replace temporary view {{ relation }} as
    {%- if config.get('contract').enforced %}
      {{ spark__get_select_subquery(compiled_code) }}
    {%- else %}
      {{ compiled_code }}
    {%- endif %}
{%- endmacro %}
