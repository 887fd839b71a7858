{% macro get_statuses() %}
    {% set status_query %}
        select distinct status from {{ ref("stg_shop__orders") }}
    {% endset %}
    {% set results = run_query(status_query) %}
    {% if execute %}
        {% set statuses = results.columns[0].values() %}
    {% else %}
        {% set statuses = [] %}
    {% endif %}
    {{ return(statuses) }}
{% endmacro %}
