{# Use the folder's schema name as is (staging, intermediate, main) instead of
   dbt's default "<target>_<custom>": the published tables must sit in the
   default schema `main` with the contract's names (data-contract.md §3). #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name else target.schema }}
{%- endmacro %}
