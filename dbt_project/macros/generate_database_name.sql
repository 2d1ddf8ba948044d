{# Working schemas (staging views, intermediate tables, seeds) go to a
   scratch DuckDB file attached as `work` (profiles.yml; in memory for an
   incremental build: yaocai/pipeline.py IN_MEMORY), not to the build
   file that becomes the publication. Dropped at the end of the build, they
   used to leave their blocks in the published file as free space (DuckDB
   does not shrink a file), which every night copied and hashed (1.1 GB of
   5.6 GB at 20 M lines; issue 18). The pipeline passes the list
   (yaocai/pipeline.py WORKING_SCHEMAS) and deletes the scratch file after
   the build. Other engines (Spark) keep dbt's default. #}
{% macro generate_database_name(custom_database_name=none, node=none) -%}
    {%- set working = env_var('YAOCAI_WORKING_SCHEMAS', 'staging,intermediate,seeds').split(',') -%}
    {%- if target.type == 'duckdb' and custom_database_name is none and node is not none
           and node.config.get('schema') in working -%}
        {{ return('work') }}
    {%- endif -%}
    {{ return(adapter.dispatch('generate_database_name', 'dbt')(custom_database_name, node)) }}
{%- endmacro %}
