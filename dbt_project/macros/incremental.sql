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

      {{ config(**month_incremental()) }}
      ... from {{ ref('purchase_lines') }} where {{ in_rebuilt_months('month') }}

  (on DuckDB: materialized='incremental', incremental_strategy='append',
  pre_hook="{{ delete_rebuilt_months() }}"; Spark: see month_incremental).
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

{# The rebuilt months as one span of a stored time column, first month's
   start ≤ column < the start of the month after the last: for a month
   that is computed from the column (stg_lake__purchases: the receipt
   time's month), whose own predicate DuckDB can only test row by row.
   Added beside in_rebuilt_months(), it changes no result and lets DuckDB
   skip the lake's row groups of other months by their min/max: a night's
   lines at 20 M came out of the lake in 1.0 s instead of 3.1–4.6 s, and
   the view int_purchase_lines_priced reads them twice. The night's
   purchase_lines at 20 M (an October of 2.1 M lines) took 10.6–11.2 s
   instead of 13.2 s, its dbt build 38.3–42.6 s instead of 43.3–47.6 s
   (issue 18, same lake and night each way). #}
{% macro in_rebuilt_months_span(column, always=false) -%}
    {%- set months = _rebuild_month_literals() -%}
    {%- if months is none or _in_unit_test() or not (always or is_incremental()) -%}
        true
    {%- elif months | length == 0 -%}
        false
    {%- else -%}
        {{ column }} >= cast({{ months | first }} as timestamp)
        and {{ column }} < cast({{ _rebuild_month_literals(following=1) | last }} as timestamp)
    {%- endif -%}
{%- endmacro %}

{# Data tests on a month-incremental table check the rebuilt months only in
   an incremental build: its other rows are the previous publication's,
   which passed the same tests (and tests/test_incremental.py proves the
   incremental tables equal a full rebuild). That holds for the tests these
   tables have: row by row (not_null, accepted_values, accepted_range),
   references to the dimensions (relationships: a change of dimension makes
   yaocai/incremental.py rebuild everything) and unique_combination, whose
   keys are the month's or, for purchase_lines' line key, unique in the lake
   by construction (ingest quarantines a line whose key it already holds).
   Applied to every generic test through get_where_subquery, the way dbt
   applies a test's `where` config (only unique_combination did so before:
   the 20 M night's relationships and accepted_values tests on these tables
   read every month, 5.9 s of node time; issue 18). A new test that
   compares a row with rows of other months (a key without the month on a
   table whose keys are not unique by construction) would need an exception
   here. #}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}{%- do conditions.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- set rebuilt = rebuilt_rows_only(relation) | trim -%}
    {%- if rebuilt != 'true' -%}{%- do conditions.append(rebuilt) -%}{%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

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

{# Config of a month-incremental model, the same on both engines but for
   how the rebuilt months are replaced (issue 17 item 3; docs/scale-out.md,
   "Incremental builds on Spark"):
     {{ config(schema=…, **month_incremental()) }}
   DuckDB: the pre-hook deletes the rebuilt months' rows, then the new rows
   are appended. Spark's Parquet tables have no DELETE: the table is
   partitioned by month, the pre-hook drops the rebuilt months' partitions
   (also those of a month that ends up with no row, which an overwrite
   alone would leave behind) and `insert_overwrite` (dynamic: only the
   partitions written) puts the new rows in. On Spark the partition column
   is the table's last column; the publication is copied by column name
   (yaocai/spark_engine.py), so its column order does not change.
   `target` is known when dbt parses the config, so this is not dispatched. #}
{% macro month_incremental(following=0) -%}
    {%- set hook = '{{ delete_rebuilt_months(following=%d) }}' | format(following) if following
        else '{{ delete_rebuilt_months() }}' -%}
    {%- if target.type == 'spark' -%}
        {{ return({'materialized': 'incremental', 'incremental_strategy': 'insert_overwrite',
                   'partition_by': ['month'], 'pre_hook': hook}) }}
    {%- endif -%}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'append', 'pre_hook': hook}) }}
{%- endmacro %}

{# Pre-hook of a month-incremental model: remove the rows about to be rebuilt. #}
{% macro delete_rebuilt_months(column='month', following=0) -%}
    {{ return(adapter.dispatch('delete_rebuilt_months', 'yaocai')(column, following)) }}
{%- endmacro %}
{% macro duckdb__delete_rebuilt_months(column, following) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ in_rebuilt_months(column, following) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
{# Spark: drop the months' partitions (a catalogue operation: their files go,
   no row is rewritten); without the var, every row, as DuckDB's `where true`
   (yaocai/spark_engine.py passes --full-refresh to full builds, so this is
   for a build run by hand); nothing on a first build or with no months. #}
{% macro spark__delete_rebuilt_months(column, following) -%}
    {%- if is_incremental() -%}
        {%- set literals = _rebuild_month_literals(0, following) -%}
        {%- if literals is none -%}
            truncate table {{ this }}
        {%- elif literals -%}
            alter table {{ this }} drop if exists
            {%- for literal in literals %} partition ({{ column }} = {{ literal }}){{ ',' if not loop.last }}{% endfor %}
        {%- endif -%}
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

{# The previous version of a table model that reads its months back (see
   previous_version_usable): {{ this }} on DuckDB, which builds the new table
   beside the old one and swaps them. dbt-spark drops a Parquet table before
   creating its new version, so on Spark the pre-hook keep_previous_version()
   copies it to NAME__previous first (the table is one row per institution ×
   month or per institution × month × group: small beside the lines) and the
   post-hook drop_previous_version() removes the copy. Config of such a model:
     pre_hook="{{ keep_previous_version() }}", post_hook="{{ drop_previous_version() }}"
   (hooks that render empty, as on DuckDB, are not run). #}
{% macro previous_version() -%}
    {{ return(adapter.dispatch('previous_version', 'yaocai')()) }}
{%- endmacro %}
{% macro duckdb__previous_version() -%}
    {{ return(this) }}
{%- endmacro %}
{% macro spark__previous_version() -%}
    {{ return(this.incorporate(path={'identifier': this.identifier ~ '__previous'})) }}
{%- endmacro %}

{% macro keep_previous_version() -%}
    {{ return(adapter.dispatch('keep_previous_version', 'yaocai')()) }}
{%- endmacro %}
{% macro duckdb__keep_previous_version() -%}{%- endmacro %}
{% macro spark__keep_previous_version() -%}
    {%- if previous_version_usable() -%}
        {%- do run_query('drop table if exists ' ~ previous_version()) -%}
        create table {{ previous_version() }} using parquet as select * from {{ this }}
    {%- endif -%}
{%- endmacro %}

{% macro drop_previous_version() -%}
    {{ return(adapter.dispatch('drop_previous_version', 'yaocai')()) }}
{%- endmacro %}
{% macro duckdb__drop_previous_version() -%}{%- endmacro %}
{% macro spark__drop_previous_version() -%}
    drop table if exists {{ previous_version() }}
{%- endmacro %}
